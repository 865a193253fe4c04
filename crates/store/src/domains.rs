//! Custom domains of apps.

use deis_domain::{Domain, Page, PageSel, StoreError};
use diesel::prelude::*;

use crate::conn::{DbConn, write_tx};
use crate::error::Fail;
use crate::events;
use crate::page::Window;
use crate::rows::DomainRow;
use crate::schema::domains;

/// Adds the domain and logs the events; `Conflict("domain")` when any app has it.
pub(crate) fn add(conn: &mut DbConn, domain: &Domain, messages: &[String]) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        diesel::insert_into(domains::table)
            .values(DomainRow::from(domain))
            .execute(conn)?;
        events::append(conn, &domain.app, messages)?;
        Ok(())
    })
}

/// One page of the domains of `app`, in creation order.
pub(crate) fn list(conn: &mut DbConn, app: &str, sel: PageSel) -> Result<Page<Domain>, Fail> {
    let of_app = || domains::table.filter(domains::app.eq(app));
    let window = Window::locate(of_app().count().get_result(conn)?, sel)?;
    let query = of_app().into_boxed();
    let query = if window.backwards {
        query.order(domains::seq.desc())
    } else {
        query.order(domains::seq)
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(DomainRow::as_select())
        .load(conn)?;
    Ok(window.page(rows.into_iter().map(Domain::from).collect()))
}

/// Removes the domain from `app` (exact match) and logs the events; `NotFound("domain")`
/// when the app has no such domain.
pub(crate) fn remove(
    conn: &mut DbConn,
    app: &str,
    domain: &str,
    messages: &[String],
) -> Result<(), Fail> {
    write_tx(conn, |conn| {
        let removed = diesel::delete(
            domains::table
                .filter(domains::app.eq(app))
                .filter(domains::domain.eq(domain)),
        )
        .execute(conn)?;
        if removed == 0 {
            return Err(StoreError::NotFound("domain").into());
        }
        events::append(conn, app, messages)?;
        Ok(())
    })
}
