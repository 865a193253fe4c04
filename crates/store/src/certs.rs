//! TLS certificates (API v1.7), their private keys sealed by the controller.

use deis_domain::timefmt::{from_micros, to_micros};
use deis_domain::{Certificate, NewCertificate, Page, PageSel};
use diesel::prelude::*;

use crate::conn::{Db, DbConn, write_tx};
use crate::error::{Fail, found};
use crate::page::Window;
use crate::schema::certs;

/// A stored certificate.
#[derive(Queryable, Selectable)]
#[diesel(table_name = certs)]
struct CertRow {
    seq: i64,
    common_name: String,
    owner: String,
    chain: String,
    sealed_key: String,
    expires: i64,
    created: i64,
    updated: i64,
}

impl From<CertRow> for Certificate {
    fn from(r: CertRow) -> Self {
        Self {
            id: r.seq,
            common_name: r.common_name,
            owner: r.owner,
            chain: r.chain,
            sealed_key: r.sealed_key,
            expires: from_micros(r.expires),
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        }
    }
}

/// A certificate to insert; `seq` comes from the database.
#[derive(Insertable)]
#[diesel(table_name = certs)]
struct NewCertRow<'a> {
    common_name: &'a str,
    owner: &'a str,
    chain: &'a str,
    sealed_key: &'a str,
    expires: i64,
    created: i64,
    updated: i64,
}

/// Stores a certificate; `Conflict("common_name")` (the unique index) on a duplicate.
pub(crate) fn add(conn: &mut DbConn, cert: &NewCertificate) -> Result<Certificate, Fail> {
    write_tx(conn, |conn| {
        let created = to_micros(cert.created);
        diesel::insert_into(certs::table)
            .values(NewCertRow {
                common_name: &cert.common_name,
                owner: &cert.owner,
                chain: &cert.chain,
                sealed_key: &cert.sealed_key,
                expires: to_micros(cert.expires),
                created,
                updated: created,
            })
            .execute(conn)?;
        Ok(get(conn, &cert.common_name)?)
    })
}

fn of_owner(owner: Option<&str>) -> certs::BoxedQuery<'_, Db> {
    match owner {
        Some(owner) => certs::table.filter(certs::owner.eq(owner)).into_boxed(),
        None => certs::table.into_boxed(),
    }
}

/// One page of certificates in creation order, all or those of `owner`.
pub(crate) fn list(
    conn: &mut DbConn,
    owner: Option<&str>,
    sel: PageSel,
) -> Result<Page<Certificate>, Fail> {
    let window = Window::locate(of_owner(owner).count().get_result(conn)?, sel)?;
    let query = of_owner(owner);
    let query = if window.backwards {
        query.order(certs::seq.desc())
    } else {
        query.order(certs::seq)
    };
    let rows = query
        .limit(window.limit)
        .offset(window.offset)
        .select(CertRow::as_select())
        .load(conn)?;
    Ok(window.page(rows.into_iter().map(Certificate::from).collect()))
}

/// One certificate by common name.
pub(crate) fn get(conn: &mut DbConn, common_name: &str) -> QueryResult<Certificate> {
    certs::table
        .filter(certs::common_name.eq(common_name))
        .select(CertRow::as_select())
        .first(conn)
        .map(Certificate::from)
}

/// Removes one certificate by common name.
pub(crate) fn remove(conn: &mut DbConn, common_name: &str) -> QueryResult<()> {
    let removed =
        diesel::delete(certs::table.filter(certs::common_name.eq(common_name))).execute(conn)?;
    found(removed)
}

/// Every certificate, in creation order.
pub(crate) fn all(conn: &mut DbConn) -> QueryResult<Vec<Certificate>> {
    let rows = certs::table
        .order(certs::seq)
        .select(CertRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Certificate::from).collect())
}
