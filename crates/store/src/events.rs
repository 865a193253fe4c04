//! Event lines of app logs, pushes and settings: the small append-only tables.

use std::cell::RefCell;

use deis_domain::timefmt::{from_micros, now, to_micros};
use deis_domain::{Event, Push};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{Array, BigInt, Text};

use crate::conn::DbConn;
use crate::rows::{EventRow, PushRow};
use crate::schema::{events, pushes, settings};

thread_local! {
    /// Events inserted by the store call running on this thread, announced once it succeeded
    /// (see `DieselStore::with_conn`): a rolled-back insert is never announced.
    static INSERTED: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Takes the events inserted on this thread since the last take.
pub(crate) fn take_inserted() -> Vec<Event> {
    INSERTED.with(|inserted| std::mem::take(&mut *inserted.borrow_mut()))
}

/// Appends `messages` to the log of `app`, all stamped now. On PostgreSQL several lines go in
/// one statement (one round trip), in order.
pub(crate) fn append(conn: &mut DbConn, app: &str, messages: &[String]) -> QueryResult<()> {
    let at = to_micros(now());
    if let DbConn::Pg(c) = conn
        && messages.len() > 1
    {
        diesel::sql_query(
            "INSERT INTO events (app, at, message) SELECT $1, $2, m \
             FROM unnest($3::text[]) WITH ORDINALITY AS lines(m, i) ORDER BY i",
        )
        .bind::<Text, _>(app)
        .bind::<BigInt, _>(at)
        .bind::<Array<Text>, _>(messages)
        .execute(c)?;
    } else {
        for message in messages {
            let row = EventRow {
                app: app.to_owned(),
                at,
                message: message.clone(),
            };
            diesel::insert_into(events::table)
                .values(row)
                .execute(conn)?;
        }
    }
    INSERTED.with(|inserted| {
        inserted
            .borrow_mut()
            .extend(messages.iter().map(|message| Event {
                app: app.to_owned(),
                at: from_micros(at),
                message: message.clone(),
            }));
    });
    Ok(())
}

/// The last `limit` events of `app`, oldest first.
pub(crate) fn last(conn: &mut DbConn, app: &str, limit: u64) -> QueryResult<Vec<Event>> {
    let mut rows = events::table
        .filter(events::app.eq(app))
        .order(events::seq.desc())
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(EventRow::as_select())
        .load(conn)?;
    rows.reverse();
    Ok(rows.into_iter().map(Event::from).collect())
}

/// Stores a push record.
pub(crate) fn add_push(conn: &mut DbConn, push: &Push) -> QueryResult<()> {
    diesel::insert_into(pushes::table)
        .values(PushRow::from(push))
        .execute(conn)?;
    Ok(())
}

/// Stores `value` under `name` unless a value is there already; returns the stored value.
/// Atomic without a transaction: the primary key lets exactly one insert win.
pub(crate) fn setting_or_insert(conn: &mut DbConn, name: &str, value: &str) -> QueryResult<String> {
    let inserted = diesel::insert_into(settings::table)
        .values((settings::name.eq(name), settings::value.eq(value)))
        .execute(conn);
    match inserted {
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e),
    }
    settings::table
        .find(name)
        .select(settings::value)
        .first(conn)
}
