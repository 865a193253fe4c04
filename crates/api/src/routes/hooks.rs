//! The builder's hooks, authenticated by `X-Deis-Builder-Auth`.

use actix_web::{HttpResponse, web};
use deis_domain::BuildInput;
use serde_json::json;

use crate::auth::Builder;
use crate::body::Body;
use crate::error::ApiResult;
use crate::state::ApiState;
use crate::views::View;

/// `POST /v1/hooks/push`
pub async fn push(state: web::Data<ApiState>, _: Builder, body: Body) -> ApiResult<HttpResponse> {
    let push = state.platform.record_push(&body.object()?).await?;
    Ok(HttpResponse::Created().json(push.view()))
}

/// `POST /v1/hooks/config`
pub async fn config(state: web::Data<ApiState>, _: Builder, body: Body) -> ApiResult<HttpResponse> {
    let (user, app) = state.platform.hook_actor(&body.object()?).await?;
    Ok(HttpResponse::Ok().json(state.platform.config(&user, &app.id).await?.view()))
}

/// `POST /v1/hooks/build`
pub async fn build(state: web::Data<ApiState>, _: Builder, body: Body) -> ApiResult<HttpResponse> {
    let body = body.object()?;
    let (user, app) = state.platform.hook_actor(&body).await?;
    let input = BuildInput::parse(&body)?;
    let (_, release) = state.platform.create_build(&user, &app.id, input).await?;
    Ok(HttpResponse::Ok().json(json!({
        "release": { "version": release.version },
        "domains": [state.platform.host(&app.id)],
    })))
}
