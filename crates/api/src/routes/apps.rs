//! Apps and everything scoped to one app: config, builds, releases, containers, actions.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use deis_domain::{BuildInput, Error, LogFilter, Page, validate};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::auth::Authed;
use crate::body::{Body, Encoding, into_object};
use crate::error::{ApiError, ApiResult};
use crate::generation::Generation;
use crate::generation::MAX_LOG_LINES;
use crate::hangup::{Peer, unless_hung_up};
use crate::routes::page;
use crate::state::ApiState;
use crate::views::{self, View, page_of};

type Path1 = web::Path<String>;
type Path2 = web::Path<(String, String)>;
type Path3 = web::Path<(String, String, String)>;

/// `GET /v1/apps`
pub async fn list(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    let version = state.platform.store().app_lists_version();
    let key = version.map(|_| {
        let info = req.connection_info();
        let scope = if user.is_superuser {
            "*"
        } else {
            user.username.as_str()
        };
        format!(
            "{scope}\n{}\n{}\n{}",
            views::scheme(&req),
            info.host(),
            req.uri()
        )
    });
    if let (Some(version), Some(key)) = (version, &key)
        && let Some(body) = state.list_cache.get(key, version)
    {
        return Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body));
    }
    let apps = state.platform.list_apps(&user, sel).await?;
    let page = Page {
        count: apps.count,
        number: apps.number,
        items: apps
            .items
            .iter()
            .map(|a| views::app(a, state.platform.url(&a.id)))
            .collect(),
    };
    let body = web::Bytes::from(
        serde_json::to_vec(&views::paginated(&req, page))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
    );
    if let (Some(version), Some(key)) = (version, key) {
        state.list_cache.put(key, version, body.clone());
    }
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// `POST /v1/apps`
pub async fn create(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    let app = state.platform.create_app(&user, &body.object()?).await?;
    Ok(HttpResponse::Created().json(views::app(&app, state.platform.url(&app.id))))
}

/// `GET /v1/apps/{id}`
pub async fn show(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    let app = state.platform.visible_app(&user, &id).await?;
    Ok(HttpResponse::Ok().json(views::app(&app, state.platform.url(&app.id))))
}

/// `POST /v1/apps/{id}` (v1.7): gives the app to the user named by `owner`.
pub async fn transfer(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let owner = match body.object()?.get("owner") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Error::field("owner", validate::REQUIRED).into());
        }
        Some(_) => return Err(Error::field("owner", "Not a valid string.").into()),
    };
    let app = state.platform.transfer_app(&user, &id, &owner).await?;
    Ok(HttpResponse::Ok().json(views::app(&app, state.platform.url(&app.id))))
}

/// `DELETE /v1/apps/{id}`
pub async fn destroy(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    state.platform.destroy_app(&user, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/apps/{id}/config`
pub async fn config(
    state: web::Data<ApiState>,
    generation: Generation,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    let config = state.platform.config(&user, &id).await?;
    Ok(HttpResponse::Ok().json(generation.config(&config)))
}

/// `POST /v1/apps/{id}/config`
pub async fn set_config(
    state: web::Data<ApiState>,
    generation: Generation,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let body = match body.encoded()? {
        // Form fields cannot carry `null` removals or typed values (§0.3: 400, not 500).
        (Encoding::Form, _) => {
            return Err(ApiError::BadRequest(
                "Config changes must be sent as JSON (Content-Type: application/json)".into(),
            ));
        }
        (_, value) => into_object(value)?,
    };
    let (config, release) = state.platform.set_config(&user, &id, &body).await?;
    Ok(HttpResponse::Created()
        .insert_header(("X-Deis-Release", release.version.to_string()))
        .json(generation.config(&config)))
}

/// `GET /v1/apps/{id}/builds`
pub async fn builds(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(
        &req,
        state.platform.list_builds(&user, &id, sel).await?,
    )))
}

/// `POST /v1/apps/{id}/builds`
pub async fn create_build(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let input = BuildInput::parse(&body.object()?)?;
    let (build, release) = state.platform.create_build(&user, &id, input).await?;
    Ok(HttpResponse::Created()
        .insert_header(("X-Deis-Release", release.version.to_string()))
        .json(build.view()))
}

/// `GET /v1/apps/{id}/builds/{uuid}`
pub async fn build(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: Path2,
) -> ApiResult<HttpResponse> {
    let (id, uuid) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.platform.build(&user, &id, &uuid).await?.view()))
}

/// `GET /v1/apps/{id}/releases`
pub async fn releases(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(
        &req,
        state.platform.list_releases(&user, &id, sel).await?,
    )))
}

/// `GET /v1/apps/{id}/releases/v{version}`
pub async fn release(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: Path2,
) -> ApiResult<HttpResponse> {
    let (id, version) = path.into_inner();
    // `v` and digits only (§1.1 `v(?P<version>[0-9]+)`); leading zeros are fine.
    let version: i64 = Some(version.as_str())
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or(ApiError::Domain(Error::NotFound))?;
    Ok(HttpResponse::Ok().json(state.platform.release(&user, &id, version).await?.view()))
}

/// The `version` of a rollback body: absent or falsy means "the one before the latest".
fn rollback_version(body: &serde_json::Map<String, Value>) -> Result<Option<i64>, ApiError> {
    let invalid = || Error::field("version", "A valid integer is required.");
    let version = match body.get("version") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(invalid)?),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse::<i64>().map_err(|_| invalid())?),
        Some(_) => return Err(invalid().into()),
    };
    Ok(version.filter(|v| *v != 0))
}

/// `POST /v1/apps/{id}/releases/rollback`
pub async fn rollback(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let version = rollback_version(&body.object()?)?;
    let release = state.platform.rollback(&user, &id, version).await?;
    Ok(HttpResponse::Created().json(json!({ "version": release.version })))
}

/// `GET /v1/apps/{id}/containers`
pub async fn containers(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(
        &req,
        state
            .platform
            .list_containers(&user, &id, None, sel)
            .await?,
    )))
}

/// `GET /v1/apps/{id}/containers/{type}`
pub async fn containers_of_type(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    path: Path2,
) -> ApiResult<HttpResponse> {
    let (id, proc_type) = path.into_inner();
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(
        &req,
        state
            .platform
            .list_containers(&user, &id, Some(&proc_type), sel)
            .await?,
    )))
}

/// `GET /v1/apps/{id}/containers/{type}/{num}`
pub async fn container(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: Path3,
) -> ApiResult<HttpResponse> {
    let (id, proc_type, num) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        state
            .platform
            .container(&user, &id, &proc_type, &num)
            .await?
            .view(),
    ))
}

/// `POST /v1/apps/{id}/scale`
pub async fn scale(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    let request = validate::scale_request(&body.value()?)
        .ok_or_else(|| Error::Rejected("Invalid scaling format".into()))?;
    state.platform.scale(&user, &id, &request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/apps/{id}/logs`; with `?follow=true` (an extension, `docs/API.md`) the lines are
/// streamed as they happen until the client leaves.
pub async fn logs(
    state: web::Data<ApiState>,
    req: HttpRequest,
    generation: Generation,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    if let Some((lines, filter)) = follow_query(&req)? {
        let stream = state
            .platform
            .follow_logs(&user, &id, lines, filter)
            .await?;
        // Stop following (and free the engine's streams) once the client has gone, even
        // while nothing is printed.
        let stream = match Peer::of(&req) {
            Some(peer) => stream.take_until(peer.hung_up()).boxed(),
            None => stream,
        };
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(stream.map(|mut line| {
                line.push('\n');
                Ok::<_, std::convert::Infallible>(web::Bytes::from(line))
            })));
    }
    let lines = generation.log_lines(&req)?;
    Ok(generation.logs(state.platform.logs(&user, &id, lines).await?))
}

/// The parameters of a followed log (`follow=true`, `lines=N`, `type=T`, `num=N`), or `None`
/// when the request does not follow.
fn follow_query(req: &HttpRequest) -> ApiResult<Option<(Option<u64>, LogFilter)>> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let last = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    match last("follow") {
        None | Some("false" | "0") => return Ok(None),
        Some("true" | "1") => {}
        Some(_) => return Err(ApiError::BadRequest("follow must be true or false".into())),
    }
    let lines = match last("lines").or_else(|| last("log_lines")) {
        None => None,
        Some(raw) => Some(
            raw.parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_LOG_LINES).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "lines must be a whole number from 1 to {MAX_LOG_LINES}"
                    ))
                })?,
        ),
    };
    let proc_type = match last("type") {
        None | Some("") => None,
        Some(t)
            if t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(t.to_owned())
        }
        Some(_) => return Err(ApiError::BadRequest("type must be a process type".into())),
    };
    let num = match last("num") {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::BadRequest("num must be a whole number from 1".into()))?,
        ),
    };
    Ok(Some((lines, LogFilter { proc_type, num })))
}

/// `POST /v1/apps/{id}/run`
///
/// A client that hangs up stops the run: its container is killed and removed.
pub async fn run(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let body = body.object()?;
    let Some(out) = unless_hung_up(&req, state.platform.run(&user, &id, &body)).await else {
        tracing::info!(app = %id.as_str(), "the client left: its run was stopped");
        return Ok(HttpResponse::new(
            actix_web::http::StatusCode::REQUEST_TIMEOUT,
        ));
    };
    let out = out?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body(json!([out.exit_code, out.output]).to_string()))
}

/// `GET /v1/apps/{id}/domains`
pub async fn domains(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    id: Path1,
) -> ApiResult<HttpResponse> {
    let sel = page(&req)?;
    Ok(HttpResponse::Ok().json(page_of(
        &req,
        state.platform.list_domains(&user, &id, sel).await?,
    )))
}

/// `POST /v1/apps/{id}/domains`
pub async fn add_domain(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    id: Path1,
    body: Body,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let domain = state
        .platform
        .add_domain(&user, &id, &body.object()?)
        .await?;
    Ok(HttpResponse::Created().json(domain.view()))
}

/// `DELETE /v1/apps/{id}/domains/{domain}`
pub async fn remove_domain(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    path: Path2,
) -> ApiResult<HttpResponse> {
    let (id, domain) = path.into_inner();
    state.platform.remove_domain(&user, &id, &domain).await?;
    Ok(HttpResponse::NoContent().finish())
}
