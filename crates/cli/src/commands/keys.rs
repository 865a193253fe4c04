//! `keys:list`, `keys:add`, `keys:remove`: the SSH keys of the logged-in user.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{Result, other, usage};
use crate::output::{self, header, value_text};
use crate::progress::Progress;
use crate::prompt;
use crate::settings;

/// Options of `keys:add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Path of an SSH public key; without it, the keys in ~/.ssh are offered.
    pub path: Option<PathBuf>,
}

/// Options of `keys:remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The key's id, as `deis keys:list` shows it (e.g. `alice@laptop`).
    pub id: String,
}

/// An SSH public key read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Key type, e.g. `ssh-ed25519`.
    pub kind: String,
    /// The base64 key material.
    pub data: String,
    /// The comment after the key, often `user@host`.
    pub comment: String,
    /// The id to register it under: the comment, else the file name without `.pub`.
    pub id: String,
}

/// Parses the text of a public key file named `file_name`.
pub fn parse_public_key(text: &str, file_name: &str) -> std::result::Result<PublicKey, String> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let kind = parts.next().unwrap_or_default();
    let known = ["ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-"];
    if !known.iter().any(|p| kind.starts_with(p)) {
        return Err(format!("{file_name} is not an SSH public key"));
    }
    let data = parts.next().unwrap_or_default();
    if data.is_empty() {
        return Err(format!("{file_name} has no key after \"{kind}\""));
    }
    let comment = parts.next().unwrap_or_default().trim().to_owned();
    let id = if comment.is_empty() {
        file_name
            .strip_suffix(".pub")
            .unwrap_or(file_name)
            .to_owned()
    } else {
        comment.clone()
    };
    Ok(PublicKey {
        kind: kind.to_owned(),
        data: data.to_owned(),
        comment,
        id,
    })
}

fn read_key(path: &Path) -> Result<PublicKey> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let text = fs::read_to_string(path)
        .map_err(|e| other(format!("could not read {}: {e}", path.display())))?;
    parse_public_key(&text, &name).map_err(other)
}

/// `first 16 characters...last 10` of a public key, as the original listed keys.
pub fn abbreviate(public: &str) -> String {
    let chars: Vec<char> = public.chars().collect();
    if chars.len() <= 29 {
        return public.to_owned();
    }
    let head: String = chars[..16].iter().collect();
    let tail: String = chars[chars.len() - 10..].iter().collect();
    format!("{head}...{tail}")
}

/// `deis keys:list`.
pub fn list(ctx: &mut Ctx) -> Result<()> {
    let keys = ctx.client()?.get_all(&["keys"])?;
    if keys.is_empty() {
        ctx.say("No keys found");
    } else {
        ctx.say(&header(&format!("{} Keys", value_text(&keys[0]["owner"]))));
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| vec![value_text(&k["id"]), abbreviate(&value_text(&k["public"]))])
            .collect();
        ctx.say_all(&output::columns(&rows));
    }
    ctx.emit(&Value::Array(keys));
    Ok(())
}

/// Offers the public keys in ~/.ssh and returns the one chosen.
fn choose_key() -> Result<PublicKey> {
    if !prompt::interactive() {
        return Err(usage(
            "keys:add offers the keys in ~/.ssh only at a terminal; pass the key's path, \
             e.g. deis keys:add ~/.ssh/id_ed25519.pub",
        ));
    }
    let ssh_dir = settings::home_dir()?.join(".ssh");
    let mut paths: Vec<PathBuf> = fs::read_dir(&ssh_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pub"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    let keys: Vec<(String, PublicKey)> = paths
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            read_key(p).ok().map(|k| (name, k))
        })
        .collect();
    if keys.is_empty() {
        return Err(other(format!(
            "No SSH public keys found in {}; give a path: deis keys:add <path>",
            ssh_dir.display()
        )));
    }
    eprintln!("Found the following SSH public keys:");
    for (i, (name, key)) in keys.iter().enumerate() {
        eprintln!("{}) {name} {}", i + 1, key.comment);
    }
    eprintln!("0) Enter path to pubfile (or use keys:add <key_path>)");
    let answer = prompt::ask(
        "Which would you like to use with Deis? ",
        "a choice",
        "a path",
    )?;
    match answer.trim().parse::<usize>() {
        Ok(0) => {
            let path = prompt::ask("Enter the path to the pubkey file: ", "a path", "a path")?;
            let path = match path.trim().strip_prefix("~/") {
                Some(rest) => settings::home_dir()?.join(rest),
                None => PathBuf::from(path.trim()),
            };
            read_key(&path)
        }
        Ok(n) if n <= keys.len() => Ok(keys[n - 1].1.clone()),
        _ => Err(other("no key chosen; nothing was uploaded")),
    }
}

/// `deis keys:add [path]`.
pub fn add(ctx: &mut Ctx, a: AddArgs) -> Result<()> {
    let client = ctx.client()?;
    let key = match &a.path {
        Some(path) => read_key(path)?,
        None => choose_key()?,
    };
    let body = json!({"id": key.id, "public": format!("{} {}", key.kind, key.data)});
    let progress = Progress::start(&format!("Uploading {} to deis... ", key.id), ctx.json);
    let reply = client.post(&["keys"], &body, &[201])?;
    progress.done("done");
    ctx.emit_reply(&reply)
}

/// `deis keys:remove <id>`.
pub fn remove(ctx: &mut Ctx, a: RemoveArgs) -> Result<()> {
    let client = ctx.client()?;
    let progress = Progress::start(&format!("Removing {} SSH Key... ", a.id), ctx.json);
    client.delete(&["keys", &a.id], &[204])?;
    progress.done("done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_or_without_comment() {
        let k = parse_public_key("ssh-ed25519 AAAAC3Nza alice@laptop\n", "id_ed25519.pub").unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.data, "AAAAC3Nza");
        assert_eq!(k.id, "alice@laptop");
        let k = parse_public_key("ssh-rsa AAAAB3Nza", "work.pub").unwrap();
        assert_eq!(k.id, "work");
        assert!(parse_public_key("-----BEGIN OPENSSH PRIVATE KEY-----", "id").is_err());
        assert!(parse_public_key("ssh-rsa", "id.pub").is_err());
    }

    #[test]
    fn long_keys_are_abbreviated() {
        let public = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC alice@host";
        assert_eq!(abbreviate(public), "ssh-rsa AAAAB3Nz...alice@host");
        assert_eq!(abbreviate("short"), "short");
    }
}
