//! Accounts.

use deis_domain::timefmt::{now, to_micros};
use deis_domain::{NewUser, Page, PageSel, StoreError, User};
use diesel::dsl::exists;
use diesel::prelude::*;

use crate::conn::{DbConn, lock_users, write_tx};
use crate::error::{Fail, found};
use crate::page::Window;
use crate::rows::{NewUserRow, UserRow};
use crate::schema::{apps, certs, grants, keys, settings, users};

/// The setting that records that an administrator has existed: from then on registration
/// never makes anyone administrator on its own.
const ADMIN_EXISTED: &str = "admin_existed";

fn admin_existed(conn: &mut DbConn) -> QueryResult<bool> {
    diesel::select(exists(
        settings::table.filter(settings::name.eq(ADMIN_EXISTED)),
    ))
    .get_result(conn)
}

/// Records that an administrator exists; the caller holds the users lock ([`lock_users`]).
fn mark_admin_existed(conn: &mut DbConn) -> QueryResult<()> {
    if !admin_existed(conn)? {
        diesel::insert_into(settings::table)
            .values((settings::name.eq(ADMIN_EXISTED), settings::value.eq("true")))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether `username` is the only active administrator.
fn last_active_admin(conn: &mut DbConn, username: &str) -> QueryResult<bool> {
    let active_admin = |conn: &mut DbConn, name: &str| {
        diesel::select(exists(
            users::table
                .filter(users::username.eq(name.to_owned()))
                .filter(users::is_superuser.eq(true))
                .filter(users::is_active.eq(true)),
        ))
        .get_result::<bool>(conn)
    };
    if !active_admin(conn, username)? {
        return Ok(false);
    }
    let others = diesel::select(exists(
        users::table
            .filter(users::username.ne(username.to_owned()))
            .filter(users::is_superuser.eq(true))
            .filter(users::is_active.eq(true)),
    ))
    .get_result::<bool>(conn)?;
    Ok(!others)
}

/// The refusal to leave the platform without an active administrator.
fn last_admin() -> Fail {
    Fail::Store(StoreError::Conflict("is_superuser".into()))
}

/// Registers a user: administrator when no administrator has ever existed. With
/// `first_admin_only`, refuses (`Conflict("is_superuser")`) unless this user becomes the first
/// administrator. The users lock is taken before the check, so two first registrations cannot
/// both become administrator.
pub(crate) fn create(
    conn: &mut DbConn,
    new: NewUser,
    first_admin_only: bool,
) -> Result<User, Fail> {
    write_tx(conn, |conn| {
        lock_users(conn)?;
        let first = !admin_existed(conn)?;
        if first_admin_only && !first {
            return Err(last_admin());
        }
        let joined = to_micros(now());
        let row = NewUserRow {
            username: new.username,
            password_hash: new.password_hash,
            email: new.email,
            first_name: new.first_name,
            last_name: new.last_name,
            is_superuser: first,
            is_active: true,
            last_login: Some(joined),
            date_joined: joined,
            token_generation: 0,
        };
        diesel::insert_into(users::table)
            .values(&row)
            .execute(conn)?;
        if first {
            mark_admin_existed(conn)?;
        }
        Ok(by_name(conn, &row.username)?)
    })
}

/// One user by id.
pub(crate) fn by_id(conn: &mut DbConn, id: i64) -> QueryResult<User> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .map(User::from)
}

/// One user by name.
pub(crate) fn by_name(conn: &mut DbConn, username: &str) -> QueryResult<User> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .map(User::from)
}

/// Stores a new hash and bumps the token generation, so earlier tokens stop working.
pub(crate) fn set_password(conn: &mut DbConn, id: i64, hash: &str) -> Result<User, Fail> {
    write_tx(conn, |conn| {
        let changed = diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::token_generation.eq(users::token_generation + 1),
            ))
            .execute(conn)?;
        found(changed)?;
        Ok(by_id(conn, id)?)
    })
}

/// Sets `last_login` to now.
pub(crate) fn touch_login(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    let changed = diesel::update(users::table.find(id))
        .set(users::last_login.eq(Some(to_micros(now()))))
        .execute(conn)?;
    found(changed)
}

/// Sets or clears the administrator flag; the last active administrator keeps it.
pub(crate) fn set_superuser(conn: &mut DbConn, username: &str, on: bool) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        lock_users(conn)?;
        if !on && last_active_admin(conn, username)? {
            return Err(last_admin());
        }
        let changed = diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::is_superuser.eq(on))
            .execute(conn)?;
        found(changed)?;
        if on {
            mark_admin_existed(conn)?;
        }
        Ok(())
    })
}

/// Active superusers by registration.
pub(crate) fn admins(conn: &mut DbConn, sel: PageSel) -> Result<Page<User>, Fail> {
    let admins = || {
        users::table
            .filter(users::is_superuser.eq(true))
            .filter(users::is_active.eq(true))
    };
    let window = Window::locate(admins().count().get_result(conn)?, sel)?;
    let query = admins().into_boxed();
    let query = if window.backwards {
        query.order(users::id.desc())
    } else {
        query.order(users::id)
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok(window.page(rows.into_iter().map(User::from).collect()))
}

/// Deletes the user with their apps (and, by cascade, everything of those apps), their keys
/// and their grants on other apps. Returns the ids of the deleted apps, in creation order.
/// The last active administrator cannot be deleted.
pub(crate) fn delete(conn: &mut DbConn, id: i64) -> Result<Vec<String>, Fail> {
    write_tx(conn, |conn| {
        lock_users(conn)?;
        let username: String = users::table.find(id).select(users::username).first(conn)?;
        if last_active_admin(conn, &username)? {
            return Err(last_admin());
        }
        let owned: Vec<String> = apps::table
            .filter(apps::owner.eq(&username))
            .order(apps::seq)
            .select(apps::id)
            .load(conn)?;
        diesel::delete(apps::table.filter(apps::owner.eq(&username))).execute(conn)?;
        diesel::delete(keys::table.filter(keys::owner.eq(&username))).execute(conn)?;
        diesel::delete(grants::table.filter(grants::username.eq(&username))).execute(conn)?;
        diesel::delete(users::table.find(id)).execute(conn)?;
        Ok(owned)
    })
}

/// Deletes the user unless they own an app (`Conflict("apps")`, checked in the transaction)
/// or are the last active administrator (`Conflict("is_superuser")`), with their keys, grants
/// and certificates.
pub(crate) fn delete_without_apps(conn: &mut DbConn, id: i64) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        lock_users(conn)?;
        let username: String = users::table.find(id).select(users::username).first(conn)?;
        if last_active_admin(conn, &username)? {
            return Err(last_admin());
        }
        let owns_apps: bool = diesel::select(exists(apps::table.filter(apps::owner.eq(&username))))
            .get_result(conn)?;
        if owns_apps {
            return Err(StoreError::Conflict("apps".to_owned()).into());
        }
        diesel::delete(keys::table.filter(keys::owner.eq(&username))).execute(conn)?;
        diesel::delete(grants::table.filter(grants::username.eq(&username))).execute(conn)?;
        diesel::delete(certs::table.filter(certs::owner.eq(&username))).execute(conn)?;
        diesel::delete(users::table.find(id)).execute(conn)?;
        Ok(())
    })
}

/// Every user by registration.
pub(crate) fn list(conn: &mut DbConn, sel: PageSel) -> Result<Page<User>, Fail> {
    let window = Window::locate(users::table.count().get_result(conn)?, sel)?;
    let query = users::table.into_boxed();
    let query = if window.backwards {
        query.order(users::id.desc())
    } else {
        query.order(users::id)
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok(window.page(rows.into_iter().map(User::from).collect()))
}

/// Bumps the user's token generation, so their earlier tokens stop working.
pub(crate) fn bump_generation(conn: &mut DbConn, id: i64) -> Result<User, Fail> {
    write_tx(conn, |conn| {
        let changed = diesel::update(users::table.find(id))
            .set(users::token_generation.eq(users::token_generation + 1))
            .execute(conn)?;
        found(changed)?;
        Ok(by_id(conn, id)?)
    })
}

/// Bumps every user's token generation.
pub(crate) fn bump_all_generations(conn: &mut DbConn) -> QueryResult<()> {
    diesel::update(users::table)
        .set(users::token_generation.eq(users::token_generation + 1))
        .execute(conn)?;
    Ok(())
}
