//! Handlers, one module per resource group, and the helpers they share.

pub mod account;
pub mod apps;
pub mod attach;
pub mod certs;
pub mod hooks;
pub mod keys;
pub mod restart;
pub mod sharing;
pub mod users;

use actix_web::HttpRequest;
use actix_web::web::Query;
use deis_domain::{Error, PageSel};
use std::collections::HashMap;

use crate::error::ApiError;

/// The `page` query parameter; a page that names nothing is 404.
pub fn page(req: &HttpRequest) -> Result<PageSel, ApiError> {
    let query = Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|_| ApiError::Domain(Error::NotFound))?;
    PageSel::parse(query.get("page").map(String::as_str)).ok_or(ApiError::Domain(Error::NotFound))
}
