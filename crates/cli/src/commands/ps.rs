//! `ps:list`, `ps:scale`.

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
