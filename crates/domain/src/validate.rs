//! Input rules of the API, each returning the spec's messages.

use std::sync::LazyLock;

use base64::Engine as _;
use md5::{Digest, Md5};
use regex::Regex;
use serde_json::Value;

use crate::error::{Error, FieldErrors};
use crate::model::{JsonMap, Structure};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

static USERNAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9@.+_-]+$"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"));
static SLUG: LazyLock<Regex> = LazyLock::new(|| re(r"^[-a-zA-Z0-9_]+$"));
static APP_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9-]+$"));
static HOSTNAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\*\.)?([a-z0-9-]+\.)*([a-z0-9-]+)\.([a-z0-9]{2,})$"));
static PROC_KEY: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z]+"));
static MEMORY: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]+[BbKkMmGg]$"));
static DIGITS: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]+$"));
static TAG_KEY: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z]+$"));
static TAG_VALUE: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9_]+$"));
static ENV_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z_][A-Za-z0-9_]*$"));

/// The spec's "required" message.
pub const REQUIRED: &str = "This field is required.";

/// The most containers of one process type an app may ask for. The original had no bound;
/// without one a single request for a huge count would exhaust the controller.
pub const MAX_SCALE: i64 = 1000;

/// The message for a count above [`MAX_SCALE`].
pub fn too_many() -> String {
    format!("Ensure this value is less than or equal to {MAX_SCALE}.")
}

/// Length check with Django's message.
pub fn max_len(value: &str, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n > max {
        Err(format!(
            "Ensure this value has at most {max} characters (it has {n})."
        ))
    } else {
        Ok(())
    }
}

/// Validates a username for registration.
pub fn username(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(REQUIRED.into());
    }
    max_len(name, 30)?;
    if !USERNAME.is_match(name) {
        return Err("Enter a valid username.".into());
    }
    Ok(())
}

/// Normalizes and validates an e-mail address (empty allowed); returns what to store.
pub fn email(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    max_len(trimmed, 254)?;
    if !EMAIL.is_match(trimmed) {
        return Err("Enter a valid email address.".into());
    }
    let (local, domain) = trimmed
        .rsplit_once('@')
        .ok_or("Enter a valid email address.")?;
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// Validates an app id in the spec's order (uniqueness is the store's).
pub fn app_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(REQUIRED.into());
    }
    if !SLUG.is_match(id) {
        return Err(
            "Enter a valid 'slug' consisting of letters, numbers, underscores or hyphens.".into(),
        );
    }
    if !APP_ID.is_match(id) {
        return Err("App IDs can only contain [a-z0-9-]".into());
    }
    if id == "deis" {
        return Err("App IDs cannot be 'deis'".into());
    }
    max_len(id, 64)
}

/// Whether a path segment can name an app at all.
pub fn is_app_id(id: &str) -> bool {
    APP_ID.is_match(id)
}

/// Validates a custom domain (uniqueness is the store's).
pub fn domain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(REQUIRED.into());
    }
    max_len(name, 253)?;
    if !HOSTNAME.is_match(name) {
        return Err(
            "Hostname does not look like a valid hostname. Only lowercase characters are allowed."
                .into(),
        );
    }
    if name.starts_with("*.") {
        return Err("Adding a wildcard subdomain is currently not supported".into());
    }
    Ok(())
}

/// Validates the common name a certificate is stored under: a lowercase hostname, or a
/// wildcard `*.` followed by one.
pub fn common_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(REQUIRED.into());
    }
    max_len(name, 253)?;
    if HOSTNAME.is_match(name) {
        Ok(())
    } else {
        Err("Common name does not look like a lowercase hostname (a wildcard may start it: *.example.com)".into())
    }
}

/// Key types accepted in `authorized_keys` lines.
const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Validates an SSH public key line: a known type, valid base64 whose blob names the same type.
pub fn public_key(line: &str) -> Result<(), String> {
    let invalid =
        || "Key is not a valid SSH public key: expected '<type> <base64> [comment]'".to_string();
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(data)) = (parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if !KEY_TYPES.contains(&kind) {
        return Err(format!("Key type {kind} is not supported"));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| "Key data is not valid base64".to_string())?;
    let named = blob
        .get(..4)
        .and_then(|len| <[u8; 4]>::try_from(len).ok())
        .map(|len| u32::from_be_bytes(len) as usize)
        .and_then(|len| blob.get(4..4 + len));
    if named != Some(kind.as_bytes()) {
        return Err(format!("Key data does not hold a {kind} key"));
    }
    Ok(())
}

/// MD5 fingerprint of a public key line, as `aa:bb:...`.
pub fn fingerprint(line: &str) -> Option<String> {
    let data = line.split_whitespace().nth(1)?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let digest = Md5::digest(&blob);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A JSON value as the original's `str()` would render it for the regex checks.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Accepts an object or a string holding a JSON object; the field's error otherwise.
pub fn json_object(field: &str, value: &Value) -> Result<JsonMap, Error> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::field(field, "Expected a JSON object.")),
            Err(e) => Err(Error::field(field, format!("Invalid JSON: {e}"))),
        },
        _ => Err(Error::field(field, "Expected a JSON object.")),
    }
}

/// Validates the submitted `memory`, `cpu` and `tags` entries (`null` entries are removals).
pub fn limits(field: &str, map: &JsonMap) -> Result<(), Error> {
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        let text = as_text(value);
        let message = match field {
            "memory" if !PROC_KEY.is_match(key) => Some("Process types can only contain [a-z]"),
            "memory" if !text.as_deref().is_some_and(|t| MEMORY.is_match(t)) => {
                Some("Limit format: <number><unit>, where unit = B, K, M or G")
            }
            "cpu" if !PROC_KEY.is_match(key) => Some("Process types can only contain [a-z]"),
            "cpu" if !text.as_deref().is_some_and(|t| DIGITS.is_match(t)) => {
                Some("CPU shares must be an integer")
            }
            "cpu"
                if text
                    .as_deref()
                    .and_then(|t| t.parse::<u64>().ok())
                    .is_none_or(|n| n > 1024) =>
            {
                Some("CPU shares must be between 0 and 1024")
            }
            "tags" if !TAG_KEY.is_match(key) => Some("Tag keys can only contain [a-z]"),
            "tags" if !text.as_deref().is_some_and(|t| TAG_VALUE.is_match(t)) => {
                Some("Invalid tag value")
            }
            _ => None,
        };
        if let Some(message) = message {
            return Err(Error::field(field, message));
        }
    }
    Ok(())
}

/// The longest config key (an environment variable name).
pub const MAX_CONFIG_KEY: usize = 128;

/// Validates the submitted config `values` (`null` entries are removals and always allowed):
/// every key is an environment variable name of at most [`MAX_CONFIG_KEY`] characters outside
/// the platform's `DEIS_` namespace, and no text value holds a NUL character. `PORT` is
/// allowed: it sets the port the app listens on and the router connects to.
pub fn config_values(map: &JsonMap) -> Result<(), Error> {
    let mut problems = Vec::new();
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        if key.len() > MAX_CONFIG_KEY || !ENV_NAME.is_match(key) {
            problems.push(format!(
                "Config keys must be environment variable names ([A-Za-z_][A-Za-z0-9_]*, at \
                 most {MAX_CONFIG_KEY} characters): {key:?}"
            ));
        } else if key.to_ascii_uppercase().starts_with("DEIS_") {
            problems.push(format!(
                "Config keys starting with DEIS_ are reserved for the platform: {key:?}"
            ));
        } else if value.as_str().is_some_and(|v| v.contains('\0')) {
            problems.push(format!(
                "Config values may not contain NUL characters: {key:?}"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let mut errors = FieldErrors::new();
        errors.insert("values".to_owned(), problems);
        Err(Error::Fields(errors))
    }
}

/// Converts one scale count the way the original did (digits, truncated floats, booleans).
fn scale_count(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Parses a scale request body into type -> count; `None` is "Invalid scaling format".
pub fn scale_request(body: &Value) -> Option<Structure> {
    let map = body.as_object()?;
    map.iter()
        .map(|(k, v)| scale_count(v).map(|n| (k.clone(), n)))
        .collect()
}

/// Validates an app's `structure` field at creation.
pub fn structure(value: &Value) -> Result<Structure, Error> {
    let map = json_object("structure", value)?;
    let mut out = Structure::new();
    for (k, v) in &map {
        match scale_count(v) {
            Some(n) if n > MAX_SCALE => return Err(Error::field("structure", too_many())),
            Some(n) if n >= 0 => {
                out.insert(k.clone(), n);
            }
            Some(_) => {
                return Err(Error::field(
                    "structure",
                    "Must be greater than or equal to zero",
                ));
            }
            None => return Err(Error::field("structure", "A valid integer is required.")),
        }
    }
    Ok(out)
}

/// Collects per-field errors and fails once with all of them.
#[derive(Debug, Default)]
pub struct Collector(FieldErrors);

impl Collector {
    /// Records a field's result.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.entry(field.to_owned()).or_default().push(message);
                None
            }
        }
    }

    /// Fails with every recorded error, if any.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Fields(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_ids_follow_the_spec_order() {
        assert_eq!(app_id(""), Err(REQUIRED.into()));
        assert!(app_id("a b").unwrap_err().contains("slug"));
        assert_eq!(
            app_id("Foo"),
            Err("App IDs can only contain [a-z0-9-]".into())
        );
        assert_eq!(
            app_id("foo_bar"),
            Err("App IDs can only contain [a-z0-9-]".into())
        );
        assert_eq!(app_id("deis"), Err("App IDs cannot be 'deis'".into()));
        assert!(app_id(&"a".repeat(65)).unwrap_err().contains("(it has 65)"));
        assert_eq!(app_id("my-app-1"), Ok(()));
    }

    #[test]
    fn domains() {
        assert_eq!(domain("example.com"), Ok(()));
        assert!(domain("Example.com").is_err());
        assert!(domain("localhost").is_err());
        assert!(domain("a_b.com").is_err());
        assert_eq!(
            domain("*.example.com"),
            Err("Adding a wildcard subdomain is currently not supported".into())
        );
    }

    #[test]
    fn limits_and_tags() {
        let ok = json!({"web": "512M", "worker2": "1g", "gone": null});
        assert!(limits("memory", ok.as_object().unwrap()).is_ok());
        assert!(limits("memory", json!({"web": "512"}).as_object().unwrap()).is_err());
        assert!(limits("memory", json!({"Web": "512M"}).as_object().unwrap()).is_err());
        assert!(limits("cpu", json!({"web": 1024}).as_object().unwrap()).is_ok());
        assert!(limits("cpu", json!({"web": "1025"}).as_object().unwrap()).is_err());
        assert!(limits("cpu", json!({"web": "1.5"}).as_object().unwrap()).is_err());
        assert!(limits("tags", json!({"env": "prod_1"}).as_object().unwrap()).is_ok());
        assert!(limits("tags", json!({"env": "in\nvalid"}).as_object().unwrap()).is_err());
        assert!(limits("tags", json!({"env2": "x"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn config_keys_are_environment_names_outside_deis() {
        let check = |v: Value| config_values(v.as_object().expect("object"));
        assert!(check(json!({"A": "1", "_b2": 2, "PORT": "8080", "x": null})).is_ok());
        for bad in ["A=B", "", "1A", "A-B", "A B", "ÄB"] {
            assert!(check(json!({ bad: "x" })).is_err(), "{bad:?} accepted");
        }
        assert!(check(json!({ "A".repeat(MAX_CONFIG_KEY): "x" })).is_ok());
        assert!(check(json!({ "A".repeat(MAX_CONFIG_KEY + 1): "x" })).is_err());
        let Err(Error::Fields(f)) = check(json!({"DEIS_APP": "evil", "deis_x": "1"})) else {
            panic!("DEIS_ keys accepted");
        };
        assert_eq!(f["values"].len(), 2, "{f:?}");
        assert!(check(json!({"A": "x\u{0}y"})).is_err());
        assert!(check(json!({"A=B": null, "DEIS_APP": null})).is_ok());
    }

    #[test]
    fn scale_counts() {
        let s = scale_request(&json!({"web": "3", "worker": 1.9, "cmd": true})).unwrap();
        assert_eq!(s.get("web"), Some(&3));
        assert_eq!(s.get("worker"), Some(&1));
        assert_eq!(s.get("cmd"), Some(&1));
        assert!(scale_request(&json!({"web": null})).is_none());
        assert!(scale_request(&json!({"web": "3.5"})).is_none());
        assert!(scale_request(&json!([1])).is_none());
    }

    #[test]
    fn structures_are_bounded() {
        assert_eq!(
            structure(&json!({"web": MAX_SCALE})).unwrap().get("web"),
            Some(&MAX_SCALE)
        );
        assert_eq!(
            structure(&json!({"web": MAX_SCALE + 1}))
                .unwrap_err()
                .to_string(),
            Error::field("structure", too_many()).to_string()
        );
        assert!(structure(&json!({"web": -1})).is_err());
    }

    #[test]
    fn keys_are_checked_and_fingerprinted() {
        let blob = {
            let mut b = Vec::new();
            b.extend_from_slice(&7u32.to_be_bytes());
            b.extend_from_slice(b"ssh-rsa");
            b.extend_from_slice(&[0, 0, 0, 1, 35]);
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let line = format!("ssh-rsa {blob} me@host");
        assert_eq!(public_key(&line), Ok(()));
        assert!(public_key(&format!("ssh-ed25519 {blob}")).is_err());
        assert!(public_key("ssh-rsa !!!").is_err());
        assert!(public_key("foo AAAA").is_err());
        assert_eq!(fingerprint(&line).unwrap().len(), 47);
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Me@Example.COM "), Ok("Me@example.com".into()));
        assert_eq!(email(""), Ok(String::new()));
        assert!(email("nope").is_err());
    }
}
