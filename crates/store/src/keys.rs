//! SSH keys of users.

use deis_domain::{Key, Page, PageSel, StoreError};
use diesel::dsl::exists;
use diesel::prelude::*;

use crate::conn::{DbConn, write_tx};
use crate::error::{Fail, found};
use crate::page::Window;
use crate::rows::KeyRow;
use crate::schema::keys;

/// Adds a key: `Conflict("id")` when the owner has a key of that name, `Conflict("public")`
/// when any user has that public key (checked in this order; the unique indexes back it up).
pub(crate) fn add(conn: &mut DbConn, key: &Key) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        let named = keys::table
            .filter(keys::owner.eq(&key.owner))
            .filter(keys::key_id.eq(&key.id));
        if diesel::select(exists(named)).get_result(conn)? {
            return Err(StoreError::Conflict("id".to_owned()).into());
        }
        let same_public = keys::table.filter(keys::public_key.eq(&key.public));
        if diesel::select(exists(same_public)).get_result(conn)? {
            return Err(StoreError::Conflict("public".to_owned()).into());
        }
        diesel::insert_into(keys::table)
            .values(KeyRow::from(key))
            .execute(conn)?;
        Ok(())
    })
}

/// One page of the keys of `owner`, in creation order.
pub(crate) fn list(conn: &mut DbConn, owner: &str, sel: PageSel) -> Result<Page<Key>, Fail> {
    let of_owner = || keys::table.filter(keys::owner.eq(owner));
    let window = Window::locate(of_owner().count().get_result(conn)?, sel)?;
    let query = of_owner().into_boxed();
    let query = if window.backwards {
        query.order(keys::seq.desc())
    } else {
        query.order(keys::seq)
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(KeyRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(Key::try_from)
        .collect::<QueryResult<_>>()?;
    Ok(window.page(items))
}

/// One key of `owner`.
pub(crate) fn get(conn: &mut DbConn, owner: &str, id: &str) -> QueryResult<Key> {
    keys::table
        .filter(keys::owner.eq(owner))
        .filter(keys::key_id.eq(id))
        .select(KeyRow::as_select())
        .first(conn)?
        .try_into()
}

/// Removes one key of `owner`.
pub(crate) fn remove(conn: &mut DbConn, owner: &str, id: &str) -> QueryResult<()> {
    let removed = diesel::delete(
        keys::table
            .filter(keys::owner.eq(owner))
            .filter(keys::key_id.eq(id)),
    )
    .execute(conn)?;
    found(removed)
}

/// The key whose line's second field is `data` (base64 holds no `LIKE` wildcard, and the exact
/// field is compared after the match).
pub(crate) fn by_data(conn: &mut DbConn, data: &str) -> QueryResult<Key> {
    if data.is_empty()
        || !data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return Err(diesel::result::Error::NotFound);
    }
    let rows = keys::table
        .filter(keys::public_key.like(format!("% {data}%")))
        .order(keys::seq)
        .select(KeyRow::as_select())
        .load(conn)?;
    for row in rows {
        let key = Key::try_from(row)?;
        if key.public.split_whitespace().nth(1) == Some(data) {
            return Ok(key);
        }
    }
    Err(diesel::result::Error::NotFound)
}
