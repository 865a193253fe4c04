//! API v1.7 certificates. The private key is taken, checked and sealed, and never answered.

use actix_web::{HttpRequest, HttpResponse, web};
use deis_domain::timefmt::deis;
use deis_domain::{CertInput, Certificate};
use serde_json::{Value, json};

use crate::auth::Authed;
use crate::body::Body;
use crate::error::ApiResult;
use crate::routes::page;
use crate::state::ApiState;
use crate::views::paginated;

/// A certificate's details: everything but the chain and the key.
fn detail(c: &Certificate) -> Value {
    json!({
        "id": c.id, "common_name": c.common_name, "expires": deis(c.expires), "owner": c.owner,
        "created": deis(c.created), "updated": deis(c.updated),
    })
}

/// `GET /v1/certs`: common names and expiry of the certificates the caller may see.
pub async fn list(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    let certs = state.platform.list_certificates(&user, sel).await?;
    Ok(HttpResponse::Ok().json(paginated(
        &req,
        certs.map(|c| json!({ "common_name": c.common_name, "expires": deis(c.expires) })),
    )))
}

/// `POST /v1/certs`
pub async fn add(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    let input = CertInput::parse(&body.object()?)?;
    let cert = state.platform.add_certificate(&user, input).await?;
    Ok(HttpResponse::Created().json(detail(&cert)))
}

/// `GET /v1/certs/{common_name}`
pub async fn show(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(detail(&state.platform.certificate(&user, &name).await?)))
}

/// `DELETE /v1/certs/{common_name}`
pub async fn remove(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    state.platform.remove_certificate(&user, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
