//! `releases:list`, `releases:info`, `releases:rollback`.

use clap::Args;
use serde_json::{Value, json};

use super::{AppOpt, Ctx};
use crate::error::{Result, usage};
use crate::output::{self, header, value_text};
use crate::progress::Progress;

/// Options of `releases:info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The release, e.g. `v3` (or `3`).
    pub version: String,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
}

/// Options of `releases:rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The release to return to, e.g. `v2`; default: the one before the latest.
    pub version: Option<String>,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
}

/// Reads `v3` or `3` as the version number 3.
pub fn parse_version(text: &str) -> Result<u64> {
    let digits = text.strip_prefix(['v', 'V']).unwrap_or(text);
    match digits.parse::<u64>() {
        Ok(n) if !digits.starts_with('+') => Ok(n),
        _ => Err(usage(format!(
            "\"{text}\" is not a release version; use e.g. v2"
        ))),
    }
}

/// `deis releases:list`.
pub fn list(ctx: &mut Ctx, opt: &AppOpt) -> Result<()> {
    let (app, client) = ctx.app_client(opt)?;
    let releases = client.get_all(&["apps", &app, "releases"])?;
    ctx.say(&header(&format!("{app} Releases")));
    let now = output::now_unix();
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            vec![
                format!("v{}", value_text(&r["version"])),
                output::readable_datetime(&value_text(&r["created"]), now),
                value_text(&r["summary"]),
            ]
        })
        .collect();
    ctx.say_all(&output::columns(&rows));
    ctx.emit(&Value::Array(releases));
    Ok(())
}

/// `deis releases:info <vN>`.
pub fn info(ctx: &mut Ctx, a: InfoArgs) -> Result<()> {
    let version = parse_version(&a.version)?;
    let (app, client) = ctx.app_client(&a.app)?;
    let release = client.get(&["apps", &app, "releases", &format!("v{version}")])?;
    let now = output::now_unix();
    let build = match &release["build"] {
        Value::Null => "none".to_owned(),
        other => value_text(other),
    };
    ctx.say(&header(&format!("{app} Release v{version}")));
    ctx.say_all(&output::fields(&[
        ("version", format!("v{}", value_text(&release["version"]))),
        ("summary", value_text(&release["summary"])),
        ("owner", value_text(&release["owner"])),
        ("build", build),
        ("config", value_text(&release["config"])),
        (
            "created",
            output::readable_datetime(&value_text(&release["created"]), now),
        ),
        ("uuid", value_text(&release["uuid"])),
    ]));
    ctx.emit(&release);
    Ok(())
}

/// `deis releases:rollback [vN]`.
pub fn rollback(ctx: &mut Ctx, a: RollbackArgs) -> Result<()> {
    let version = a.version.as_deref().map(parse_version).transpose()?;
    let (app, client) = ctx.app_client(&a.app)?;
    let (body, message) = match version {
        Some(v) => (json!({"version": v}), format!("Rolling back to v{v}... ")),
        None => (json!({}), "Rolling back one release... ".to_owned()),
    };
    let progress = Progress::start(&message, ctx.json);
    let reply = client.post(&["apps", &app, "releases", "rollback"], &body, &[201])?;
    let answer = reply.json()?;
    progress.done(&format!("done, v{}", value_text(&answer["version"])));
    ctx.emit(&answer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_with_or_without_v() {
        assert_eq!(parse_version("v2").unwrap(), 2);
        assert_eq!(parse_version("12").unwrap(), 12);
        assert_eq!(parse_version("v").unwrap_err().exit_code(), 2);
        assert!(parse_version("two").is_err());
        assert!(parse_version("v+2").is_err());
        assert!(parse_version("-1").is_err());
    }
}
