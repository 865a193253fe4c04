//! `tags:list`, `tags:set`, `tags:unset`: tags that place an app's containers.

use clap::Args;
use serde_json::Value;

use super::{AppOpt, Ctx, config};
use crate::error::Result;
use crate::kv;
use crate::output::{self, header};

/// Options of `tags:set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Tags to set, e.g. `environ=prod`.
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
}

/// Options of `tags:unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Tags to remove.
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
}

/// The lines of `=== app Tags`.
pub fn lines(app: &str, config: &Value) -> Vec<String> {
    let tags = output::object_field(config, "tags");
    let mut lines = vec![header(&format!("{app} Tags"))];
    if tags.is_empty() {
        lines.push("No tags defined".to_owned());
    }
    lines.extend(output::aligned(&tags));
    lines
}

/// `deis tags:list`.
pub fn list(ctx: &mut Ctx, opt: &AppOpt) -> Result<()> {
    let (app, client) = ctx.app_client(opt)?;
    let config = client.get(&["apps", &app, "config"])?;
    ctx.say_all(&lines(&app, &config));
    ctx.emit(&Value::Object(output::object_field(&config, "tags")));
    Ok(())
}

/// `deis tags:set key=value...`.
pub fn set(ctx: &mut Ctx, a: SetArgs) -> Result<()> {
    let tags = kv::parse_pairs(&a.pairs, "KEY=VALUE")?;
    let (app, client) = ctx.app_client(&a.app)?;
    let config = config::change(ctx, &client, &app, "tags", tags, "Applying tags... ")?;
    ctx.say_all(&lines(&app, &config));
    Ok(())
}

/// `deis tags:unset key...`.
pub fn unset(ctx: &mut Ctx, a: UnsetArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    let nulls = kv::nulls(&a.keys);
    let config = config::change(ctx, &client, &app, "tags", nulls, "Applying tags... ")?;
    ctx.say_all(&lines(&app, &config));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_are_listed_or_reported_missing() {
        assert_eq!(
            lines("a", &json!({"tags": {"environ": "prod"}})),
            ["=== a Tags", "environ      prod"]
        );
        assert_eq!(lines("a", &json!({})), ["=== a Tags", "No tags defined"]);
    }
}
