//! Which app a command is about, and the `deis` git remote that records it.
//!
//! Resolution order, as in the original client: `--app`, else the app named by the URL of
//! the `deis` git remote, else the name of the current directory.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Result, other, usage};

/// Name of the git remote `apps:create` adds and app resolution reads.
pub const REMOTE: &str = "deis";

/// Runs git with `args`, returning its trimmed standard output when it succeeds. A missing
/// git binary counts as failure.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The top directory of the git repository around the current directory, if any.
pub fn repository_root() -> Option<PathBuf> {
    git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

/// The URL of the remote called `name`, if the current repository has one.
pub fn remote_url(name: &str) -> Option<String> {
    git(&["config", "--get", &format!("remote.{name}.url")]).filter(|u| !u.is_empty())
}

/// Adds a remote to the current repository.
pub fn add_remote(name: &str, url: &str) -> Result<()> {
    git(&["remote", "add", name, url])
        .map(|_| ())
        .ok_or_else(|| other(format!("could not add the git remote {name} ({url})")))
}

/// Removes a remote from the current repository.
pub fn remove_remote(name: &str) -> Result<()> {
    git(&["remote", "remove", name])
        .map(|_| ())
        .ok_or_else(|| other(format!("could not remove the git remote {name}")))
}

/// The builder's port when the controller does not announce one.
pub const BUILDER_PORT: u16 = 2222;

/// The git URL the builder serves an app at: `ssh://git@<controller host>:<port>/<app>.git`,
/// the port as the controller announced it (`X-Deis-Builder-Port`), else 2222.
pub fn remote_for(controller_host: &str, port: Option<u16>, app: &str) -> String {
    let port = port.unwrap_or(BUILDER_PORT);
    format!("ssh://git@{controller_host}:{port}/{app}.git")
}

/// Whether `id` looks like an app id (`[a-z0-9-]+`).
pub fn is_app_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The app named by a remote URL: its last path component without `.git`, e.g.
/// `ssh://git@host:2222/myapp.git` or `git@host:myapp.git` give `myapp`.
pub fn app_from_remote_url(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let name = url.rsplit(['/', ':']).next()?;
    (name.len() < url.len() && is_app_id(name)).then(|| name.to_owned())
}

/// The app of the current directory's `deis` remote, if there is one.
pub fn app_from_remote() -> Option<String> {
    remote_url(REMOTE).and_then(|u| app_from_remote_url(&u))
}

/// The current directory's name in lower case, as the original client used it.
pub fn directory_app_name() -> Option<String> {
    let dir = std::env::current_dir().ok()?;
    Some(dir.file_name()?.to_string_lossy().to_lowercase())
}

/// Resolves the app: `--app`, else the `deis` remote, else the directory name.
pub fn resolve_app(flag: Option<&str>) -> Result<String> {
    if let Some(app) = flag {
        let app = app.trim().to_lowercase();
        if app.is_empty() {
            return Err(usage("--app needs an app name"));
        }
        return Ok(app);
    }
    if let Some(app) = app_from_remote() {
        return Ok(app);
    }
    match directory_app_name() {
        Some(name) if is_app_id(&name) => Ok(name),
        Some(name) => Err(usage(format!(
            "cannot tell which app to use: pass --app=APP (there is no `deis` git remote here, \
             and the directory name \"{name}\" is not an app name)"
        ))),
        None => Err(usage("cannot tell which app to use: pass --app=APP")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_name_their_app() {
        assert_eq!(
            app_from_remote_url("ssh://git@deis.example.com:2222/peachy-waxworks.git"),
            Some("peachy-waxworks".into())
        );
        assert_eq!(
            app_from_remote_url("git@host:myapp.git"),
            Some("myapp".into())
        );
        assert_eq!(
            app_from_remote_url("https://host/x/myapp"),
            Some("myapp".into())
        );
        assert_eq!(app_from_remote_url("https://host/x/MyApp.git"), None);
        assert_eq!(app_from_remote_url("myapp"), None);
    }

    #[test]
    fn app_ids_are_lowercase_slugs() {
        assert!(is_app_id("my-app-2"));
        assert!(!is_app_id("My App"));
        assert!(!is_app_id(""));
        assert!(!is_app_id("a_b"));
    }

    #[test]
    fn the_flag_wins_and_is_lowercased() {
        assert_eq!(resolve_app(Some("MyApp")).unwrap(), "myapp");
        assert_eq!(resolve_app(Some(" ")).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn git_remote_url_is_the_builders() {
        assert_eq!(
            remote_for("deis.example.com", None, "web"),
            "ssh://git@deis.example.com:2222/web.git"
        );
        assert_eq!(
            remote_for("127.0.0.1", Some(40022), "web"),
            "ssh://git@127.0.0.1:40022/web.git"
        );
    }
}
