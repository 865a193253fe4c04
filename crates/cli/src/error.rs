//! The one error type of the client and the exit code each kind of failure maps to.

use std::fmt;

/// Everything that can make a command fail.
#[derive(Debug)]
pub enum CliError {
    /// The command line was wrong or incomplete (exit code 2).
    Usage(String),
    /// The controller answered with an unexpected status (exit code 1).
    Api(ApiError),
    /// The controller could not be reached or the connection broke (exit code 1).
    Network(String),
    /// Anything else: local files, git, settings (exit code 1).
    Other(String),
}

/// An unexpected answer from the controller, decoded into one readable line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Canonical reason phrase of the status, e.g. `Not Found`.
    pub reason: String,
    /// The message the controller gave (its `detail`, field errors or text), possibly empty.
    pub message: String,
    /// The app the command was about, mentioned so that a 404 is easy to read.
    pub app: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.message.is_empty(), &self.app) {
            (true, None) => write!(f, "{} {}", self.status, self.reason),
            (true, Some(app)) => write!(f, "{} {} (app \"{app}\")", self.status, self.reason),
            (false, None) => write!(f, "{} ({} {})", self.message, self.status, self.reason),
            (false, Some(app)) => write!(
                f,
                "{} ({} {}, app \"{app}\")",
                self.message, self.status, self.reason
            ),
        }
    }
}

impl CliError {
    /// The process exit code for this error: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Api(_) | CliError::Network(_) | CliError::Other(_) => 1,
        }
    }

    /// Prefixes the message with some context, keeping the kind of error.
    pub fn context(self, what: &str) -> CliError {
        match self {
            CliError::Usage(m) => CliError::Usage(format!("{what}: {m}")),
            CliError::Api(mut e) => {
                e.message = if e.message.is_empty() {
                    what.to_owned()
                } else {
                    format!("{what}: {}", e.message)
                };
                CliError::Api(e)
            }
            CliError::Network(m) => CliError::Network(format!("{what}: {m}")),
            CliError::Other(m) => CliError::Other(format!("{what}: {m}")),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Network(m) | CliError::Other(m) => f.write_str(m),
            CliError::Api(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CliError {}

/// Result type of every command.
pub type Result<T> = std::result::Result<T, CliError>;

/// Builds a usage error (exit code 2).
pub fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// Builds a local failure (exit code 1).
pub fn other(message: impl Into<String>) -> CliError {
    CliError::Other(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_and_others_exit_1() {
        assert_eq!(usage("x").exit_code(), 2);
        assert_eq!(other("x").exit_code(), 1);
        assert_eq!(CliError::Network("x".into()).exit_code(), 1);
    }

    #[test]
    fn api_errors_read_as_one_line() {
        let e = ApiError {
            status: 404,
            reason: "Not Found".into(),
            message: "Not found".into(),
            app: Some("ghost".into()),
        };
        assert_eq!(e.to_string(), "Not found (404 Not Found, app \"ghost\")");
        let bare = ApiError {
            message: String::new(),
            app: None,
            ..e
        };
        assert_eq!(bare.to_string(), "404 Not Found");
    }

    #[test]
    fn context_prefixes_the_message() {
        let e = CliError::Api(ApiError {
            status: 400,
            reason: "Bad Request".into(),
            message: "username: taken".into(),
            app: None,
        });
        assert_eq!(
            e.context("Registration failed").to_string(),
            "Registration failed: username: taken (400 Bad Request)"
        );
    }
}
