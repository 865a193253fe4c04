//! Apps and their collaborator grants.

use deis_domain::store::AppScope;
use deis_domain::timefmt::{now, to_micros};
use deis_domain::{App, Config, Page, PageSel, Release, StoreError};
use diesel::dsl::exists;
use diesel::prelude::*;

use crate::conn::{Db, DbConn, write_tx};
use crate::error::{Fail, found};
use crate::events;
use crate::page::Window;
use crate::rows::{AppRow, ConfigRow, ReleaseRow};
use crate::schema::{apps, configs, containers, grants, releases, users};

/// Inserts the app, its first config and release v1, and the event lines.
pub(crate) fn create(
    conn: &mut DbConn,
    app: &App,
    config: &Config,
    release: &Release,
    messages: &[String],
) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        diesel::insert_into(apps::table)
            .values(AppRow::try_from(app)?)
            .execute(conn)?;
        diesel::insert_into(configs::table)
            .values(ConfigRow::try_from(config)?)
            .execute(conn)?;
        diesel::insert_into(releases::table)
            .values(ReleaseRow::from(release))
            .execute(conn)?;
        events::append(conn, &app.id, messages)?;
        Ok(())
    })
}

/// One app by id.
pub(crate) fn get(conn: &mut DbConn, id: &str) -> QueryResult<App> {
    apps::table
        .filter(apps::id.eq(id))
        .select(AppRow::as_select())
        .first(conn)?
        .try_into()
}

/// How many apps `owner` owns.
pub(crate) fn count_owned(conn: &mut DbConn, owner: &str) -> QueryResult<u64> {
    let n: i64 = apps::table
        .filter(apps::owner.eq(owner))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The apps `scope` shows.
fn scoped(scope: &AppScope) -> apps::BoxedQuery<'static, Db> {
    match scope {
        AppScope::All => apps::table.into_boxed(),
        AppScope::VisibleTo(user) => {
            let shared = grants::table
                .filter(grants::username.eq(user.clone()))
                .select(grants::app);
            apps::table
                .filter(apps::owner.eq(user.clone()).or(apps::id.eq_any(shared)))
                .into_boxed()
        }
    }
}

/// How many apps `scope` shows, from the indexes on owners and grants: one statement, two
/// index ranges (a user's own apps, and the apps shared with them that they do not own).
fn count(conn: &mut DbConn, scope: &AppScope) -> QueryResult<i64> {
    match scope {
        AppScope::All => apps::table.count().get_result(conn),
        AppScope::VisibleTo(user) => {
            let owned = apps::table
                .filter(apps::owner.eq(user))
                .count()
                .single_value();
            let shared = grants::table
                .inner_join(apps::table.on(apps::id.eq(grants::app)))
                .filter(grants::username.eq(user))
                .filter(apps::owner.ne(user))
                .count()
                .single_value();
            let (owned, shared): (Option<i64>, Option<i64>) =
                diesel::select((owned, shared)).get_result(conn)?;
            Ok(owned.unwrap_or(0) + shared.unwrap_or(0))
        }
    }
}

/// One page of the apps `scope` shows, in creation order.
pub(crate) fn list(conn: &mut DbConn, scope: &AppScope, sel: PageSel) -> Result<Page<App>, Fail> {
    let window = Window::locate(count(conn, scope)?, sel)?;
    let query = scoped(scope);
    let query = if window.backwards {
        query.order(apps::seq.desc())
    } else {
        query.order(apps::seq)
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(AppRow::as_select())
        .load(conn)?;
    let apps = rows
        .into_iter()
        .map(App::try_from)
        .collect::<QueryResult<_>>()?;
    Ok(window.page(apps))
}

/// Every app id, in creation order.
pub(crate) fn all_ids(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    apps::table.order(apps::seq).select(apps::id).load(conn)
}

/// Deletes the app; foreign keys take its builds, configs, releases, containers, domains,
/// pushes, grants and events with it.
pub(crate) fn delete(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    found(diesel::delete(apps::table.filter(apps::id.eq(id))).execute(conn)?)
}

/// Makes `owner` the owner of the app, its configs and its containers, and logs `event`;
/// `NotFound("user")` for an unknown user.
pub(crate) fn transfer(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    event: String,
) -> Result<App, Fail> {
    write_tx(conn, |conn| {
        let known: bool = diesel::select(exists(users::table.filter(users::username.eq(owner))))
            .get_result(conn)?;
        if !known {
            return Err(StoreError::NotFound("user").into());
        }
        let changed = diesel::update(apps::table.filter(apps::id.eq(id)))
            .set((apps::owner.eq(owner), apps::updated.eq(to_micros(now()))))
            .execute(conn)?;
        found(changed)?;
        diesel::update(configs::table.filter(configs::app.eq(id)))
            .set(configs::owner.eq(owner))
            .execute(conn)?;
        diesel::update(containers::table.filter(containers::app.eq(id)))
            .set(containers::owner.eq(owner))
            .execute(conn)?;
        events::append(conn, id, &[event])?;
        Ok(get(conn, id)?)
    })
}

/// Whether `username` holds a grant on `app`.
pub(crate) fn is_collaborator(conn: &mut DbConn, app: &str, username: &str) -> QueryResult<bool> {
    let grant = grants::table
        .filter(grants::app.eq(app))
        .filter(grants::username.eq(username));
    diesel::select(exists(grant)).get_result(conn)
}

/// Grants `username` access to `app` unless it has it already, and logs `message`.
pub(crate) fn grant(
    conn: &mut DbConn,
    app: &str,
    username: &str,
    message: String,
) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        if !is_collaborator(conn, app, username)? {
            diesel::insert_into(grants::table)
                .values((grants::app.eq(app), grants::username.eq(username)))
                .execute(conn)?;
        }
        events::append(conn, app, &[message])?;
        Ok(())
    })
}

/// Revokes the grant and logs `message`; `NotFound("grant")` when there was none.
pub(crate) fn revoke(
    conn: &mut DbConn,
    app: &str,
    username: &str,
    message: String,
) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        let revoked = diesel::delete(
            grants::table
                .filter(grants::app.eq(app))
                .filter(grants::username.eq(username)),
        )
        .execute(conn)?;
        if revoked == 0 {
            return Err(StoreError::NotFound("grant").into());
        }
        events::append(conn, app, &[message])?;
        Ok(())
    })
}

/// Usernames holding a grant on `app`, in grant order.
pub(crate) fn collaborators(conn: &mut DbConn, app: &str) -> QueryResult<Vec<String>> {
    grants::table
        .filter(grants::app.eq(app))
        .order(grants::seq)
        .select(grants::username)
        .load(conn)
}
