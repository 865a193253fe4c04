//! `limits:list`, `limits:set`, `limits:unset`: memory and CPU limits per process type.

use clap::Args;
use serde_json::{Value, json};

use super::{AppOpt, Ctx, config};
use crate::error::Result;
use crate::kv;
use crate::output::{self, header};

/// Options of `limits:set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Set CPU shares (e.g. `web=512`) instead of memory.
    #[arg(short = 'c', long, conflicts_with = "memory")]
    pub cpu: bool,
    /// Set memory (e.g. `web=512M`; units B, K, M, G); the default.
    #[arg(short = 'm', long)]
    pub memory: bool,
    /// Limits per process type.
    #[arg(required = true, value_name = "TYPE=LIMIT")]
    pub pairs: Vec<String>,
}

/// Options of `limits:unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Unset CPU shares instead of memory.
    #[arg(short = 'c', long, conflicts_with = "memory")]
    pub cpu: bool,
    /// Unset memory limits; the default.
    #[arg(short = 'm', long)]
    pub memory: bool,
    /// Process types to unset.
    #[arg(required = true, value_name = "TYPE")]
    pub types: Vec<String>,
}

/// The lines of `=== app Limits`.
pub fn lines(app: &str, config: &Value) -> Vec<String> {
    let mut lines = vec![header(&format!("{app} Limits"))];
    for (title, field) in [("Memory", "memory"), ("CPU", "cpu")] {
        lines.push(String::new());
        lines.push(format!("--- {title}"));
        let map = output::object_field(config, field);
        if map.is_empty() {
            lines.push("Unlimited".to_owned());
        }
        lines.extend(output::aligned(&map));
    }
    lines
}

fn field(cpu: bool) -> &'static str {
    if cpu { "cpu" } else { "memory" }
}

/// `deis limits:list`.
pub fn list(ctx: &mut Ctx, opt: &AppOpt) -> Result<()> {
    let (app, client) = ctx.app_client(opt)?;
    let config = client.get(&["apps", &app, "config"])?;
    ctx.say_all(&lines(&app, &config));
    ctx.emit(&json!({
        "memory": output::object_field(&config, "memory"),
        "cpu": output::object_field(&config, "cpu"),
    }));
    Ok(())
}

/// `deis limits:set [--cpu] type=limit...`.
pub fn set(ctx: &mut Ctx, a: SetArgs) -> Result<()> {
    let limits = kv::parse_pairs(&a.pairs, "type=limit")?;
    let (app, client) = ctx.app_client(&a.app)?;
    let config = config::change(
        ctx,
        &client,
        &app,
        field(a.cpu),
        limits,
        "Applying limits... ",
    )?;
    ctx.say_all(&lines(&app, &config));
    Ok(())
}

/// `deis limits:unset [--cpu] type...`.
pub fn unset(ctx: &mut Ctx, a: UnsetArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    let nulls = kv::nulls(&a.types);
    let config = config::change(
        ctx,
        &client,
        &app,
        field(a.cpu),
        nulls,
        "Applying limits... ",
    )?;
    ctx.say_all(&lines(&app, &config));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_show_memory_then_cpu() {
        let config = json!({"memory": {"web": "512M"}, "cpu": {}});
        assert_eq!(
            lines("myapp", &config),
            [
                "=== myapp Limits",
                "",
                "--- Memory",
                "web      512M",
                "",
                "--- CPU",
                "Unlimited",
            ]
        );
    }
}
