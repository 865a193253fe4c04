//! `config:list`, `config:set`, `config:unset`, `config:pull`, `config:push`, and the config
//! change that limits and tags reuse.

use std::fs;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};

use super::{AppOpt, Ctx};
use crate::client::Client;
use crate::error::{Result, other, usage};
use crate::kv;
use crate::output::{self, header, value_text};
use crate::progress::Progress;
use crate::prompt;

/// Options of `config:list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Print the variables on one line, as `KEY=value KEY2=value2`.
    #[arg(long)]
    pub oneline: bool,
}

/// Options of `config:set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Variables to set; values that read as integers are stored as numbers.
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
}

/// Options of `config:unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Variables to remove.
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
}

/// Options of `config:get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// The variable to print.
    #[arg(value_name = "KEY")]
    pub key: String,
}

/// Options of `config:pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Ask before overwriting each value already in the file.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Overwrite values already in the file.
    #[arg(short = 'o', long)]
    pub overwrite: bool,
    /// The file to write.
    #[arg(short = 'p', long, default_value = ".env")]
    pub path: PathBuf,
}

/// Options of `config:push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// The file to read.
    #[arg(short = 'p', long, default_value = ".env")]
    pub path: PathBuf,
}

/// The lines of `=== app Config` (or the `--oneline` form).
pub fn lines(app: &str, values: &Map<String, Value>, oneline: bool) -> Vec<String> {
    if oneline {
        let mut keys: Vec<&String> = values.keys().collect();
        keys.sort();
        let pairs: Vec<String> = keys
            .into_iter()
            .map(|k| format!("{k}={}", value_text(&values[k])))
            .collect();
        return vec![pairs.join(" ")];
    }
    let mut lines = vec![header(&format!("{app} Config"))];
    if values.is_empty() {
        lines.push("No configuration".to_owned());
    }
    lines.extend(output::aligned(values));
    lines
}

/// `deis config:list`.
pub fn list(ctx: &mut Ctx, a: ListArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    let config = client.get(&["apps", &app, "config"])?;
    let values = output::object_field(&config, "values");
    ctx.say_all(&lines(&app, &values, a.oneline));
    ctx.emit(&Value::Object(values));
    Ok(())
}

/// Posts one field of a config change (`values`, `memory`, `cpu` or `tags`), sent as a
/// JSON-encoded string as the API requires; prints `<message>done, vN` and returns the new
/// config.
pub fn change(
    ctx: &Ctx,
    client: &Client,
    app: &str,
    field: &str,
    entries: Map<String, Value>,
    message: &str,
) -> Result<Value> {
    let encoded = Value::Object(entries).to_string();
    let mut body = Map::new();
    body.insert(field.to_owned(), Value::from(encoded));
    let progress = Progress::start(message, ctx.json);
    let reply = client.post(&["apps", app, "config"], &Value::Object(body), &[201])?;
    let config = reply.json()?;
    progress.done(&format!("done, v{}\n", reply.release_label()));
    ctx.emit(&config);
    Ok(config)
}

fn set_values(ctx: &Ctx, client: &Client, app: &str, values: Map<String, Value>) -> Result<()> {
    let config = change(ctx, client, app, "values", values, "Creating config... ")?;
    ctx.say_all(&lines(app, &output::object_field(&config, "values"), false));
    Ok(())
}

/// `deis config:set KEY=VALUE...`.
pub fn set(ctx: &mut Ctx, a: SetArgs) -> Result<()> {
    let values = kv::parse_pairs(&a.pairs, "KEY=VALUE")?;
    let (app, client) = ctx.app_client(&a.app)?;
    set_values(ctx, &client, &app, values)
}

/// `deis config:unset KEY...`.
pub fn unset(ctx: &mut Ctx, a: UnsetArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    set_values(ctx, &client, &app, kv::nulls(&a.keys))
}

/// `deis config:get KEY`: prints the value alone (exit 1 when the app has no such variable).
pub fn get(ctx: &mut Ctx, a: GetArgs) -> Result<()> {
    let (app, client) = ctx.app_client(&a.app)?;
    let config = client.get(&["apps", &app, "config"])?;
    let values = output::object_field(&config, "values");
    let Some(value) = values.get(&a.key) else {
        return Err(other(format!("{app} has no config variable {}", a.key)));
    };
    ctx.say(&value_text(value));
    ctx.emit(value);
    Ok(())
}

/// Reads an env file into config values.
fn read_env_file(path: &PathBuf) -> Result<Map<String, Value>> {
    let text = fs::read_to_string(path)
        .map_err(|e| other(format!("could not read {}: {e}", path.display())))?;
    let (entries, bad) = kv::parse_env(&text);
    for line in bad {
        eprintln!(
            "warning: could not parse config line in {}: \"{line}\"",
            path.display()
        );
    }
    Ok(entries
        .into_iter()
        .map(|(k, v)| (k, kv::coerce(&v)))
        .collect())
}

/// `deis config:pull`: merges the app's variables into `.env`; values already in the file
/// are kept unless `--overwrite` (or a yes to `--interactive`).
pub fn pull(ctx: &mut Ctx, a: PullArgs) -> Result<()> {
    if a.interactive && !prompt::interactive() {
        return Err(usage(
            "--interactive needs a terminal; use --overwrite or leave both out",
        ));
    }
    let (app, client) = ctx.app_client(&a.app)?;
    let config = client.get(&["apps", &app, "config"])?;
    let remote = output::object_field(&config, "values");
    let mut merged = if a.path.exists() {
        read_env_file(&a.path)?
    } else {
        Map::new()
    };
    let mut keys: Vec<&String> = remote.keys().collect();
    keys.sort();
    for key in keys {
        let value = &remote[key];
        let take = match merged.get(key) {
            None => true,
            Some(local) if value_text(local) == value_text(value) => false,
            Some(_) if a.overwrite => true,
            Some(_) if a.interactive => {
                let question = format!("overwrite {key} with {}? (y/N) ", value_text(value));
                let answer = prompt::ask(&question, "an answer", "--overwrite")?;
                matches!(answer.trim(), "y" | "Y" | "yes")
            }
            Some(_) => false,
        };
        if take {
            merged.insert(key.clone(), value.clone());
        }
    }
    fs::write(&a.path, kv::format_env(&merged))
        .map_err(|e| other(format!("could not write {}: {e}", a.path.display())))?;
    ctx.say(&format!(
        "Wrote the config of {app} to {} ({} values)",
        a.path.display(),
        merged.len()
    ));
    ctx.emit(&Value::Object(merged));
    Ok(())
}

/// `deis config:push`: sets the variables of `.env` (or `--path`).
pub fn push(ctx: &mut Ctx, a: PushArgs) -> Result<()> {
    let values = read_env_file(&a.path)?;
    if values.is_empty() {
        return Err(other(format!(
            "{} has no KEY=value lines; nothing to push",
            a.path.display()
        )));
    }
    let (app, client) = ctx.app_client(&a.app)?;
    let config = client.get(&["apps", &app, "config"])?;
    let remote = output::object_field(&config, "values");
    let unchanged = values.iter().all(|(k, v)| {
        remote
            .get(k)
            .is_some_and(|r| value_text(r) == value_text(v))
    });
    if unchanged {
        ctx.say(&format!(
            "{} matches the config of {app}: nothing to push, no new release",
            a.path.display()
        ));
        ctx.emit(&Value::Object(remote));
        return Ok(());
    }
    set_values(ctx, &client, &app, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_lines_have_a_header() {
        let values = json!({"B": "x", "A": 1});
        let values = values.as_object().unwrap();
        assert_eq!(
            lines("myapp", values, false),
            ["=== myapp Config", "A      1", "B      x"]
        );
        assert_eq!(lines("myapp", values, true), ["A=1 B=x"]);
        assert_eq!(
            lines("myapp", &Map::new(), false),
            ["=== myapp Config", "No configuration"]
        );
    }
}
