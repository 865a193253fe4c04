//! Accounts.

use deis_domain::timefmt::{now, to_micros};
use deis_domain::{NewUser, Page, PageSel, User};
use diesel::dsl::exists;
use diesel::prelude::*;

use crate::conn::{DbConn, lock_users, write_tx};
use crate::error::{Fail, found};
use crate::page::{LIMIT, Window};
use crate::rows::{NewUserRow, UserRow};
use crate::schema::{apps, grants, keys, users};

/// Registers a user; superuser when no active superuser exists yet. The write lock is taken
/// before the check, so two first registrations cannot both become superuser.
pub(crate) fn create(conn: &mut DbConn, new: NewUser) -> Result<User, Fail> {
    write_tx(conn, |conn| {
        lock_users(conn)?;
        let admin_exists: bool = diesel::select(exists(
            users::table
                .filter(users::is_superuser.eq(true))
                .filter(users::is_active.eq(true)),
        ))
        .get_result(conn)?;
        let joined = to_micros(now());
        let row = NewUserRow {
            username: new.username,
            password_hash: new.password_hash,
            email: new.email,
            first_name: new.first_name,
            last_name: new.last_name,
            is_superuser: !admin_exists,
            is_active: true,
            last_login: Some(joined),
            date_joined: joined,
            token_generation: 0,
        };
        diesel::insert_into(users::table)
            .values(&row)
            .execute(conn)?;
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

/// Sets or clears the administrator flag.
pub(crate) fn set_superuser(conn: &mut DbConn, username: &str, on: bool) -> QueryResult<()> {
    let changed = diesel::update(users::table.filter(users::username.eq(username)))
        .set(users::is_superuser.eq(on))
        .execute(conn)?;
    found(changed)
}

/// Active superusers by registration.
pub(crate) fn admins(conn: &mut DbConn, sel: PageSel) -> Result<Page<User>, Fail> {
    let admins = || {
        users::table
            .filter(users::is_superuser.eq(true))
            .filter(users::is_active.eq(true))
    };
    let window = Window::locate(admins().count().get_result(conn)?, sel)?;
    let rows = admins()
        .order(users::id)
        .limit(LIMIT)
        .offset(window.offset)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok(window.page(rows.into_iter().map(User::from).collect()))
}

/// Deletes the user with their apps (and, by cascade, everything of those apps), their keys
/// and their grants on other apps. Returns the ids of the deleted apps, in creation order.
pub(crate) fn delete(conn: &mut DbConn, id: i64) -> Result<Vec<String>, Fail> {
    write_tx(conn, |conn| {
        let username: String = users::table.find(id).select(users::username).first(conn)?;
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
