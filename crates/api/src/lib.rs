//! The Deis v1 Controller REST API on actix-web.
//!
//! Knows HTTP: routing, bodies, authentication, the wire shapes of §3 and the error shapes of
//! §1.7. Knows nothing of diesel or bollard: all work goes through [`deis_domain::Platform`],
//! which holds the `Store` and `Scheduler` ports as trait objects.

pub mod auth;
pub mod body;
pub mod connections;
pub mod error;
pub mod generation;
pub mod hangup;
pub mod health;
mod listcache;
pub mod metrics;
pub mod observe;
pub mod routes;
pub mod state;
pub mod views;

use std::net::TcpListener;

use actix_web::dev::{Server, Service};
use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, guard, web};
use futures_util::future::{Either, ready};
use serde_json::json;

pub use crate::connections::ServerLimits;
use crate::error::ApiError;
use crate::generation::v17;
pub use crate::metrics::Metrics;
use crate::routes::{account, apps, attach, certs, hooks, keys, restart, sharing, users};
pub use crate::state::{ApiSettings, ApiState, Registration};

/// The header naming the builder's SSH port (see [`ApiSettings::builder_port`]).
pub const BUILDER_PORT_HEADER: &str = "X-Deis-Builder-Port";

/// The API version this server speaks to clients that do not select v1.7 (`X-Deis-Version`;
/// see [`generation`]).
pub const API_VERSION: &str = "1.0";

/// Answers methods a route does not serve with 405, after the checks the route's own methods
/// make first (§1.2): authentication, the builder key on hooks, the admin role on admin routes.
async fn not_allowed(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    let method = ApiError::MethodNotAllowed(req.method().to_string());
    let checked = if ["/v1/auth/register", "/healthz", "/readyz", "/metrics"].contains(&path) {
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
    // Static paths first, then one scope per dynamic prefix: actix tries resources in order
    // and matches dynamic ones with a regex, so the hot static routes must not wait behind them.
    cfg.service(
        resource("/v1/apps")
            .route(web::get().to(apps::list))
            .route(web::post().to(apps::create)),
    )
    .service(resource("/v1").route(web::get().to(account::root)))
    .service(resource("/healthz").route(web::get().to(healthz)))
    .service(resource("/readyz").route(web::get().to(health::readyz)))
    .service(resource("/metrics").route(web::get().to(metrics::scrape)))
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
    .service(
        resource("/v1/users")
            .guard(v17())
            .route(web::get().to(users::list)),
    )
    .service(
        resource("/v1/auth/tokens")
            .guard(v17())
            .route(web::post().to(users::regenerate)),
    )
    .service(
        resource("/v1/certs")
            .guard(v17())
            .route(web::get().to(certs::list))
            .route(web::post().to(certs::add)),
    )
    .service(
        resource("/v1/admin/perms")
            .route(web::get().to(sharing::admins))
            .route(web::post().to(sharing::promote)),
    )
    .service(resource("/v1/admin/perms/{username}").route(web::delete().to(sharing::demote)))
    .service(
        resource("/v1/keys/{id:.+}")
            .route(web::get().to(keys::show))
            .route(web::delete().to(keys::remove)),
    )
    .service(
        web::scope("/v1/apps/{id}")
            .service(
                resource("")
                    .guard(v17())
                    .guard(guard::Post())
                    .route(web::post().to(apps::transfer)),
            )
            .service(
                resource("")
                    .route(web::get().to(apps::show))
                    .route(web::delete().to(apps::destroy)),
            )
            .service(
                resource("/config")
                    .route(web::get().to(apps::config))
                    .route(web::post().to(apps::set_config)),
            )
            .service(
                resource("/builds")
                    .route(web::get().to(apps::builds))
                    .route(web::post().to(apps::create_build)),
            )
            .service(resource("/builds/{uuid}").route(web::get().to(apps::build)))
            .service(resource("/releases").route(web::get().to(apps::releases)))
            .service(resource("/releases/rollback").route(web::post().to(apps::rollback)))
            .service(resource("/releases/v{version}").route(web::get().to(apps::release)))
            .service(
                resource("/containers/restart")
                    .guard(v17())
                    .route(web::post().to(restart::all)),
            )
            .service(
                resource("/containers/{type}/restart")
                    .guard(v17())
                    .route(web::post().to(restart::of_type)),
            )
            .service(
                resource("/containers/{type}/{num}/restart")
                    .guard(v17())
                    .route(web::post().to(restart::one)),
            )
            .service(resource("/containers").route(web::get().to(apps::containers)))
            .service(resource("/containers/{type}").route(web::get().to(apps::containers_of_type)))
            .service(resource("/containers/{type}/{num}").route(web::get().to(apps::container)))
            .service(
                resource("/domains")
                    .route(web::get().to(apps::domains))
                    .route(web::post().to(apps::add_domain)),
            )
            .service(resource("/domains/{domain}").route(web::delete().to(apps::remove_domain)))
            .service(resource("/scale").route(web::post().to(apps::scale)))
            .service(resource("/logs").route(web::get().to(apps::logs)))
            .service(resource("/run").route(web::post().to(apps::run)))
            .service(resource("/run/attach").route(web::get().to(attach::attach)))
            .service(
                resource("/perms")
                    .route(web::get().to(sharing::list))
                    .route(web::post().to(sharing::grant)),
            )
            .service(resource("/perms/{username}").route(web::delete().to(sharing::revoke)))
            .default_service(web::to(no_route)),
    )
    .service(
        resource("/v1/certs/{common_name}")
            .guard(v17())
            .route(web::get().to(certs::show))
            .route(web::delete().to(certs::remove)),
    )
    .default_service(web::to(no_route));
}

/// Drops one trailing slash (`/v1/apps/` is `/v1/apps`), so every route matches with or
/// without it. actix's `NormalizePath` would also do this, but it runs a regex over every
/// path; this touches only the requests that end in a slash.
fn trim_trailing_slash(req: &mut actix_web::dev::ServiceRequest) {
    let path = req.path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = match req.query_string() {
        "" => path[..path.len() - 1].to_owned(),
        query => format!("{}?{query}", &path[..path.len() - 1]),
    };
    let mut parts = req.head().uri.clone().into_parts();
    let Ok(path_and_query) = trimmed.parse() else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = actix_web::http::Uri::from_parts(parts) {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

/// Serves the API on an already bound listener (port 0 in tests), with default limits.
pub fn run(listener: TcpListener, state: ApiState) -> std::io::Result<Server> {
    run_with(listener, state, ServerLimits::default())
}

/// Serves the API on an already bound listener within `limits`. The server stops gracefully on
/// SIGTERM (and on [`actix_web::dev::ServerHandle::stop`]): no new connections, requests in
/// flight finish within `limits.shutdown_timeout`.
pub fn run_with(
    listener: TcpListener,
    state: ApiState,
    limits: ServerLimits,
) -> std::io::Result<Server> {
    let builder_port = state.settings.builder_port;
    let state = web::Data::new(state);
    let open = connections::OpenConnections::default();
    let cap = limits.connections_per_ip;
    let shutdown_timeout = limits.shutdown_timeout.as_secs();
    let limits = web::Data::new(limits);
    let server = actix_web::HttpServer::new(move || {
        let builder = match builder_port {
            Some(port) => DefaultHeaders::new().add((BUILDER_PORT_HEADER, port.to_string())),
            None => DefaultHeaders::new(),
        };
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(limits.clone())
            .wrap(builder)
            .configure(routes)
            .wrap_fn(|mut req, srv| {
                // No route has a NUL in it, and no database should be asked for one.
                if req.path().to_ascii_lowercase().contains("%00") {
                    let res = ApiError::NoRoute.error_response();
                    Either::Left(ready(Ok(req.into_response(res))))
                } else {
                    trim_trailing_slash(&mut req);
                    // HEAD is served like GET; the server drops the body of a HEAD answer.
                    if req.method() == Method::HEAD {
                        req.head_mut().method = Method::GET;
                    }
                    Either::Right(srv.call(req))
                }
            })
            // The generation is selected (and a foreign version refused) first.
            .wrap(actix_web::middleware::from_fn(generation::middleware))
            // Outermost: the request's id and span cover everything else.
            .wrap(actix_web::middleware::from_fn(observe::middleware))
    })
    .on_connect(move |connection, data| {
        open.on_connect(cap, connection, data);
        hangup::on_connect(connection, data);
    })
    .shutdown_timeout(shutdown_timeout)
    .listen(listener)?
    .run();
    Ok(server)
}
