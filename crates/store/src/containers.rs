//! Containers: listings, scale steps and observed states.

use deis_domain::timefmt::{now, to_micros};
use deis_domain::{Container, ContainerState, Page, PageSel, Structure};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::conn::{Db, DbConn, write_tx};
use crate::error::{Fail, found};
use crate::events;
use crate::page::Window;
use crate::rows::ContainerRow;
use crate::schema::{apps, containers};

/// The type `run` of one-off containers, left out of listings that name no type.
const ONE_OFF: &str = "run";

fn of_type<'a>(app: &'a str, proc_type: Option<&'a str>) -> containers::BoxedQuery<'a, Db> {
    let of_app = containers::table
        .filter(containers::app.eq(app))
        .into_boxed();
    match proc_type {
        None => of_app.filter(containers::proc_type.ne(ONE_OFF)),
        Some(t) => of_app.filter(containers::proc_type.eq(t)),
    }
}

fn convert(rows: Vec<ContainerRow>) -> QueryResult<Vec<Container>> {
    rows.into_iter().map(Container::try_from).collect()
}

/// One page of containers of `app`, oldest first: every type but `run`, or exactly `proc_type`.
pub(crate) fn list(
    conn: &mut DbConn,
    app: &str,
    proc_type: Option<&str>,
    sel: PageSel,
) -> Result<Page<Container>, Fail> {
    let window = Window::locate(of_type(app, proc_type).count().get_result(conn)?, sel)?;
    let query = of_type(app, proc_type);
    let query = if window.backwards {
        query.order((containers::created.desc(), containers::seq.desc()))
    } else {
        query.order((containers::created, containers::seq))
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(ContainerRow::as_select())
        .load(conn)?;
    Ok(window.page(convert(rows)?))
}

/// Every container of `app`, oldest first. Ordered by creation time, then insertion, so that
/// containers put back by a withdrawn release keep their place.
pub(crate) fn all(conn: &mut DbConn, app: &str) -> QueryResult<Vec<Container>> {
    let rows = containers::table
        .filter(containers::app.eq(app))
        .order((containers::created, containers::seq))
        .select(ContainerRow::as_select())
        .load(conn)?;
    convert(rows)
}

/// Containers of the platform: every long-running one, and the one-off runs marked up that
/// were created after `runs_since`.
pub(crate) fn count(conn: &mut DbConn, runs_since: OffsetDateTime) -> QueryResult<u64> {
    let n: i64 = containers::table
        .filter(
            containers::proc_type.ne(ONE_OFF).or(containers::state
                .eq(ContainerState::Up.as_str())
                .and(containers::created.gt(to_micros(runs_since)))),
        )
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Stores the new structure, adds and removes containers and logs the event, atomically.
pub(crate) fn scale(
    conn: &mut DbConn,
    app: &str,
    structure: &Structure,
    add: &[Container],
    remove: &[Container],
    event: Option<String>,
) -> Result<(), Fail> {
    let structure = serde_json::to_string(structure)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    write_tx(conn, |conn| {
        let changed = diesel::update(apps::table.filter(apps::id.eq(app)))
            .set((
                apps::structure.eq(structure),
                apps::updated.eq(to_micros(now())),
            ))
            .execute(conn)?;
        found(changed)?;
        delete_containers(conn, remove)?;
        insert_containers(conn, add)?;
        events::append(conn, app, event.as_slice())?;
        Ok(())
    })
}

/// Stores observed states; containers that no longer exist are skipped.
pub(crate) fn set_states(conn: &mut DbConn, states: &[(Uuid, ContainerState)]) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        let at = to_micros(now());
        for (uuid, state) in states {
            diesel::update(containers::table.filter(containers::uuid.eq(uuid.to_string())))
                .set((
                    containers::state.eq(state.as_str()),
                    containers::updated.eq(at),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Deletes containers by uuid.
pub(crate) fn delete_containers(conn: &mut DbConn, gone: &[Container]) -> QueryResult<()> {
    if gone.is_empty() {
        return Ok(());
    }
    let uuids: Vec<String> = gone.iter().map(|c| c.uuid.to_string()).collect();
    diesel::delete(containers::table.filter(containers::uuid.eq_any(uuids))).execute(conn)?;
    Ok(())
}

/// Inserts container rows as they are (uuid, state and times included), one statement each:
/// multi-row inserts are not in the subset both backends share through diesel.
pub(crate) fn insert_containers(conn: &mut DbConn, new: &[Container]) -> QueryResult<()> {
    for container in new {
        diesel::insert_into(containers::table)
            .values(ContainerRow::from(container))
            .execute(conn)?;
    }
    Ok(())
}
