//! `builds:list`, `builds:create`.

use std::fs;
use std::path::Path;

use clap::Args;
use serde_json::{Map, Value};

use super::{AppOpt, Ctx};
use crate::error::{Result, other, usage};
use crate::output::{self, header, value_text};
use crate::progress::Progress;

/// Options of `builds:create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A Docker image with its tag, e.g. `deis/example-go:latest`.
    pub image: String,
    /// Which app.
    #[command(flatten)]
    pub app: AppOpt,
    /// Process types, as Procfile lines (`web: start web`) or a JSON object; default: the
    /// `Procfile` of the current directory, if any.
    #[arg(short = 'p', long, value_name = "PROCFILE")]
    pub procfile: Option<String>,
}

/// Whether an image reference names a tag (`repo:tag`, where a `:` inside the registry host
/// does not count).
pub fn has_tag(image: &str) -> bool {
    image
        .rsplit_once(':')
        .is_some_and(|(_, tag)| !tag.is_empty() && !tag.contains('/'))
}

/// Parses a Procfile (`type: command` lines, `#` comments) or a JSON object of strings.
pub fn parse_procfile(text: &str) -> std::result::Result<Map<String, Value>, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(trimmed).map_err(|e| e.to_string())?;
        return match value {
            Value::Object(map) if map.values().all(Value::is_string) => Ok(map),
            _ => Err("a JSON procfile must map process types to command strings".to_owned()),
        };
    }
    let mut map = Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((kind, command)) = line.split_once(':') else {
            return Err(format!("line {}: expected \"type: command\"", n + 1));
        };
        let (kind, command) = (kind.trim(), unquote(command.trim()));
        if kind.is_empty() || command.is_empty() {
            return Err(format!("line {}: expected \"type: command\"", n + 1));
        }
        map.insert(kind.to_owned(), Value::from(command));
    }
    if map.is_empty() {
        return Err("no process types".to_owned());
    }
    Ok(map)
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// `deis builds:list`.
pub fn list(ctx: &mut Ctx, opt: &AppOpt) -> Result<()> {
    let (app, client) = ctx.app_client(opt)?;
    let builds = client.get_all(&["apps", &app, "builds"])?;
    ctx.say(&header(&format!("{app} Builds")));
    if builds.is_empty() {
        ctx.say("No builds");
    }
    let now = output::now_unix();
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                value_text(&b["uuid"]),
                output::readable_datetime(&value_text(&b["created"]), now),
                value_text(&b["image"]),
            ]
        })
        .collect();
    ctx.say_all(&output::columns(&rows));
    ctx.emit(&Value::Array(builds));
    Ok(())
}

/// `deis builds:create <image>`: imports the image and deploys it as a new release.
pub fn create(ctx: &mut Ctx, a: CreateArgs) -> Result<()> {
    if !has_tag(&a.image) {
        return Err(usage(format!(
            "the image must include its tag, e.g. {}:latest",
            a.image
        )));
    }
    let procfile = match &a.procfile {
        Some(text) => Some(
            parse_procfile(text).map_err(|e| usage(format!("could not parse --procfile: {e}")))?,
        ),
        None if Path::new("Procfile").is_file() => {
            let text = fs::read_to_string("Procfile")
                .map_err(|e| other(format!("could not read Procfile: {e}")))?;
            Some(
                parse_procfile(&text)
                    .map_err(|e| other(format!("could not parse Procfile: {e}")))?,
            )
        }
        None => None,
    };
    let (app, client) = ctx.app_client(&a.app)?;
    let mut body = Map::new();
    body.insert("image".into(), Value::from(a.image.clone()));
    if let Some(procfile) = procfile {
        body.insert("procfile".into(), Value::Object(procfile));
    }
    let progress = Progress::start("Creating build... ", ctx.json);
    let reply = client.post(&["apps", &app, "builds"], &Value::Object(body), &[201])?;
    progress.done(&format!("done, v{}", reply.release_label()));
    ctx.emit_reply(&reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_need_a_tag() {
        assert!(has_tag("deis/test-app:latest"));
        assert!(has_tag("registry.example.com:5000/app:v1"));
        assert!(!has_tag("registry.example.com:5000/app"));
        assert!(!has_tag("deis/test-app"));
        assert!(!has_tag("deis/test-app:"));
    }

    #[test]
    fn procfiles_parse_from_lines_or_json() {
        let text = "# processes\nweb: start web\nworker: \"sh -c 'sleep 1'\"\n";
        assert_eq!(
            Value::Object(parse_procfile(text).unwrap()),
            json!({"web": "start web", "worker": "sh -c 'sleep 1'"})
        );
        assert_eq!(
            Value::Object(parse_procfile(r#"{"web": "httpd -f"}"#).unwrap()),
            json!({"web": "httpd -f"})
        );
        assert!(parse_procfile("web").is_err());
        assert!(parse_procfile("").is_err());
        assert!(parse_procfile(r#"{"web": 1}"#).is_err());
    }
}
