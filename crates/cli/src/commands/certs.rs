//! `certs:list`, `certs:add`, `certs:info`, `certs:remove`: TLS certificates the router serves
//! (API v1.7). Keys are read from files and sent once; the controller never answers them.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Map, Value};

use super::Ctx;
use crate::error::{Result, other};
use crate::output::{self, header, value_text};
use crate::progress::Progress;

/// Options of `certs:add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// PEM file with the certificate (and its chain, the certificate first).
    pub cert: PathBuf,
    /// PEM file with the certificate's private key.
    pub key: PathBuf,
    /// The host name to serve it for (default: the certificate's common name).
    #[arg(short = 'c', long = "common-name", value_name = "NAME")]
    pub common_name: Option<String>,
    /// Store the certificate once for each of these comma-separated host names instead.
    #[arg(
        short = 's',
        long = "subject-alt-names",
        value_name = "NAMES",
        conflicts_with = "common_name"
    )]
    pub subject_alt_names: Option<String>,
}

/// Options of `certs:info` and `certs:remove`.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The certificate's common name, e.g. `www.example.com`.
    pub common_name: String,
}

/// The table of `certs:list`.
pub fn table(certs: &[Value]) -> Vec<String> {
    if certs.is_empty() {
        return vec!["No certs".to_owned()];
    }
    let mut rows = vec![
        vec!["Common Name".to_owned(), "Expires".to_owned()],
        vec!["-----------".to_owned(), "-------".to_owned()],
    ];
    rows.extend(
        certs
            .iter()
            .map(|c| vec![value_text(&c["common_name"]), value_text(&c["expires"])]),
    );
    output::columns(&rows)
}

/// `deis certs:list`.
pub fn list(ctx: &mut Ctx) -> Result<()> {
    let certs = ctx.client()?.v17().get_all(&["certs", ""])?;
    ctx.say_all(&table(&certs));
    ctx.emit(&Value::Array(certs));
    Ok(())
}

fn read(path: &Path, what: &str) -> Result<String> {
    fs::read_to_string(path)
        .map_err(|e| other(format!("could not read the {what} {}: {e}", path.display())))
}

/// `deis certs:add <cert> <key>`.
pub fn add(ctx: &mut Ctx, a: AddArgs) -> Result<()> {
    let certificate = read(&a.cert, "certificate")?;
    let key = read(&a.key, "private key")?;
    let client = ctx.client()?.v17();
    let names: Vec<Option<String>> = match &a.subject_alt_names {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| Some(n.to_owned()))
            .collect(),
        None => vec![a.common_name.clone()],
    };
    let progress = Progress::start("Adding SSL endpoint... ", ctx.json);
    let mut added = Vec::new();
    for name in names {
        let mut body = Map::new();
        body.insert("certificate".into(), Value::from(certificate.clone()));
        body.insert("key".into(), Value::from(key.clone()));
        if let Some(name) = name {
            body.insert("common_name".into(), Value::from(name));
        }
        added.push(
            client
                .post(&["certs", ""], &Value::Object(body), &[201])?
                .json()?,
        );
    }
    progress.done("done");
    ctx.emit(&Value::Array(added));
    Ok(())
}

/// `deis certs:info <common-name>`.
pub fn info(ctx: &mut Ctx, a: NameArgs) -> Result<()> {
    let cert = ctx.client()?.v17().get(&["certs", &a.common_name])?;
    if ctx.json {
        ctx.emit(&cert);
        return Ok(());
    }
    ctx.say(&header(&format!("{} Certificate", a.common_name)));
    ctx.say_all(&output::fields(&[
        ("Common Name", value_text(&cert["common_name"])),
        ("Expires", value_text(&cert["expires"])),
        ("Owner", value_text(&cert["owner"])),
        ("Created", value_text(&cert["created"])),
        ("Updated", value_text(&cert["updated"])),
    ]));
    Ok(())
}

/// `deis certs:remove <common-name>`.
pub fn remove(ctx: &mut Ctx, a: NameArgs) -> Result<()> {
    let client = ctx.client()?.v17();
    let progress = Progress::start(&format!("Removing {}... ", a.common_name), ctx.json);
    client.delete(&["certs", &a.common_name], &[204])?;
    progress.done("done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn certificates_are_tabulated() {
        assert_eq!(
            table(&[
                json!({"common_name": "example.com", "expires": "2126-11-08T12:29:55UTC"}),
                json!({"common_name": "*.apps.example.org", "expires": "2030-01-01T00:00:00UTC"}),
            ]),
            [
                "Common Name         Expires",
                "-----------         -------",
                "example.com         2126-11-08T12:29:55UTC",
                "*.apps.example.org  2030-01-01T00:00:00UTC",
            ]
        );
        assert_eq!(table(&[]), ["No certs"]);
    }
}
