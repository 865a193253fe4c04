//! API v1.7 accounts: the users list and token regeneration.

use actix_web::{HttpRequest, HttpResponse, web};
use deis_domain::{Error, Regenerate};
use serde_json::{Value, json};

use crate::auth::{self, Authed};
use crate::body::Body;
use crate::error::ApiResult;
use crate::routes::{account, page};
use crate::state::ApiState;
use crate::views::page_of;

/// `GET /v1/users` (administrators)
pub async fn list(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(&req, state.platform.list_users(&user, sel).await?)))
}

/// Reads the `all` flag of a regeneration: a boolean, or its form-encoded spelling.
fn all_flag(body: &serde_json::Map<String, Value>) -> Result<bool, Error> {
    match body.get("all") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Some(Value::String(s)) if s.is_empty() || s.eq_ignore_ascii_case("false") || s == "0" => {
            Ok(false)
        }
        Some(_) => Err(Error::field("all", "Must be a valid boolean.")),
    }
}

/// `POST /v1/auth/tokens`: a new token for the caller, the named user (`{"username"}`,
/// administrators) or, with `{"all": true}` (administrators), every user; earlier tokens of
/// those users stop working. Answers the fresh token of the named user, else of the caller.
pub async fn regenerate(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    let body = body.object()?;
    let which = if all_flag(&body)? {
        Regenerate::All
    } else {
        match account::text(&body, "username").map_err(|m| Error::field("username", m))? {
            name if name.is_empty() => Regenerate::Caller,
            name => Regenerate::User(name),
        }
    };
    let holder = state.platform.regenerate_tokens(&user, which).await?;
    let token = auth::issue(&state, &holder)?;
    Ok(HttpResponse::Ok().json(json!({ "token": token })))
}
