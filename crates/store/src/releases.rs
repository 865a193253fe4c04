//! Releases with their configs and builds, and the atomic release step and its undo.

use deis_domain::timefmt::{now, to_micros};
use deis_domain::{Build, Config, NewRelease, Page, PageSel, Release, StoreError};
use diesel::dsl::max;
use diesel::prelude::*;
use uuid::Uuid;

use crate::conn::{DbConn, write_tx};
use crate::containers::{delete_containers, insert_containers};
use crate::error::{Fail, found};
use crate::events;
use crate::page::Window;
use crate::rows::{BuildRow, ConfigRow, ReleaseRow};
use crate::schema::{apps, builds, configs, releases};

/// The release of `app` with the highest version.
pub(crate) fn latest(conn: &mut DbConn, app: &str) -> QueryResult<Release> {
    releases::table
        .filter(releases::app.eq(app))
        .order(releases::version.desc())
        .select(ReleaseRow::as_select())
        .first(conn)?
        .try_into()
}

/// One release of `app` by version.
pub(crate) fn get(conn: &mut DbConn, app: &str, version: i64) -> QueryResult<Release> {
    releases::table
        .filter(releases::app.eq(app))
        .filter(releases::version.eq(version))
        .select(ReleaseRow::as_select())
        .first(conn)?
        .try_into()
}

/// One page of the releases of `app`, newest first.
pub(crate) fn list(conn: &mut DbConn, app: &str, sel: PageSel) -> Result<Page<Release>, Fail> {
    let of_app = || releases::table.filter(releases::app.eq(app));
    let window = Window::locate(of_app().count().get_result(conn)?, sel)?;
    let query = of_app().into_boxed();
    let query = if window.backwards {
        query.order(releases::version.asc())
    } else {
        query.order(releases::version.desc())
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(ReleaseRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(Release::try_from)
        .collect::<QueryResult<_>>()?;
    Ok(window.page(items))
}

/// One config by uuid.
pub(crate) fn config(conn: &mut DbConn, uuid: Uuid) -> QueryResult<Config> {
    configs::table
        .filter(configs::uuid.eq(uuid.to_string()))
        .select(ConfigRow::as_select())
        .first(conn)?
        .try_into()
}

/// One build of `app` by uuid.
pub(crate) fn build(conn: &mut DbConn, app: &str, uuid: Uuid) -> QueryResult<Build> {
    builds::table
        .filter(builds::app.eq(app))
        .filter(builds::uuid.eq(uuid.to_string()))
        .select(BuildRow::as_select())
        .first(conn)?
        .try_into()
}

/// One page of the builds of `app`, newest first.
pub(crate) fn builds(conn: &mut DbConn, app: &str, sel: PageSel) -> Result<Page<Build>, Fail> {
    let of_app = || builds::table.filter(builds::app.eq(app));
    let window = Window::locate(of_app().count().get_result(conn)?, sel)?;
    let query = of_app().into_boxed();
    let query = if window.backwards {
        query.order(builds::seq.asc())
    } else {
        query.order(builds::seq.desc())
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(BuildRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(Build::try_from)
        .collect::<QueryResult<_>>()?;
    Ok(window.page(items))
}

/// Marks the app changed now.
fn touch_app(conn: &mut DbConn, app: &str) -> QueryResult<usize> {
    diesel::update(apps::table.filter(apps::id.eq(app)))
        .set(apps::updated.eq(to_micros(now())))
        .execute(conn)
}

/// Inserts the release with its new config and build, swaps the containers and logs the
/// events, in one transaction. A version other than the latest + 1 is `Conflict("version")`
/// (the unique index on (app, version) catches what races past the check).
pub(crate) fn commit(conn: &mut DbConn, step: &NewRelease) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        // Marking the app changed comes first: it finds a missing app, and on PostgreSQL the
        // row lock it takes queues concurrent steps of the same app behind this one.
        found(touch_app(conn, &step.release.app)?)?;
        let latest: Option<i64> = releases::table
            .filter(releases::app.eq(&step.release.app))
            .select(max(releases::version))
            .first(conn)?;
        if step.release.version != latest.unwrap_or(0) + 1 {
            return Err(StoreError::Conflict("version".to_owned()).into());
        }
        if let Some(config) = &step.config {
            diesel::insert_into(configs::table)
                .values(ConfigRow::try_from(config)?)
                .execute(conn)?;
        }
        if let Some(build) = &step.build {
            diesel::insert_into(builds::table)
                .values(BuildRow::try_from(build)?)
                .execute(conn)?;
        }
        diesel::insert_into(releases::table)
            .values(ReleaseRow::from(&step.release))
            .execute(conn)?;
        delete_containers(conn, &step.retire)?;
        insert_containers(conn, &step.containers)?;
        events::append(conn, &step.release.app, &step.events)?;
        Ok(())
    })
}

/// Undoes [`commit`]: the release's containers, the release and its new config and build go,
/// the retired containers come back as they were. The event lines stay: the log keeps what
/// happened. `NotFound("release")` when the release is not stored.
pub(crate) fn withdraw(conn: &mut DbConn, step: &NewRelease) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        delete_containers(conn, &step.containers)?;
        let release = step.release.uuid.to_string();
        let removed =
            diesel::delete(releases::table.filter(releases::uuid.eq(release))).execute(conn)?;
        if removed == 0 {
            return Err(StoreError::NotFound("release").into());
        }
        if let Some(config) = &step.config {
            let uuid = config.uuid.to_string();
            diesel::delete(configs::table.filter(configs::uuid.eq(uuid))).execute(conn)?;
        }
        if let Some(build) = &step.build {
            let uuid = build.uuid.to_string();
            diesel::delete(builds::table.filter(builds::uuid.eq(uuid))).execute(conn)?;
        }
        insert_containers(conn, &step.retire)?;
        Ok(())
    })
}
