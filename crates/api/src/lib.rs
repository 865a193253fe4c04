//! The Deis v1 Controller REST API on actix-web.
//!
//! Knows HTTP: routing, bodies, authentication, the wire shapes of §3 and the error shapes of
//! §1.7. Knows nothing of diesel or bollard: all work goes through [`deis_domain::Platform`],
//! which holds the `Store` and `Scheduler` ports as trait objects.

pub mod auth;
pub mod body;
pub mod error;
pub mod routes;
pub mod state;
pub mod views;

use std::net::TcpListener;

use actix_web::body::BoxBody;
use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::{Either, ready};
use serde_json::json;

use crate::error::ApiError;
use crate::routes::{account, apps, hooks, keys, sharing};
pub use crate::state::{ApiSettings, ApiState, Registration};

/// The API version this server speaks (`X-Deis-Version`).
pub const API_VERSION: &str = "1.0";

/// Answers methods a route does not serve with 405, after the checks the route's own methods
/// make first (§1.2): authentication, the builder key on hooks, the admin role on admin routes.
async fn not_allowed(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    let method = ApiError::MethodNotAllowed(req.method().to_string());
    let checked = if path == "/v1/auth/register" || path == "/healthz" {
        Ok(())
    } else if path == "/v1/auth/login" {
        auth::optional_user(&req).await.map(drop)
    } else if path.starts_with("/v1/hooks/") {
        auth::builder(&req).await.map(drop)
    } else {
        match auth::optional_user(&req).await {
            Err(e) => Err(e),
            Ok(None) => Err(ApiError::Unauthorized(
                "Authentication credentials were not provided.",
            )),
            Ok(Some(user)) if path.starts_with("/v1/admin/") && !user.is_superuser => {
                Err(ApiError::Domain(deis_domain::Error::Forbidden))
            }
            Ok(Some(_)) => Ok(()),
        }
    };
    checked.err().unwrap_or(method).error_response()
}

async fn no_route() -> HttpResponse {
    ApiError::NoRoute.error_response()
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(not_allowed))
}

/// The whole routing table (§1.1), each route exact, with or without one trailing slash.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let a = "/v1/apps/{id}";
    cfg.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/v1").route(web::get().to(account::root)))
        .service(
            resource(&format!("{a}/config"))
                .route(web::get().to(apps::config))
                .route(web::post().to(apps::set_config)),
        )
        .service(resource(&format!("{a}/builds/{{uuid}}")).route(web::get().to(apps::build)))
        .service(
            resource(&format!("{a}/builds"))
                .route(web::get().to(apps::builds))
                .route(web::post().to(apps::create_build)),
        )
        .service(resource(&format!("{a}/releases/rollback")).route(web::post().to(apps::rollback)))
        .service(
            resource(&format!("{a}/releases/v{{version}}")).route(web::get().to(apps::release)),
        )
        .service(resource(&format!("{a}/releases")).route(web::get().to(apps::releases)))
        .service(
            resource(&format!("{a}/containers/{{type}}/{{num}}"))
                .route(web::get().to(apps::container)),
        )
        .service(
            resource(&format!("{a}/containers/{{type}}"))
                .route(web::get().to(apps::containers_of_type)),
        )
        .service(resource(&format!("{a}/containers")).route(web::get().to(apps::containers)))
        .service(
            resource(&format!("{a}/domains/{{domain}}"))
                .route(web::delete().to(apps::remove_domain)),
        )
        .service(
            resource(&format!("{a}/domains"))
                .route(web::get().to(apps::domains))
                .route(web::post().to(apps::add_domain)),
        )
        .service(resource(&format!("{a}/scale")).route(web::post().to(apps::scale)))
        .service(resource(&format!("{a}/logs")).route(web::get().to(apps::logs)))
        .service(resource(&format!("{a}/run")).route(web::post().to(apps::run)))
        .service(
            resource(&format!("{a}/perms/{{username}}")).route(web::delete().to(sharing::revoke)),
        )
        .service(
            resource(&format!("{a}/perms"))
                .route(web::get().to(sharing::list))
                .route(web::post().to(sharing::grant)),
        )
        .service(
            resource(a)
                .route(web::get().to(apps::show))
                .route(web::delete().to(apps::destroy)),
        )
        .service(
            resource("/v1/apps")
                .route(web::get().to(apps::list))
                .route(web::post().to(apps::create)),
        )
        .service(
            resource("/v1/keys/{id:.+}")
                .route(web::get().to(keys::show))
                .route(web::delete().to(keys::remove)),
        )
        .service(
            resource("/v1/keys")
                .route(web::get().to(keys::list))
                .route(web::post().to(keys::add)),
        )
        .service(resource("/v1/hooks/push").route(web::post().to(hooks::push)))
        .service(resource("/v1/hooks/build").route(web::post().to(hooks::build)))
        .service(resource("/v1/hooks/builds").route(web::post().to(hooks::build)))
        .service(resource("/v1/hooks/config").route(web::post().to(hooks::config)))
        .service(resource("/v1/auth/register").route(web::post().to(account::register)))
        .service(resource("/v1/auth/cancel").route(web::delete().to(account::cancel)))
        .service(resource("/v1/auth/passwd").route(web::post().to(account::passwd)))
        .service(resource("/v1/auth/login").route(web::post().to(account::login)))
        .service(resource("/v1/admin/perms/{username}").route(web::delete().to(sharing::demote)))
        .service(
            resource("/v1/admin/perms")
                .route(web::get().to(sharing::admins))
                .route(web::post().to(sharing::promote)),
        )
        .default_service(web::to(no_route));
}

/// The `X-Deis-Version` check (§1.5): a mismatch is 405 before routing and authentication.
fn version_mismatch(req: &actix_web::dev::ServiceRequest) -> Option<HttpResponse> {
    let sent = req.headers().get("X-Deis-Version")?;
    let sent = String::from_utf8_lossy(sent.as_bytes()).into_owned();
    (sent != API_VERSION).then(|| {
        HttpResponse::MethodNotAllowed().json(json!({
            "error": format!("Client and server versions do not match. Client version: {sent} Server version: {API_VERSION}")
        }))
    })
}

/// Serves the API on an already bound listener (port 0 in tests).
pub fn run(listener: TcpListener, state: ApiState) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .configure(routes)
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap_fn(|mut req, srv| match version_mismatch(&req) {
                Some(res) => Either::Left(ready(Ok::<ServiceResponse<BoxBody>, actix_web::Error>(
                    req.into_response(res),
                ))),
                // No route has a NUL in it, and no database should be asked for one.
                None if req.path().to_ascii_lowercase().contains("%00") => {
                    let res = ApiError::NoRoute.error_response();
                    Either::Left(ready(Ok(req.into_response(res))))
                }
                None => {
                    // HEAD is served like GET; the server drops the body of a HEAD answer.
                    if req.method() == Method::HEAD {
                        req.head_mut().method = Method::GET;
                    }
                    Either::Right(srv.call(req))
                }
            })
    })
    .listen(listener)?
    .run();
    Ok(server)
}
