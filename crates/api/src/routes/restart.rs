//! API v1.7 container restarts: all processes, one type, or one process.

use actix_web::{HttpResponse, web};
use deis_domain::{Error, RestartTarget};
use serde_json::Value;

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;
use crate::views::View;

async fn restart(
    state: &ApiState,
    user: &deis_domain::User,
    id: &str,
    target: RestartTarget,
) -> ApiResult<HttpResponse> {
    let restarted = state.platform.restart(user, id, target).await?;
    Ok(HttpResponse::Ok().json(Value::Array(restarted.iter().map(View::view).collect())))
}

/// `POST /v1/apps/{id}/containers/restart`
pub async fn all(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    restart(&state, &user, &id, RestartTarget::All).await
}

/// `POST /v1/apps/{id}/containers/{type}/restart`
pub async fn of_type(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, proc_type) = path.into_inner();
    restart(&state, &user, &id, RestartTarget::Type(proc_type)).await
}

/// `POST /v1/apps/{id}/containers/{type}/{num}/restart`
pub async fn one(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, proc_type, num) = path.into_inner();
    // The app must be visible before a bad number says anything about it.
    state.platform.visible_app(&user, &id).await?;
    let num: i64 = Some(num.as_str())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or(ApiError::Domain(Error::NotFound))?;
    restart(&state, &user, &id, RestartTarget::One(proc_type, num)).await
}
