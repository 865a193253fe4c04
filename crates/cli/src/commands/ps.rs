//! `ps:list`, `ps:scale`, `ps:restart`.

use clap::Args;
use serde_json::{Map, Value};

use super::{AppOpt, Ctx};
use crate::client::Client;
use crate::error::{Result, usage};
use crate::output;
use crate::progress::Progress;

/// Options of `ps:scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Wanted counts per process type, e.g. `web=3 worker=1`.
    #[arg(required = true, value_name = "TYPE=N")]
    pub pairs: Vec<String>,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
}

/// Options of `ps:restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// What to restart: a process type (`web`) or one process (`web.2`); everything when
    /// missing.
    #[arg(value_name = "TYPE[.NUM]")]
    pub target: Option<String>,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
}

/// The path segments under `/v1/apps/<app>/containers/` that restart `target`.
pub fn restart_path(target: Option<&str>) -> Result<Vec<String>> {
    let Some(target) = target else {
        return Ok(vec!["restart".into(), String::new()]);
    };
    let bad = || {
        usage(format!(
            "expected a process type or type.number, got \"{target}\" (e.g. web or web.2)"
        ))
    };
    let (kind, num) = match target.split_once('.') {
        Some((kind, num)) => (kind, Some(num.parse::<u32>().map_err(|_| bad())?)),
        None => (target, None),
    };
    if kind.is_empty()
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad());
    }
    let mut path = vec![kind.to_owned()];
    path.extend(num.map(|n| n.to_string()));
    path.extend(["restart".to_owned(), String::new()]);
    Ok(path)
}

/// Reads `type=N` arguments into the body of a scale request.
pub fn parse_scale(pairs: &[String]) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    for pair in pairs {
        let parsed = pair
            .split_once('=')
            .filter(|(kind, _)| !kind.is_empty())
            .and_then(|(kind, n)| n.parse::<u32>().ok().map(|n| (kind, n)));
        let Some((kind, n)) = parsed else {
            return Err(usage(format!(
                "expected type=N with a count of 0 or more, got \"{pair}\" (e.g. web=2)"
            )));
        };
        body.insert(kind.to_owned(), Value::from(n));
    }
    Ok(body)
}

fn show(ctx: &Ctx, client: &Client, app: &str) -> Result<()> {
    let containers = client.get_all(&["apps", app, "containers"])?;
    ctx.say_all(&output::process_blocks(app, &containers));
    ctx.emit(&Value::Array(containers));
    Ok(())
}

/// `deis ps:list`.
pub fn list(ctx: &mut Ctx, opt: &AppOpt) -> Result<()> {
    let (app, client) = ctx.app_client(opt)?;
    show(ctx, &client, &app)
}

/// `deis ps:scale type=N...`: scales, then lists the processes.
pub fn scale(ctx: &mut Ctx, a: ScaleArgs) -> Result<()> {
    let body = parse_scale(&a.pairs)?;
    let (app, client) = ctx.app_client(&a.app)?;
    let progress = Progress::start("Scaling processes... ", ctx.json);
    client.post(&["apps", &app, "scale"], &Value::Object(body), &[204])?;
    let secs = progress.elapsed_secs();
    progress.done(&format!("done in {secs}s"));
    ctx.say("");
    show(ctx, &client, &app)
}

/// `deis ps:restart [TYPE[.NUM]]`: new containers of the same release, then the list.
pub fn restart(ctx: &mut Ctx, a: RestartArgs) -> Result<()> {
    let tail = restart_path(a.target.as_deref())?;
    let (app, client) = ctx.app_client(&a.app)?;
    let client = client.v17();
    let mut path = vec!["apps", app.as_str(), "containers"];
    path.extend(tail.iter().map(String::as_str));
    let progress = Progress::start("Restarting processes... ", ctx.json);
    client.post(&path, &Value::Object(Map::new()), &[200])?;
    let secs = progress.elapsed_secs();
    progress.done(&format!("done in {secs}s"));
    ctx.say("");
    show(ctx, &client, &app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restart_targets_become_paths() {
        assert_eq!(restart_path(None).unwrap(), ["restart", ""]);
        assert_eq!(restart_path(Some("web")).unwrap(), ["web", "restart", ""]);
        assert_eq!(
            restart_path(Some("web.2")).unwrap(),
            ["web", "2", "restart", ""]
        );
        for bad in ["web.x", ".2", "web.", "a/b", "web.-1"] {
            assert_eq!(restart_path(Some(bad)).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn scale_arguments_become_counts() {
        let body = parse_scale(&["web=3".into(), "worker=0".into()]).unwrap();
        assert_eq!(Value::Object(body), json!({"web": 3, "worker": 0}));
        for bad in ["web", "web=-1", "web=two", "=2"] {
            assert_eq!(
                parse_scale(&[bad.into()]).unwrap_err().exit_code(),
                2,
                "{bad}"
            );
        }
    }
}
