//! Release arithmetic: config merging, summaries and default scaling.

use serde_json::Value;

use crate::model::{Build, Config, JsonMap, Structure};

/// Overlays `submitted` on `base`; `null` entries remove keys.
pub fn merge(base: &JsonMap, submitted: Option<&JsonMap>) -> JsonMap {
    let mut out = base.clone();
    for (k, v) in submitted.into_iter().flatten() {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Keys added, changed and deleted from `old` to `new`, each sorted.
fn diff(new: &JsonMap, old: &JsonMap) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut added: Vec<String> = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .cloned()
        .collect();
    let mut changed: Vec<String> = new
        .iter()
        .filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v))
        .map(|(k, _)| k.clone())
        .collect();
    let mut deleted: Vec<String> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    added.sort();
    changed.sort();
    deleted.sort();
    (added, changed, deleted)
}

fn phrase(new: &JsonMap, old: &JsonMap, word: &str) -> Option<String> {
    let (added, changed, deleted) = diff(new, old);
    let parts: Vec<String> = [("added", added), ("changed", changed), ("deleted", deleted)]
        .into_iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(verb, keys)| format!("{verb} {word}{}", keys.join(", ")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// What a release changed, for its summary.
pub struct SummaryInput<'a> {
    /// The new release's version.
    pub version: i64,
    /// Username of the acting user (release owner).
    pub user: &'a str,
    /// The new release's build, if it differs from the previous release's.
    pub new_build: Option<&'a Build>,
    /// The new config and the previous one, if the config record differs.
    pub config_change: Option<(&'a Config, &'a Config)>,
}

/// The summary string of §5.2, every part joined with `" and "` (our fix of §0.6).
pub fn summary(input: &SummaryInput<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(build) = input.new_build {
        let what = if build.sha.is_empty() {
            build.image.clone()
        } else {
            build.sha.chars().take(7).collect()
        };
        parts.push(format!("{} deployed {what}", build.owner));
    }
    if let Some((new, old)) = input.config_change {
        if let Some(p) = phrase(&new.values, &old.values, "") {
            parts.push(format!("{} {p}", new.owner));
        }
        let limits: Vec<&str> = [
            ("memory", &new.memory, &old.memory),
            ("cpu", &new.cpu, &old.cpu),
        ]
        .into_iter()
        .filter(|(_, n, o)| n != o)
        .map(|(name, _, _)| name)
        .collect();
        if !limits.is_empty() {
            parts.push(format!(
                "{} changed limits for {}",
                new.owner,
                limits.join(", ")
            ));
        }
        if let Some(p) = phrase(&new.tags, &old.tags, "tag ") {
            parts.push(format!("{} {p}", new.owner));
        }
    }
    if parts.is_empty() {
        format!("{} changed nothing", input.user)
    } else {
        parts.join(" and ")
    }
}

/// The structure a first build scales to (§5.4, with `cmd` wherever `web` would not be valid).
pub fn default_structure(build: &Build) -> Structure {
    let has_web = build.procfile.contains_key("web");
    let kind = if !build.sha.is_empty() && has_web {
        "web"
    } else {
        "cmd"
    };
    Structure::from([(kind.to_owned(), 1)])
}

/// The command a process type runs: `None` for `cmd` (image default), else its procfile line.
pub fn command_for(build: &Build, proc_type: &str) -> Option<String> {
    if proc_type == "cmd" {
        return None;
    }
    build.procfile.get(proc_type).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A config value as an environment variable's text.
pub fn env_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Merges a scale request into a stored structure (our fix of §0.6).
pub fn merge_structure(stored: &Structure, request: &Structure) -> Structure {
    let mut out = stored.clone();
    out.extend(request.iter().map(|(k, v)| (k.clone(), *v)));
    out
}

/// Bytes in a memory limit such as `512M`, `1g`, `100k` or `10b` (a bare number is bytes;
/// units are binary and case-insensitive, and `MB`-style suffixes are accepted too); `None`
/// when it is not one.
pub fn memory_bytes(limit: &str) -> Option<i64> {
    let trimmed = limit.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let count: i64 = digits.parse().ok()?;
    let factor: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    count.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_units_are_binary_and_case_insensitive() {
        assert_eq!(memory_bytes("512M"), Some(512 * 1024 * 1024));
        assert_eq!(memory_bytes("1g"), Some(1024 * 1024 * 1024));
        assert_eq!(memory_bytes("100k"), Some(102_400));
        assert_eq!(memory_bytes("10b"), Some(10));
        assert_eq!(memory_bytes("64MB"), Some(64 * 1024 * 1024));
        assert_eq!(memory_bytes("4096"), Some(4096));
    }

    #[test]
    fn malformed_memory_limits_are_refused() {
        for bad in ["", "M", "12x", "1.5g", "-1m", "99999999999999999999g"] {
            assert_eq!(memory_bytes(bad), None, "{bad:?} was accepted");
        }
    }
    use uuid::Uuid;

    fn config(values: Value, memory: Value, tags: Value) -> Config {
        Config {
            uuid: Uuid::new_v4(),
            app: "a".into(),
            owner: "owner".into(),
            values: values.as_object().cloned().unwrap_or_default(),
            memory: memory.as_object().cloned().unwrap_or_default(),
            cpu: JsonMap::new(),
            tags: tags.as_object().cloned().unwrap_or_default(),
            created: crate::timefmt::now(),
            updated: crate::timefmt::now(),
        }
    }

    fn build(sha: &str, procfile: Value) -> Build {
        Build {
            uuid: Uuid::new_v4(),
            app: "a".into(),
            owner: "bob".into(),
            image: "deis/test-app:latest".into(),
            sha: sha.into(),
            procfile: procfile.as_object().cloned().unwrap_or_default(),
            dockerfile: String::new(),
            created: crate::timefmt::now(),
            updated: crate::timefmt::now(),
        }
    }

    #[test]
    fn merge_overlays_and_removes() {
        let base = json!({"A": 1, "B": 2}).as_object().cloned().unwrap();
        let sub = json!({"B": null, "C": "x", "Z": null})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(
            Value::Object(merge(&base, Some(&sub))),
            json!({"A": 1, "C": "x"})
        );
    }

    #[test]
    fn summaries_join_with_and() {
        let old = config(json!({"C": 1, "D": 1}), json!({}), json!({}));
        let new = config(
            json!({"A": 1, "B": 1, "C": 2}),
            json!({"web": "1G"}),
            json!({"env": "x"}),
        );
        let s = summary(&SummaryInput {
            version: 3,
            user: "alice",
            new_build: None,
            config_change: Some((&new, &old)),
        });
        assert_eq!(
            s,
            "owner added A, B, changed C, deleted D and owner changed limits for memory and owner added tag env"
        );
        let same = summary(&SummaryInput {
            version: 3,
            user: "alice",
            new_build: None,
            config_change: Some((&old, &old)),
        });
        assert_eq!(same, "alice changed nothing");
        let b = build("060da68e1", json!({}));
        let d = summary(&SummaryInput {
            version: 2,
            user: "alice",
            new_build: Some(&b),
            config_change: None,
        });
        assert_eq!(d, "bob deployed 060da68");
        let b = build("", json!({}));
        let d = summary(&SummaryInput {
            version: 2,
            user: "alice",
            new_build: Some(&b),
            config_change: None,
        });
        assert_eq!(d, "bob deployed deis/test-app:latest");
    }

    #[test]
    fn default_scaling() {
        assert_eq!(
            default_structure(&build("", json!({"web": "x"}))),
            Structure::from([("cmd".into(), 1)])
        );
        assert_eq!(
            default_structure(&build("abc", json!({"web": "x"}))),
            Structure::from([("web".into(), 1)])
        );
        assert_eq!(
            default_structure(&build("abc", json!({"worker": "x"}))),
            Structure::from([("cmd".into(), 1)])
        );
        assert_eq!(
            default_structure(&build("abc", json!({}))),
            Structure::from([("cmd".into(), 1)])
        );
    }
}
