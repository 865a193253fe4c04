//! The client's settings file, `~/.deis/client.json`, as the original client kept it.
//!
//! The file holds `{"controller": url, "username": name, "token": token}`; keys this client
//! does not know are kept as they are. `DEIS_PROFILE=NAME` selects `~/.deis/NAME.json`
//! instead, so that one person can keep sessions with several controllers.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, other, usage};

/// What `deis login` remembers.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Base URL of the controller, e.g. `http://deis.example.com`.
    #[serde(default)]
    pub controller: Option<String>,
    /// The logged-in user.
    #[serde(default)]
    pub username: Option<String>,
    /// The API token of that user.
    #[serde(default)]
    pub token: Option<String>,
    /// Keys written by other clients (e.g. `ssl_verify`), kept untouched.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The settings file and its content.
#[derive(Debug)]
pub struct Settings {
    path: PathBuf,
    /// The stored session.
    pub session: Session,
}

/// Message shown whenever a command needs a session and there is none.
pub const NOT_LOGGED_IN: &str =
    "Not logged in. Use `deis login <controller>` or `deis register <controller>` to get started.";

impl Settings {
    /// Loads the settings of the profile chosen by `DEIS_PROFILE` from the home directory.
    pub fn load_default() -> Result<Settings> {
        let profile = std::env::var("DEIS_PROFILE").unwrap_or_default();
        let path = settings_path(&home_dir()?, &profile)?;
        Settings::load(path)
    }

    /// Loads settings from `path`; a missing file means empty settings.
    pub fn load(path: PathBuf) -> Result<Settings> {
        let session = match fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Session::default(),
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                other(format!(
                    "cannot read settings file {}: {e}; fix it or delete it and log in again",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Session::default(),
            Err(e) => return Err(other(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(Settings { path, session })
    }

    /// The controller and token of the current session, or the "not logged in" error.
    pub fn credentials(&self) -> Result<(&str, &str)> {
        match (&self.session.controller, &self.session.token) {
            (Some(c), Some(t)) if !c.is_empty() && !t.is_empty() => Ok((c, t)),
            _ => Err(other(NOT_LOGGED_IN)),
        }
    }

    /// Writes the settings back, readable by their owner only.
    pub fn save(&self) -> Result<()> {
        let fail = |e: std::io::Error| {
            other(format!(
                "cannot write settings file {}: {e}",
                self.path.display()
            ))
        };
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir).map_err(fail)?;
        }
        let mut text = serde_json::to_string(&self.session)
            .map_err(|e| other(format!("cannot encode settings: {e}")))?;
        text.push('\n');
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut file = private_file(&tmp).map_err(fail)?;
            file.write_all(text.as_bytes()).map_err(fail)?;
        }
        fs::rename(&tmp, &self.path).map_err(fail)
    }
}

/// The user's home directory: `$HOME`, else what the platform says.
pub fn home_dir() -> Result<PathBuf> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home)),
        _ => std::env::home_dir().ok_or_else(|| other("cannot find the home directory; set HOME")),
    }
}

/// `~/.deis/client.json`, or `~/.deis/<profile>.json` for a non-empty profile name.
pub fn settings_path(home: &Path, profile: &str) -> Result<PathBuf> {
    let name = if profile.is_empty() {
        "client"
    } else {
        profile
    };
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(usage(format!(
            "DEIS_PROFILE must be a plain name such as \"staging\", not \"{profile}\""
        )));
    }
    Ok(home.join(".deis").join(format!("{name}.json")))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_selects_the_file() {
        let home = Path::new("/home/u");
        assert_eq!(
            settings_path(home, "").unwrap(),
            PathBuf::from("/home/u/.deis/client.json")
        );
        assert_eq!(
            settings_path(home, "staging").unwrap(),
            PathBuf::from("/home/u/.deis/staging.json")
        );
        assert!(settings_path(home, "../x").is_err());
    }

    #[test]
    fn missing_file_is_empty_and_save_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".deis").join("client.json");
        let mut s = Settings::load(path.clone()).unwrap();
        assert_eq!(s.session, Session::default());
        assert!(s.credentials().is_err());
        s.session.controller = Some("http://c".into());
        s.session.username = Some("alice".into());
        s.session.token = Some("t0k".into());
        s.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"controller": "http://c", "username": "alice", "token": "t0k"})
        );
        let again = Settings::load(path).unwrap();
        assert_eq!(again.credentials().unwrap(), ("http://c", "t0k"));
    }

    #[test]
    fn unknown_keys_and_nulls_are_kept_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.json");
        fs::write(
            &path,
            r#"{"controller": null, "token": null, "username": null, "ssl_verify": true}"#,
        )
        .unwrap();
        let s = Settings::load(path.clone()).unwrap();
        assert!(s.credentials().is_err());
        s.save().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["ssl_verify"], serde_json::json!(true));
    }

    #[cfg(unix)]
    #[test]
    fn settings_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".deis").join("client.json");
        let s = Settings::load(path.clone()).unwrap();
        s.save().unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
