//! The caller's SSH keys.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Authed;
use crate::body::Body;
use crate::error::ApiResult;
use crate::routes::page;
use crate::state::ApiState;
use crate::views::{View, page_of};

/// `GET /v1/keys`
pub async fn list(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(
        &req,
        state
            .platform
            .store()
            .list_keys(&user.username, sel)
            .await?,
    )))
}

/// `POST /v1/keys`
pub async fn add(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    let key = state.platform.add_key(&user, &body.object()?).await?;
    Ok(HttpResponse::Created().json(key.view()))
}

/// `GET /v1/keys/{id}`
pub async fn show(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .store()
            .key(&user.username, &id)
            .await?
            .view(),
    ))
}

/// `DELETE /v1/keys/{id}`
pub async fn remove(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    state
        .platform
        .store()
        .remove_key(&user.username, &id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
