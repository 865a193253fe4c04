//! Collaborators of an app and platform administrators.

use actix_web::{HttpRequest, HttpResponse, web};
use deis_domain::Error;
use serde_json::{Value, json};

use crate::auth::Authed;
use crate::body::Body;
use crate::error::ApiResult;
use crate::routes::page;
use crate::state::ApiState;
use crate::views;

fn username(body: Body) -> ApiResult<String> {
    match body.object()?.get("username") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(Error::field("username", deis_domain::validate::REQUIRED).into())
        }
        Some(_) => Err(Error::field("username", "Not a valid string.").into()),
    }
}

/// `GET /v1/apps/{id}/perms`
pub async fn list(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let users = state.platform.collaborators(&user, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

/// `POST /v1/apps/{id}/perms`
pub async fn grant(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let target = username(body)?;
    state.platform.grant(&user, &id, &target).await?;
    Ok(HttpResponse::Created().finish())
}

/// `DELETE /v1/apps/{id}/perms/{username}`
pub async fn revoke(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    state.platform.revoke(&user, &id, &target).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/admin/perms`
pub async fn admins(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
) -> ApiResult<HttpResponse> {
    if !user.is_superuser {
        return Err(Error::Forbidden.into());
    }
    let sel = page(&req)?;
    let admins = state.platform.list_admins(&user, sel).await?;
    Ok(HttpResponse::Ok().json(views::paginated(&req, admins.map(|u| views::admin(&u)))))
}

/// `POST /v1/admin/perms`
pub async fn promote(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    if !user.is_superuser {
        return Err(Error::Forbidden.into());
    }
    state
        .platform
        .set_admin(&user, &username(body)?, true)
        .await?;
    Ok(HttpResponse::Created().finish())
}

/// `DELETE /v1/admin/perms/{username}`
pub async fn demote(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    state.platform.set_admin(&user, &name, false).await?;
    Ok(HttpResponse::NoContent().finish())
}
