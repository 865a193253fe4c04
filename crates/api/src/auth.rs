//! Tokens (JWT, HS256) and the extractors that authenticate requests.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use deis_domain::{StoreError, User};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::{ApiSettings, ApiState};

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// User id.
    sub: String,
    /// Token generation of the user when issued.
    generation: i64,
    iat: i64,
    exp: i64,
}

/// Issues a token for the user.
pub fn issue(state: &ApiState, user: &User) -> Result<String, ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = i64::try_from(state.settings.token_lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = Claims {
        sub: user.id.to_string(),
        generation: user.token_generation,
        iat: now,
        exp: now.saturating_add(lifetime),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.encoding,
    )?)
}

/// What the `Authorization` header says.
enum Presented<'a> {
    Nothing,
    Token(&'a str),
}

fn presented(req: &HttpRequest) -> Result<Presented<'_>, ApiError> {
    let Some(raw) = req.headers().get(AUTHORIZATION) else {
        return Ok(Presented::Nothing);
    };
    let raw = raw.to_str().map_err(|_| {
        ApiError::Unauthorized(
            "Invalid token header. Token string should not contain invalid characters.",
        )
    })?;
    let mut words = raw.split(' ').filter(|w| !w.is_empty());
    let scheme = words.next().unwrap_or("");
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")) {
        return Ok(Presented::Nothing);
    }
    match (words.next(), words.next()) {
        (None, _) => Err(ApiError::Unauthorized(
            "Invalid token header. No credentials provided.",
        )),
        (Some(_), Some(_)) => Err(ApiError::Unauthorized(
            "Invalid token header. Token string should not contain spaces.",
        )),
        (Some(token), None) => Ok(Presented::Token(token)),
    }
}

/// The user id and token generation a token carries, verified (signature and expiry).
fn verified_claims(state: &ApiState, token: &str) -> Result<(i64, i64), ApiError> {
    let invalid = || ApiError::Unauthorized("Invalid token");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Some((id, generation, exp)) = state.verified.get(token)
        && exp > now
    {
        return Ok((id, generation));
    }
    // No leeway: a token is refused from the second its `exp` names.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Claims>(token, &state.decoding, &validation)
        .map_err(|_| invalid())?;
    if data.claims.exp <= now {
        return Err(invalid());
    }
    let id: i64 = data.claims.sub.parse().map_err(|_| invalid())?;
    state.verified.put(
        token.to_owned(),
        (id, data.claims.generation, data.claims.exp),
    );
    Ok((id, data.claims.generation))
}

async fn user_for(state: &ApiState, token: &str) -> Result<User, ApiError> {
    let invalid = ApiError::Unauthorized("Invalid token");
    let (id, generation) = verified_claims(state, token)?;
    let user = match state.platform.store().user_by_id(id).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(invalid),
        Err(e) => return Err(e.into()),
    };
    if user.token_generation != generation {
        return Err(invalid);
    }
    if !user.is_active {
        return Err(ApiError::Unauthorized("User inactive or deleted"));
    }
    Ok(user)
}

/// The authenticated caller, if a token was presented (a bad token is still a 401).
pub async fn optional_user(req: &HttpRequest) -> Result<Option<User>, ApiError> {
    let Some(state) = req.app_data::<web::Data<ApiState>>() else {
        return Ok(None);
    };
    match presented(req)? {
        Presented::Nothing => Ok(None),
        Presented::Token(t) => {
            let user = user_for(state, t).await;
            match &user {
                Ok(user) => {
                    req.extensions_mut()
                        .insert(crate::observe::Caller(user.username.clone()));
                }
                Err(e) => tracing::info!(reason = %e, "token refused"),
            }
            user.map(Some)
        }
    }
}

/// An authenticated caller; anonymous requests get 401.
#[derive(Debug, Clone)]
pub struct Authed(pub User);

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            optional_user(&req)
                .await?
                .map(Authed)
                .ok_or(ApiError::Unauthorized(NOT_PROVIDED))
        })
    }
}

/// A caller that may use the builder hooks: the right `X-Deis-Builder-Auth` header.
#[derive(Debug, Clone)]
pub struct Builder;

impl FromRequest for Builder {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { builder(&req).await })
    }
}

/// Checks the builder's credentials: a token that is sent must be valid, and the
/// `X-Deis-Builder-Auth` header must match (401 without a token, 403 with one). Wrong keys are
/// counted per client address: too many bring 429, the right key included, until the window
/// passes.
pub async fn builder(req: &HttpRequest) -> Result<Builder, ApiError> {
    let user = optional_user(req).await?;
    let Some(state) = req.app_data::<web::Data<ApiState>>() else {
        return Err(ApiError::Unauthorized(NOT_PROVIDED));
    };
    let sent = req
        .headers()
        .get("X-Deis-Builder-Auth")
        .map(|v| v.as_bytes().to_vec());
    let address = sent.as_ref().map(|_| client_address(req, &state.settings));
    if let Some(address) = &address {
        state.platform.check_builder_address(address).await?;
    }
    let matches = match (&state.settings.builder_key, &sent) {
        (Some(key), Some(sent)) if !key.is_empty() => constant_time_eq(key.as_bytes(), sent),
        _ => false,
    };
    if let (false, Some(address)) = (matches, &address) {
        tracing::warn!(client = %address, "builder hook refused: wrong builder key");
        state.platform.builder_key_failed(address).await?;
    }
    match (matches, user) {
        (true, _) => Ok(Builder),
        (false, None) => Err(ApiError::Unauthorized(NOT_PROVIDED)),
        (false, Some(_)) => Err(ApiError::Domain(deis_domain::Error::Forbidden)),
    }
}

/// The client's address for throttling: the connection's peer, or with `trust_forwarded_for`
/// the last `X-Forwarded-For` entry (the one the proxy in front appended).
pub fn client_address(req: &HttpRequest, settings: &ApiSettings) -> String {
    let forwarded = settings
        .trust_forwarded_for
        .then(|| {
            req.headers()
                .get_all("X-Forwarded-For")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .last()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        })
        .flatten();
    forwarded
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
