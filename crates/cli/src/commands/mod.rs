//! The commands, one module per group, and what they share: the session context and the
//! `--app` option.

pub mod apps;
pub mod auth;
pub mod builds;
pub mod certs;
pub mod config;
pub mod domains;
pub mod keys;
pub mod limits;
pub mod perms;
pub mod ps;
pub mod releases;
pub mod tags;
pub mod users;

use clap::Args;
use serde_json::Value;

use crate::cli::{Command, SHORTCUTS};
use crate::client::{Client, Reply};
use crate::error::Result;
use crate::git;
use crate::output;
use crate::settings::Settings;

/// The `-a/--app` option of app commands.
#[derive(Debug, Clone, Default, Args)]
pub struct AppOpt {
    /// The uniquely identifiable name of the application.
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub app: Option<String>,
}

/// What every command works with: the settings and the output mode.
pub struct Ctx {
    /// The settings file and session.
    pub settings: Settings,
    /// `--json`: machine-readable output only.
    pub json: bool,
}

impl Ctx {
    /// A client with the stored session, or the "not logged in" error.
    pub fn client(&self) -> Result<Client> {
        let (controller, token) = self.settings.credentials()?;
        Client::authenticated(controller, token)
    }

    /// Resolves the app of `opt` and returns it with a client whose errors mention it.
    pub fn app_client(&self, opt: &AppOpt) -> Result<(String, Client)> {
        let client = self.client()?;
        let app = git::resolve_app(opt.app.as_deref())?;
        let mut client = client.for_app(&app);
        if opt.app.is_none() && git::app_from_remote().is_none() {
            client = client.guessed();
        }
        Ok((app, client))
    }

    /// Prints a line of the human layout (nothing with `--json`).
    pub fn say(&self, line: &str) {
        if !self.json {
            output::say(line);
        }
    }

    /// Prints lines of the human layout (nothing with `--json`).
    pub fn say_all(&self, lines: &[String]) {
        for line in lines {
            self.say(line);
        }
    }

    /// Prints `value` when `--json` was asked for.
    pub fn emit(&self, value: &Value) {
        if self.json {
            output::print_json(value);
        }
    }

    /// Prints the controller's JSON answer when `--json` was asked for (decoding it only
    /// then, so that an empty body never fails a human-layout command).
    pub fn emit_reply(&self, reply: &Reply) -> Result<()> {
        if self.json {
            output::print_json(&reply.json()?);
        }
        Ok(())
    }
}

/// Runs one command; returns the exit code (non-zero only for `apps:run`).
pub fn run(ctx: &mut Ctx, command: Command) -> Result<i32> {
    use Command as C;
    match command {
        C::Register(a) => auth::register(ctx, a),
        C::Login(a) => auth::login(ctx, a),
        C::Logout => auth::logout(ctx),
        C::Whoami => auth::whoami(ctx),
        C::Completion(a) => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut command, "deis", &mut std::io::stdout());
            Ok(())
        }
        C::Passwd(a) => auth::passwd(ctx, a),
        C::Cancel(a) => auth::cancel(ctx, a),
        C::Regenerate(a) => auth::regenerate(ctx, a),

        C::Apps | C::AppsList => apps::list(ctx),
        C::AppsCreate(a) => apps::create(ctx, a),
        C::AppsInfo(a) => apps::info(ctx, &a.app),
        C::AppsDestroy(a) => apps::destroy(ctx, a),
        C::AppsLogs(a) => apps::logs(ctx, a),
        C::AppsRun(a) => return apps::run(ctx, a),
        C::AppsOpen(a) => apps::open(ctx, &a.app),
        C::AppsTransfer(a) => apps::transfer(ctx, a),
        C::GitRemote(a) => apps::git_remote(ctx, a),

        C::Config(a) | C::ConfigList(a) => config::list(ctx, a),
        C::ConfigSet(a) => config::set(ctx, a),
        C::ConfigUnset(a) => config::unset(ctx, a),
        C::ConfigGet(a) => config::get(ctx, a),
        C::ConfigPull(a) => config::pull(ctx, a),
        C::ConfigPush(a) => config::push(ctx, a),

        C::Limits(a) | C::LimitsList(a) => limits::list(ctx, &a.app),
        C::LimitsSet(a) => limits::set(ctx, a),
        C::LimitsUnset(a) => limits::unset(ctx, a),

        C::Tags(a) | C::TagsList(a) => tags::list(ctx, &a.app),
        C::TagsSet(a) => tags::set(ctx, a),
        C::TagsUnset(a) => tags::unset(ctx, a),

        C::Builds(a) | C::BuildsList(a) => builds::list(ctx, &a.app),
        C::BuildsCreate(a) => builds::create(ctx, a),

        C::Releases(a) | C::ReleasesList(a) => releases::list(ctx, &a.app),
        C::ReleasesInfo(a) => releases::info(ctx, a),
        C::ReleasesRollback(a) => releases::rollback(ctx, a),

        C::Ps(a) | C::PsList(a) => ps::list(ctx, &a.app),
        C::PsScale(a) => ps::scale(ctx, a),
        C::PsRestart(a) => ps::restart(ctx, a),

        C::Domains(a) | C::DomainsList(a) => domains::list(ctx, &a.app),
        C::DomainsAdd(a) => domains::add(ctx, a),
        C::DomainsRemove(a) => domains::remove(ctx, a),

        C::Keys | C::KeysList => keys::list(ctx),
        C::KeysAdd(a) => keys::add(ctx, a),
        C::KeysRemove(a) => keys::remove(ctx, a),

        C::Perms(a) | C::PermsList(a) => perms::list(ctx, a),
        C::PermsCreate(a) => perms::create(ctx, a),
        C::PermsDelete(a) => perms::delete(ctx, a),

        C::Users | C::UsersList => users::list(ctx),

        C::Certs | C::CertsList => certs::list(ctx),
        C::CertsAdd(a) => certs::add(ctx, a),
        C::CertsInfo(a) => certs::info(ctx, a),
        C::CertsRemove(a) => certs::remove(ctx, a),

        C::Shortcuts => {
            shortcuts(ctx);
            Ok(())
        }
    }
    .map(|()| 0)
}

fn shortcuts(ctx: &Ctx) {
    ctx.say("Valid shortcuts are:\n");
    for (short, long) in SHORTCUTS {
        if !short.contains(':') {
            ctx.say(&format!("{short:<10} -> {long}"));
        }
    }
    ctx.say("\nUse `deis help [command]` to learn more");
    ctx.emit(&Value::Object(
        SHORTCUTS
            .iter()
            .map(|(s, l)| ((*s).to_owned(), Value::from(*l)))
            .collect(),
    ));
}
