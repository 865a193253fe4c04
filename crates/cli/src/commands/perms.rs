//! `perms:list`, `perms:create`, `perms:delete`: who may use an app, and who administers.

use clap::Args;
use serde_json::json;

use super::{AppOpt, Ctx};
use crate::client::Client;
use crate::error::Result;
use crate::output::{header, value_text};
use crate::progress::Progress;

/// Options of `perms:list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// List the administrators instead.
    #[arg(long, conflicts_with = "app")]
    pub admin: bool,
}

/// Options of `perms:create` and `perms:delete`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// The user to grant or revoke.
    pub username: String,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Grant or revoke administrator rights instead of the use of an app.
    #[arg(long, conflicts_with = "app")]
    pub admin: bool,
}

/// Where a grant lives: an app's collaborators or the administrators.
enum Target {
    App(String),
    Admins,
}

fn target(ctx: &Ctx, opt: &AppOpt, admin: bool) -> Result<(Target, Client)> {
    if admin {
        Ok((Target::Admins, ctx.client()?))
    } else {
        let (app, client) = ctx.app_client(opt)?;
        Ok((Target::App(app), client))
    }
}

/// `deis perms:list [--app=APP | --admin]`.
pub fn list(ctx: &mut Ctx, a: ListArgs) -> Result<()> {
    let (target, client) = target(ctx, &a.app, a.admin)?;
    let (title, users) = match &target {
        Target::Admins => {
            let admins = client.get_all(&["admin", "perms"])?;
            let names = admins.iter().map(|u| value_text(&u["username"])).collect();
            ("Administrators".to_owned(), names)
        }
        Target::App(app) => {
            let data = client.get(&["apps", app, "perms"])?;
            let names: Vec<String> = data["users"]
                .as_array()
                .map(|users| users.iter().map(value_text).collect())
                .unwrap_or_default();
            (format!("{app}'s Users"), names)
        }
    };
    ctx.say(&header(&title));
    if users.is_empty() {
        ctx.say("No users");
    }
    ctx.say_all(&users);
    ctx.emit(&json!({"users": users}));
    Ok(())
}

/// `deis perms:create <user> [--app=APP | --admin]`.
pub fn create(ctx: &mut Ctx, a: UserArgs) -> Result<()> {
    let (target, client) = target(ctx, &a.app, a.admin)?;
    let (path, message) = match &target {
        Target::Admins => (
            vec!["admin", "perms"],
            format!("Adding {} to system administrators... ", a.username),
        ),
        Target::App(app) => (
            vec!["apps", app.as_str(), "perms"],
            format!("Adding {} to {app} collaborators... ", a.username),
        ),
    };
    let progress = Progress::start(&message, ctx.json);
    client.post(&path, &json!({"username": a.username}), &[201])?;
    progress.done("done");
    Ok(())
}

/// `deis perms:delete <user> [--app=APP | --admin]`.
pub fn delete(ctx: &mut Ctx, a: UserArgs) -> Result<()> {
    let (target, client) = target(ctx, &a.app, a.admin)?;
    let (path, message) = match &target {
        Target::Admins => (
            vec!["admin", "perms", a.username.as_str()],
            format!("Removing {} from system administrators... ", a.username),
        ),
        Target::App(app) => (
            vec!["apps", app.as_str(), "perms", a.username.as_str()],
            format!("Removing {} from {app} collaborators... ", a.username),
        ),
    };
    let progress = Progress::start(&message, ctx.json);
    client.delete(&path, &[204])?;
    progress.done("done");
    Ok(())
}
