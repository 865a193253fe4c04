//! `domains:list`, `domains:add`, `domains:remove`.

use clap::Args;
use serde_json::{Value, json};

use super::{AppOpt, Ctx};
use crate::error::Result;
use crate::output::{header, value_text};
use crate::progress::Progress;

/// Options of `domains:add` and `domains:remove`.
#[derive(Debug, Args)]
pub struct DomainArgs {
    /// The domain name, e.g. `www.example.com`.
    pub domain: String,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
}

/// The lines of `=== app Domains`.
pub fn lines(app: &str, domains: &[Value]) -> Vec<String> {
    let mut lines = vec![header(&format!("{app} Domains"))];
    if domains.is_empty() {
        lines.push("No domains".to_owned());
    }
    lines.extend(domains.iter().map(|d| value_text(&d["domain"])));
    lines
}

/// `deis domains:list`.
pub fn list(ctx: &mut Ctx, opt: &AppOpt) -> Result<()> {
    let (app, client) = ctx.app_client(opt)?;
    let domains = client.get_all(&["apps", &app, "domains"])?;
    ctx.say_all(&lines(&app, &domains));
    ctx.emit(&Value::Array(domains));
    Ok(())
}

/// `deis domains:add <domain>`.
pub fn add(ctx: &mut Ctx, a: DomainArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    let progress = Progress::start(&format!("Adding {} to {app}... ", a.domain), ctx.json);
    let reply = client.post(
        &["apps", &app, "domains"],
        &json!({"domain": a.domain}),
        &[201],
    )?;
    progress.done("done");
    ctx.emit_reply(&reply)
}

/// `deis domains:remove <domain>`.
pub fn remove(ctx: &mut Ctx, a: DomainArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    let progress = Progress::start(&format!("Removing {} from {app}... ", a.domain), ctx.json);
    client.delete(&["apps", &app, "domains", &a.domain], &[204])?;
    progress.done("done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_listed_or_reported_missing() {
        assert_eq!(
            lines("a", &[json!({"domain": "www.example.com"})]),
            ["=== a Domains", "www.example.com"]
        );
        assert_eq!(lines("a", &[]), ["=== a Domains", "No domains"]);
    }
}
