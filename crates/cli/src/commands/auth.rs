//! `register`, `login`, `logout`, `auth:whoami`, `auth:passwd`, `auth:cancel`,
//! `auth:regenerate`.

use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::client::{Client, normalize_controller};
use crate::error::{Result, other};
use crate::prompt;
use crate::settings::NOT_LOGGED_IN;

/// Options of `register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Controller URL, e.g. `http://deis.example.com` (`http://` is added when missing).
    pub controller: String,
    /// Username of the new account (asked when missing).
    #[arg(long)]
    pub username: Option<String>,
    /// Password of the new account (asked twice when missing).
    #[arg(long)]
    pub password: Option<String>,
    /// E-mail address (asked when missing at a terminal; may be empty).
    #[arg(long)]
    pub email: Option<String>,
}

/// Options of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Controller URL, e.g. `http://deis.example.com` (`http://` is added when missing).
    pub controller: String,
    /// Username (asked when missing).
    #[arg(long)]
    pub username: Option<String>,
    /// Password (asked when missing).
    #[arg(long)]
    pub password: Option<String>,
}

/// Options of `auth:passwd`.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Set this user's password instead (administrators; no current password needed).
    #[arg(long)]
    pub username: Option<String>,
    /// The current password (asked when missing).
    #[arg(long)]
    pub password: Option<String>,
    /// The new password (asked twice when missing).
    #[arg(long = "new-password", value_name = "NEW_PASSWORD")]
    pub new_password: Option<String>,
}

/// Options of `auth:cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Username of the account (default: the logged-in user). An administrator naming
    /// another user without `--password` cancels that user's account, never their own.
    #[arg(long)]
    pub username: Option<String>,
    /// Password of the account, to confirm who is cancelling (asked when missing).
    #[arg(long)]
    pub password: Option<String>,
    /// Answer "yes" to the confirmation question.
    #[arg(long)]
    pub yes: bool,
}

/// Options of `auth:regenerate`.
#[derive(Debug, Args)]
pub struct RegenerateArgs {
    /// Regenerate this user's token instead (administrators).
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Regenerate every user's token (administrators).
    #[arg(long, conflicts_with = "username")]
    pub all: bool,
}

/// `deis register <controller>`: creates the account, then logs in.
pub fn register(ctx: &mut Ctx, a: RegisterArgs) -> Result<()> {
    let controller = normalize_controller(&a.controller)?;
    let username = match a.username {
        Some(u) => u,
        None => prompt::ask("username: ", "a username", "--username=USERNAME")?,
    };
    let password = match a.password {
        Some(p) => p,
        None => prompt::ask_new_password("password", "a password", "--password=PASSWORD")?,
    };
    let email = match a.email {
        Some(e) => e,
        None if prompt::interactive() => prompt::ask("email: ", "an e-mail", "--email=EMAIL")?,
        None => String::new(),
    };
    let client = Client::anonymous(&controller)?;
    client
        .post_form(
            &["auth", "register"],
            &[
                ("username", &username),
                ("password", &password),
                ("email", &email),
            ],
            &[201],
        )
        .map_err(|e| e.context("Registration failed"))?;
    ctx.say(&format!("Registered {username}"));
    log_in(ctx, &client, &controller, &username, &password)
}

/// `deis login <controller>`: obtains a token and stores the session.
pub fn login(ctx: &mut Ctx, a: LoginArgs) -> Result<()> {
    let controller = normalize_controller(&a.controller)?;
    let username = match a.username {
        Some(u) => u,
        None => prompt::ask("username: ", "a username", "--username=USERNAME")?,
    };
    let password = match a.password {
        Some(p) => p,
        None => prompt::ask_password("password: ", "a password", "--password=PASSWORD")?,
    };
    let client = Client::anonymous(&controller)?;
    log_in(ctx, &client, &controller, &username, &password)
}

/// Asks the controller for a token.
fn obtain_token(client: &Client, username: &str, password: &str) -> Result<String> {
    let reply = client
        .post_form(
            &["auth", "login", ""],
            &[("username", username), ("password", password)],
            &[200],
        )
        .map_err(|e| e.context("Login failed"))?;
    match reply.json()?.get("token").and_then(|t| t.as_str()) {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => Err(other("Login failed: the controller sent no token")),
    }
}

/// Logs in and stores the session.
fn log_in(
    ctx: &mut Ctx,
    client: &Client,
    controller: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    let token = obtain_token(client, username, password)?;
    let session = &mut ctx.settings.session;
    session.controller = Some(controller.to_owned());
    session.username = Some(username.to_owned());
    session.token = Some(token);
    ctx.settings.save()?;
    ctx.say(&format!("Logged in as {username}"));
    ctx.emit(&json!({"username": username, "controller": controller}));
    Ok(())
}

/// Forgets the session.
fn forget_session(ctx: &mut Ctx) -> Result<()> {
    let session = &mut ctx.settings.session;
    session.controller = None;
    session.username = None;
    session.token = None;
    ctx.settings.save()
}

/// `deis logout`: forgets the token (the API has no logout call).
pub fn logout(ctx: &mut Ctx) -> Result<()> {
    forget_session(ctx)?;
    ctx.say("Logged out");
    Ok(())
}

/// `deis auth:whoami`: the stored user's name (with `--json`, also the controller).
pub fn whoami(ctx: &mut Ctx) -> Result<()> {
    let (controller, _) = ctx.settings.credentials()?;
    let username = ctx.settings.session.username.as_deref().unwrap_or_default();
    ctx.say(username);
    ctx.emit(&json!({"username": username, "controller": controller}));
    Ok(())
}

/// The user named by `--username` when it is not the logged-in one.
fn someone_else(ctx: &Ctx, named: Option<&str>) -> Option<String> {
    let me = ctx.settings.session.username.as_deref().unwrap_or_default();
    named
        .filter(|n| !n.is_empty() && *n != me)
        .map(str::to_owned)
}

/// `deis auth:passwd`: changes the password, then logs in again, since the controller
/// revokes tokens issued before a password change. With `--username` naming another user, an
/// administrator sets that user's password (API v1.7) and stays logged in.
pub fn passwd(ctx: &mut Ctx, a: PasswdArgs) -> Result<()> {
    let client = ctx.client()?;
    let controller = ctx.settings.credentials()?.0.to_owned();
    if let Some(other_user) = someone_else(ctx, a.username.as_deref()) {
        let new_password = match a.new_password {
            Some(p) => p,
            None => prompt::ask_new_password(
                "new password",
                "a new password",
                "--new-password=PASSWORD",
            )?,
        };
        client
            .v17()
            .post(
                &["auth", "passwd", ""],
                &json!({"username": other_user, "new_password": new_password}),
                &[200],
            )
            .map_err(|e| e.context("Password change failed"))?;
        ctx.say("Password change succeeded.");
        return Ok(());
    }
    let username = ctx.settings.session.username.clone().unwrap_or_default();
    let password = match a.password {
        Some(p) => p,
        None => prompt::ask_password(
            "current password: ",
            "the current password",
            "--password=PASSWORD",
        )?,
    };
    let new_password = match a.new_password {
        Some(p) => p,
        None => {
            prompt::ask_new_password("new password", "a new password", "--new-password=PASSWORD")?
        }
    };
    client
        .post(
            &["auth", "passwd"],
            &json!({"username": username, "password": password, "new_password": new_password}),
            &[200],
        )
        .map_err(|e| e.context("Password change failed"))?;
    ctx.say("Password change succeeded.");
    let anonymous = Client::anonymous(&controller)?;
    match obtain_token(&anonymous, &username, &new_password) {
        Ok(token) => {
            ctx.settings.session.token = Some(token);
            ctx.settings.save()
        }
        Err(e) => Err(e.context("the password was changed, but logging in again failed")),
    }
}

/// Asks whether to cancel `username`'s account unless `--yes` said so.
fn confirmed(username: &str, controller: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    let answer = prompt::ask(
        &format!("Cancel account \"{username}\" at {controller}? (y/N) "),
        "a confirmation",
        "--yes",
    )?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `deis auth:cancel`: checks the password, asks for confirmation, deletes the account. An
/// administrator naming another user (without that user's password) cancels that account
/// through API v1.7 and stays logged in.
pub fn cancel(ctx: &mut Ctx, a: CancelArgs) -> Result<()> {
    let controller = match ctx.settings.session.controller.clone() {
        Some(c) if !c.is_empty() => c,
        _ => return Err(other(NOT_LOGGED_IN)),
    };
    if a.password.is_none()
        && let Some(other_user) = someone_else(ctx, a.username.as_deref())
    {
        let client = ctx.client()?.v17();
        if !confirmed(&other_user, &controller, a.yes)? {
            ctx.say("Account not changed");
            return Ok(());
        }
        client.delete_with(
            &["auth", "cancel", ""],
            &json!({"username": other_user}),
            &[204],
        )?;
        ctx.say("Account cancelled");
        return Ok(());
    }
    let me = ctx.settings.session.username.clone();
    let username = match a.username.or_else(|| ctx.settings.session.username.clone()) {
        Some(u) => u,
        None => prompt::ask("username: ", "a username", "--username=USERNAME")?,
    };
    let password = match a.password {
        Some(p) => p,
        None => {
            if prompt::interactive() {
                eprintln!("Please enter your password again in order to cancel this account");
            }
            prompt::ask_password(
                "password: ",
                "the account's password",
                "--password=PASSWORD",
            )?
        }
    };
    let token = obtain_token(&Client::anonymous(&controller)?, &username, &password)?;
    if !confirmed(&username, &controller, a.yes)? {
        ctx.say("Account not changed");
        return Ok(());
    }
    Client::authenticated(&controller, &token)?.delete(&["auth", "cancel"], &[204])?;
    if me.is_none_or(|me| me == username) {
        forget_session(ctx)?;
    }
    ctx.say("Account cancelled");
    Ok(())
}

/// `deis auth:regenerate [--username U | --all]`: a new token (API v1.7); earlier ones stop
/// working. The caller's own new token (also after `--all`) is stored as the session's.
pub fn regenerate(ctx: &mut Ctx, a: RegenerateArgs) -> Result<()> {
    let client = ctx.client()?.v17();
    let other_user = someone_else(ctx, a.username.as_deref());
    let body = match (&other_user, a.all) {
        (_, true) => json!({"all": true}),
        (Some(u), false) => json!({"username": u}),
        (None, false) => json!({}),
    };
    let reply = client.post(&["auth", "tokens", ""], &body, &[200])?;
    let answer = reply.json()?;
    if other_user.is_none() || a.all {
        match answer.get("token").and_then(|t| t.as_str()) {
            Some(token) if !token.is_empty() => {
                ctx.settings.session.token = Some(token.to_owned());
                ctx.settings.save()?;
            }
            _ => return Err(other("the controller sent no token")),
        }
    }
    ctx.say("Token regenerated");
    ctx.emit(&answer);
    Ok(())
}
