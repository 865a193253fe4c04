//! Registration, login, password change and account cancellation.

use actix_web::{HttpRequest, HttpResponse, web};
use deis_domain::validate::{self, Collector, REQUIRED};
use deis_domain::{Error, NewUser, StoreError, User};
use serde_json::{Value, json};

use crate::auth::{self, Authed};
use crate::body::Body;
use crate::error::ApiResult;
use crate::state::{ApiState, Registration};
use crate::views::View;

/// A form field as text: strings as sent, numbers and booleans rendered, others refused.
pub(crate) fn text(body: &serde_json::Map<String, Value>, name: &str) -> Result<String, String> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err("Not a valid string.".into()),
    }
}

fn required(body: &serde_json::Map<String, Value>, name: &str) -> Result<String, String> {
    text(body, name).and_then(|s| {
        if s.is_empty() {
            Err(REQUIRED.into())
        } else {
            Ok(s)
        }
    })
}

/// `POST /v1/auth/register`
pub async fn register(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: Body,
) -> ApiResult<HttpResponse> {
    // Under `admin_only` an anonymous registration is the bootstrap of the first
    // administrator: refused once any administrator has existed (the store decides that
    // atomically; an active one makes the refusal cheap).
    let first_admin = match state.settings.registration {
        Registration::Enabled => false,
        Registration::Disabled => return Err(Error::Forbidden.into()),
        Registration::AdminOnly => match auth::optional_user(&req).await {
            Ok(Some(u)) if u.is_superuser => false,
            Ok(Some(_)) => return Err(Error::Forbidden.into()),
            _ => {
                let admins = state
                    .platform
                    .store()
                    .list_admins(deis_domain::PageSel::Number(1))
                    .await?;
                if admins.count > 0 {
                    return Err(Error::Forbidden.into());
                }
                true
            }
        },
    };
    let body = body.object()?;
    let mut errors = Collector::default();
    let username = errors.check(
        "username",
        required(&body, "username").and_then(|u| validate::username(&u).map(|()| u)),
    );
    let password = errors.check(
        "password",
        required(&body, "password").and_then(|p| validate::max_len(&p, 128).map(|()| p)),
    );
    let email = errors.check(
        "email",
        text(&body, "email").and_then(|e| validate::email(&e)),
    );
    let first_name = errors.check(
        "first_name",
        text(&body, "first_name").and_then(|n| validate::max_len(&n, 30).map(|()| n)),
    );
    let last_name = errors.check(
        "last_name",
        text(&body, "last_name").and_then(|n| validate::max_len(&n, 30).map(|()| n)),
    );
    errors.finish()?;
    let (Some(username), Some(password), Some(email), Some(first_name), Some(last_name)) =
        (username, password, email, first_name, last_name)
    else {
        return Err(Error::field("username", REQUIRED).into());
    };
    let cost = state.settings.bcrypt_cost;
    let password_hash = web::block(move || bcrypt::hash(password, cost)).await??;
    let new = NewUser {
        username,
        password_hash,
        email,
        first_name,
        last_name,
    };
    let store = state.platform.store();
    let created = if first_admin {
        store.create_first_admin(new).await
    } else {
        store.create_user(new).await
    };
    match created {
        Ok(user) => Ok(HttpResponse::Created().json(user.view())),
        Err(StoreError::Conflict(field)) if field == "is_superuser" => Err(Error::Forbidden.into()),
        Err(StoreError::Conflict(_)) => {
            Err(Error::field("username", "User with this Username already exists.").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/auth/login/`: failed logins are throttled per username and per client address
/// (429 with `Retry-After`, the right password included, while throttled).
pub async fn login(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: Body,
) -> ApiResult<HttpResponse> {
    auth::optional_user(&req).await?;
    let body = body.object()?;
    let mut errors = Collector::default();
    let username = errors.check("username", required(&body, "username"));
    let password = errors.check("password", required(&body, "password"));
    errors.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(Error::field("username", REQUIRED).into());
    };
    let address = auth::client_address(&req, &state.settings);
    state.platform.begin_login(&username, &address).await?;
    let user = match state.platform.store().user_by_name(&username).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let hash = user
        .as_ref()
        .map_or_else(|| state.dummy_hash.clone(), |u| u.password_hash.clone());
    let matches = web::block(move || bcrypt::verify(password, &hash).unwrap_or(false)).await?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::warn!(username = %username, client = %address, "login failed");
        state.platform.login_failed(&username, &address).await?;
        return Err(Error::field(
            "non_field_errors",
            "Unable to log in with provided credentials.",
        )
        .into());
    };
    state.platform.login_succeeded(&username).await?;
    if !user.is_active {
        return Err(Error::field("non_field_errors", "User account is disabled.").into());
    }
    state.platform.store().touch_login(user.id).await?;
    let token = auth::issue(&state, &user)?;
    Ok(HttpResponse::Ok().json(json!({ "token": token })))
}

/// The user a `username` field names, as the account a request changes (the caller unless
/// an administrator names someone else; 403 for anyone else naming another user).
async fn named_account(
    state: &ApiState,
    caller: &User,
    body: &serde_json::Map<String, Value>,
) -> ApiResult<User> {
    let named = text(body, "username").map_err(|m| Error::field("username", m))?;
    Ok(state
        .platform
        .account_to_change(caller, Some(named.trim()))
        .await?)
}

/// The `new_password` field, required (it may be empty).
fn new_password(body: &serde_json::Map<String, Value>) -> Result<String, String> {
    text(body, "new_password").and_then(|p| {
        if body.get("new_password").is_none_or(Value::is_null) {
            Err(REQUIRED.into())
        } else {
            validate::max_len(&p, 128).map(|()| p)
        }
    })
}

/// `POST /v1/auth/passwd`: the caller changes their password (the current one required); an
/// administrator naming another user with `username` sets that user's without it. Either way
/// the account's earlier tokens stop working.
pub async fn passwd(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    let body = body.object()?;
    let target = named_account(&state, &user, &body).await?;
    let cost = state.settings.bcrypt_cost;
    if target.id != user.id {
        let new = new_password(&body).map_err(|m| Error::field("new_password", m))?;
        let new_hash = web::block(move || bcrypt::hash(new, cost)).await??;
        state
            .platform
            .store()
            .set_password(target.id, &new_hash)
            .await?;
        return Ok(HttpResponse::Ok().json(json!({ "status": "password set" })));
    }
    let mut errors = Collector::default();
    let current = errors.check("password", required(&body, "password"));
    let new = errors.check("new_password", new_password(&body));
    errors.finish()?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(Error::field("password", REQUIRED).into());
    };
    let hash = user.password_hash.clone();
    let new_hash = web::block(move || {
        if bcrypt::verify(current, &hash).unwrap_or(false) {
            bcrypt::hash(new, cost).map(Some)
        } else {
            Ok(None)
        }
    })
    .await??;
    let Some(new_hash) = new_hash else {
        return Err(Error::Rejected("Current password did not match".into()).into());
    };
    state
        .platform
        .store()
        .set_password(user.id, &new_hash)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "password set" })))
}

/// `DELETE /v1/auth/cancel`: cancels the caller's account, or, for an administrator whose
/// body names another user with `username`, that user's (409 while they own apps). A
/// non-administrator naming someone else gets 403; nobody is deleted in their place.
pub async fn cancel(
    state: web::Data<ApiState>,
    Authed(user): Authed,
    body: Body,
) -> ApiResult<HttpResponse> {
    let body = body.object()?;
    let named = text(&body, "username").map_err(|m| Error::field("username", m))?;
    state
        .platform
        .cancel_account(&user, Some(named.trim()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/`
pub async fn root(_: Authed) -> HttpResponse {
    HttpResponse::Ok().json(json!({}))
}
