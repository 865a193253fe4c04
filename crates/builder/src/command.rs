//! The only commands clients may run: `git-receive-pack` and `git-upload-pack` of an app.

/// A git service the builder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// `git push`.
    Receive,
    /// `git fetch` / `git clone`.
    Upload,
}

impl Service {
    /// The git subcommand.
    pub(crate) fn subcommand(self) -> &'static str {
        match self {
            Self::Receive => "receive-pack",
            Self::Upload => "upload-pack",
        }
    }
}

/// Parses `git-receive-pack '/APP.git'` (also `git receive-pack`, without quotes, without
/// the slash or `.git`) into the service and the app id; `None` for anything else.
pub(crate) fn parse(command: &str) -> Option<(Service, String)> {
    let command = command.trim();
    let (program, argument) = command
        .strip_prefix("git-")
        .or_else(|| command.strip_prefix("git "))?
        .split_once(' ')?;
    let service = match program {
        "receive-pack" => Service::Receive,
        "upload-pack" => Service::Upload,
        _ => return None,
    };
    let argument = argument.trim();
    let unquoted = argument
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .or_else(|| argument.strip_prefix('"').and_then(|a| a.strip_suffix('"')))
        .unwrap_or(argument);
    let path = unquoted.strip_prefix('/').unwrap_or(unquoted);
    let app = path.strip_suffix(".git").unwrap_or(path);
    let valid = !app.is_empty()
        && app.len() <= 64
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then(|| (service, app.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_commands_name_an_app() {
        for (command, service, app) in [
            ("git-receive-pack '/web.git'", Service::Receive, "web"),
            ("git-receive-pack 'web.git'", Service::Receive, "web"),
            ("git-receive-pack '/web'", Service::Receive, "web"),
            ("git receive-pack web", Service::Receive, "web"),
            (
                "git-upload-pack '/my-app-2.git'",
                Service::Upload,
                "my-app-2",
            ),
        ] {
            assert_eq!(parse(command), Some((service, app.to_owned())), "{command}");
        }
        for command in [
            "",
            "ls",
            "git-receive-pack",
            "git-upload-archive '/web.git'",
            "git-receive-pack '/../etc.git'",
            "git-receive-pack '/a/b.git'",
            "git-receive-pack '/Web.git'",
            "sh -c 'git-receive-pack /web.git'",
            "git-receive-pack '/web.git'; rm -rf /",
        ] {
            assert_eq!(parse(command), None, "{command}");
        }
    }
}
