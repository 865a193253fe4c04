//! Throttled failures: per key, the counts of the current and of the previous window.

use deis_domain::Failures;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::conn::{DbConn, write_tx};
use crate::error::Fail;
use crate::schema::throttle;

/// What a key's row says about window `window`: its own count moves to "previous" once the
/// next window began, and a row older than that (or from a longer window setting) says nothing.
fn counts_at(row: Option<(i64, i64, i64)>, window: i64) -> Failures {
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    match row {
        Some((number, current, previous)) if number == window => Failures {
            previous: count(previous),
            current: count(current),
        },
        Some((number, current, _)) if number == window - 1 => Failures {
            previous: count(current),
            current: 0,
        },
        _ => Failures::default(),
    }
}

fn row(conn: &mut DbConn, key: &str) -> QueryResult<Option<(i64, i64, i64)>> {
    throttle::table
        .filter(throttle::throttle_key.eq(key))
        .select((
            throttle::window_number,
            throttle::current_failures,
            throttle::previous_failures,
        ))
        .first(conn)
        .optional()
}

/// The failures of `key` in window `window` and the one before it.
pub(crate) fn failures(conn: &mut DbConn, key: &str, window: i64) -> QueryResult<Failures> {
    Ok(counts_at(row(conn, key)?, window))
}

/// Counts one failure of `key` in window `window`, forgetting rows that say nothing about it
/// any more; returns the counts after. Replicas on PostgreSQL serialize on a table lock
/// (SQLite's `BEGIN IMMEDIATE` already does), so no count is lost between read and write.
pub(crate) fn add(conn: &mut DbConn, key: &str, window: i64) -> Result<Failures, Fail> {
    write_tx(conn, |conn| {
        if let DbConn::Pg(c) = conn {
            c.batch_execute("LOCK TABLE throttle IN SHARE ROW EXCLUSIVE MODE")?;
        }
        diesel::delete(
            throttle::table.filter(
                throttle::window_number
                    .lt(window - 1)
                    .or(throttle::window_number.gt(window)),
            ),
        )
        .execute(conn)?;
        let existing = row(conn, key)?;
        let before = counts_at(existing, window);
        let after = Failures {
            previous: before.previous,
            current: before.current.saturating_add(1),
        };
        let values = (
            throttle::window_number.eq(window),
            throttle::current_failures.eq(i64::from(after.current)),
            throttle::previous_failures.eq(i64::from(after.previous)),
        );
        if existing.is_some() {
            diesel::update(throttle::table.filter(throttle::throttle_key.eq(key)))
                .set(values)
                .execute(conn)?;
        } else {
            diesel::insert_into(throttle::table)
                .values((throttle::throttle_key.eq(key), values))
                .execute(conn)?;
        }
        Ok(after)
    })
}

/// Forgets the failures of `key`.
pub(crate) fn clear(conn: &mut DbConn, key: &str) -> QueryResult<()> {
    diesel::delete(throttle::table.filter(throttle::throttle_key.eq(key))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_speaks_for_its_window_and_the_next() {
        let two_three = Failures {
            previous: 2,
            current: 3,
        };
        assert_eq!(counts_at(Some((7, 3, 2)), 7), two_three);
        assert_eq!(
            counts_at(Some((6, 3, 2)), 7),
            Failures {
                previous: 3,
                current: 0
            }
        );
        assert_eq!(counts_at(Some((5, 3, 2)), 7), Failures::default());
        assert_eq!(counts_at(Some((9, 3, 2)), 7), Failures::default());
        assert_eq!(counts_at(None, 7), Failures::default());
    }
}
