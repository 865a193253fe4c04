//! `deis`, the command-line client of a Deis v1 compatible controller.
//!
//! It keeps the command set, argument syntax, settings file and output layout of the
//! original Deis v1 client, so that habits and scripts carry over: `deis login <controller>`,
//! `deis apps:create`, `deis config:set KEY=VALUE -a APP`, `deis ps:scale web=2`, ...
//! It adds `--json` on every read, a spinner on slow deploys and exit codes scripts can rely
//! on: 0 ok, 1 API or network error, 2 usage error.
//!
//! Module map: `cli` declares the command line; `commands` runs each group of commands;
//! `client` speaks HTTP to the controller; `settings` keeps `~/.deis/client.json`; `output`,
//! `progress` and `prompt` talk to the person at the terminal; `git` and `kv` read the
//! surroundings (git remotes, `KEY=VALUE` arguments, `.env` files).

mod attach;
mod cli;
mod client;
mod commands;
mod error;
mod git;
mod kv;
mod output;
mod progress;
mod prompt;
mod settings;
#[cfg(test)]
mod testserver;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Ctx;
use crate::error::CliError;
use crate::settings::Settings;

fn main() -> ExitCode {
    let cli = cli::Cli::try_parse().unwrap_or_else(|e| e.exit());
    let code = match Settings::load_default() {
        Ok(settings) => {
            let mut ctx = Ctx {
                settings,
                json: cli.json,
            };
            commands::run(&mut ctx, cli.command)
        }
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| report(&e));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Prints an error on one line of standard error and returns its exit code.
fn report(e: &CliError) -> i32 {
    output::end_pending_line();
    eprintln!("Error: {e}");
    e.exit_code()
}
