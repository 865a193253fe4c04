//! `KEY=VALUE` arguments and `.env` files.
//!
//! As in the original client, a value that reads as an integer is sent as a JSON number
//! (`PORT=5000` is stored as `5000`). Only values that survive the round trip are turned into
//! numbers, so `ZIP=01234` and `N=+5` stay strings.

use serde_json::{Map, Value};

use crate::error::{Result, usage};

/// A value as the API should store it: a JSON integer when the text is one, else a string.
pub fn coerce(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(n) if n.to_string() == text => Value::from(n),
        _ => Value::from(text),
    }
}

/// Splits `KEY=VALUE` arguments (`what` names them in errors) into an object, coercing values.
pub fn parse_pairs(args: &[String], what: &str) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                map.insert(key.to_owned(), coerce(value));
            }
            _ => {
                return Err(usage(format!(
                    "expected {what}, got \"{arg}\" (e.g. {})",
                    example(what)
                )));
            }
        }
    }
    Ok(map)
}

fn example(what: &str) -> &'static str {
    match what {
        "type=N" => "web=2",
        "type=limit" => "web=512M",
        _ => "KEY=value",
    }
}

/// An object whose keys are all set to `null`: what the API reads as "remove these".
pub fn nulls(keys: &[String]) -> Map<String, Value> {
    keys.iter().map(|k| (k.clone(), Value::Null)).collect()
}

/// Reads a `.env` file: `KEY=value` lines, with blank lines, `#` comments and an `export `
/// prefix allowed; values may be quoted (double quotes understand `\n`, `\"` and `\\`).
/// Returns the entries in file order and the lines that could not be read.
pub fn parse_env(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() && !key.trim().contains(' ') => {
                let key = key.trim().to_owned();
                let value = unquote(value.trim());
                entries.retain(|(k, _)| *k != key);
                entries.push((key, value));
            }
            _ => bad.push(line.to_owned()),
        }
    }
    (entries, bad)
}

fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        return value[1..value.len() - 1].replace("'\\''", "'");
    }
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        let inner = &value[1..value.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    value.to_owned()
}

/// Writes entries as `.env` lines, sorted by key, that a POSIX shell can also `source`:
/// values of plain characters as they are, others in single quotes (`'` written `'\''`), and
/// values with newlines double-quoted with `\n` (the one escape a shell reads differently).
pub fn format_env(entries: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = entries.keys().collect();
    keys.sort();
    let mut out = String::new();
    for key in keys {
        let value = match &entries[key] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let plain = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,+=@%^".contains(c));
        if value.contains('\n') {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('`', "\\`")
                .replace('\n', "\\n");
            out.push_str(&format!("{key}=\"{escaped}\"\n"));
        } else if plain {
            out.push_str(&format!("{key}={value}\n"));
        } else {
            out.push_str(&format!("{key}='{}'\n", value.replace('\'', "'\\''")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_are_coerced_only_when_they_round_trip() {
        assert_eq!(coerce("5000"), json!(5000));
        assert_eq!(coerce("-3"), json!(-3));
        assert_eq!(coerce("0"), json!(0));
        assert_eq!(coerce("01234"), json!("01234"));
        assert_eq!(coerce("+5"), json!("+5"));
        assert_eq!(coerce("1.5"), json!("1.5"));
        assert_eq!(
            coerce("99999999999999999999"),
            json!("99999999999999999999")
        );
        assert_eq!(coerce(""), json!(""));
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        let args = vec!["URL=http://x/?a=b".to_owned(), "PORT=5000".to_owned()];
        let map = parse_pairs(&args, "KEY=VALUE").unwrap();
        assert_eq!(
            Value::Object(map),
            json!({"URL": "http://x/?a=b", "PORT": 5000})
        );
        let empty = parse_pairs(&["EMPTY=".to_owned()], "KEY=VALUE").unwrap();
        assert_eq!(empty["EMPTY"], json!(""));
    }

    #[test]
    fn malformed_pairs_are_usage_errors() {
        let err = parse_pairs(&["FOO".to_owned()], "KEY=VALUE").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("\"FOO\""));
        assert!(parse_pairs(&["=x".to_owned()], "type=N").is_err());
    }

    #[test]
    fn nulls_remove_keys() {
        assert_eq!(
            Value::Object(nulls(&["A".into(), "B".into()])),
            json!({"A": null, "B": null})
        );
    }

    #[test]
    fn env_files_are_read_leniently() {
        let text = "# comment\n\nexport A=1\nB = two words \nC=\"line1\\nline2\"\nD='x y'\n\
                    E=\nnot a pair\nA=3\n";
        let (entries, bad) = parse_env(text);
        assert_eq!(
            entries,
            [
                ("B".to_owned(), "two words".to_owned()),
                ("C".to_owned(), "line1\nline2".to_owned()),
                ("D".to_owned(), "x y".to_owned()),
                ("E".to_owned(), String::new()),
                ("A".to_owned(), "3".to_owned()),
            ]
        );
        assert_eq!(bad, ["not a pair"]);
    }

    #[test]
    fn env_files_round_trip() {
        let values = json!({"PORT": 5000, "MSG": "say \"hi\"\nbye", "PLAIN": "a=b c", "E": ""});
        let text = format_env(values.as_object().unwrap());
        assert_eq!(
            text,
            "E=\nMSG=\"say \\\"hi\\\"\\nbye\"\nPLAIN='a=b c'\nPORT=5000\n"
        );
        let (entries, bad) = parse_env(&text);
        assert!(bad.is_empty());
        let back: Map<String, Value> = entries.into_iter().map(|(k, v)| (k, coerce(&v))).collect();
        assert_eq!(Value::Object(back), values);
    }

    #[test]
    fn env_files_are_shell_sources() {
        let values = json!({"Q": "it's $HOME; `x` & y", "S": "a b", "N": "two\nlines $X"});
        let text = format_env(values.as_object().unwrap());
        let (entries, bad) = parse_env(&text);
        assert!(bad.is_empty());
        let back: Map<String, Value> = entries.into_iter().map(|(k, v)| (k, coerce(&v))).collect();
        assert_eq!(Value::Object(back), values);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(".env");
        std::fs::write(&file, &text).expect("write");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                ". '{}'; printf '%s|%s' \"$Q\" \"$S\"",
                file.display()
            ))
            .output()
            .expect("sh runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's $HOME; `x` & y|a b"
        );
    }
}
