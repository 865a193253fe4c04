//! The build of a push: the updated `master` (or `main`) is read from the quarantined
//! objects, archived as the build context and deployed through the platform.

use std::path::Path;

use deis_domain::{Error, PushInput};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc::UnboundedSender;

use crate::{Builder, PushSession, repos};

/// The branches whose pushes deploy.
const DEPLOYED: [&str; 2] = ["refs/heads/master", "refs/heads/main"];
/// An absent object in a ref update.
const ZERO: &str = "0000000000000000000000000000000000000000";

/// Builds and deploys the pushed commit, sending progress to `out`; answers the hook's exit
/// status (0: git may update the refs).
pub(crate) async fn run(
    builder: &Builder,
    session: &PushSession,
    env: &[(String, String)],
    refs: &[String],
    out: &UnboundedSender<String>,
) -> i32 {
    let say = |line: String| {
        let _ = out.send(line);
    };
    let updates: Vec<(&str, &str)> = refs
        .iter()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (_old, new, name) = (parts.next()?, parts.next()?, parts.next()?);
            Some((new, name))
        })
        .collect();
    let Some(sha) = DEPLOYED.iter().find_map(|branch| {
        updates
            .iter()
            .find(|(new, name)| name == branch && *new != ZERO)
            .map(|(new, _)| new.to_string())
    }) else {
        say("-----> Nothing to deploy: only a push to master or main builds.".into());
        return 0;
    };
    match build(builder, session, env, &sha, &say).await {
        Ok(version) => {
            say(format!("       done, v{version}"));
            say(String::new());
            say(format!(
                "       http://{}",
                builder.inner.platform.url(&session.app)
            ));
            say(String::new());
            0
        }
        Err(why) => {
            for line in why.lines() {
                say(format!("! {line}"));
            }
            say(String::new());
            1
        }
    }
}

/// The build and deploy; answers the new release's version or why it failed.
async fn build(
    builder: &Builder,
    session: &PushSession,
    env: &[(String, String)],
    sha: &str,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<i64, String> {
    let settings = &builder.inner.settings;
    let repo = repos::path(settings, &session.app);
    let short: String = sha.chars().take(7).collect();
    say(format!("-----> Building {} at {short}", session.app));
    let dockerfile = show(&repo, env, sha, "Dockerfile").await?.ok_or_else(|| {
        format!(
            "{short} has no Dockerfile at the root of the repository; the builder builds \
             Dockerfile apps"
        )
    })?;
    let procfile = show(&repo, env, sha, "Procfile").await?.unwrap_or_default();
    let context = archive(&repo, env, sha, settings.max_build_context).await?;
    say("-----> Building Docker image".into());
    let fingerprint = deis_domain::validate::fingerprint(&session.key.public).unwrap_or_default();
    let push = PushInput {
        sha: sha.to_owned(),
        dockerfile,
        procfile,
        context,
        fingerprint,
        ssh_connection: session.ssh_connection.clone(),
        ssh_original_command: session.command.clone(),
    };
    let output = |line: &str| say(format!("       {line}"));
    let launching = || say("-----> Launching...".into());
    let deployed = builder
        .inner
        .platform
        .deploy_push(&session.user, &session.app, push, &output, &launching)
        .await;
    match deployed {
        Ok((_, release)) => Ok(release.version),
        Err(e) => Err(describe(e)),
    }
}

/// What a failed push tells the user.
fn describe(e: Error) -> String {
    match e {
        Error::Fields(fields) => fields
            .iter()
            .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
            .collect::<Vec<_>>()
            .join("\n"),
        Error::NotFound | Error::NotFoundEmpty => "the app no longer exists".into(),
        Error::Store(e) => format!("the database failed: {e}"),
        other => other.to_string(),
    }
}

/// A git command in the repository that also sees the quarantined objects.
fn git(repo: &Path, env: &[(String, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("--git-dir")
        .arg(repo)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// The text of `file` at the root of `sha`, `None` when the commit has no such file.
async fn show(
    repo: &Path,
    env: &[(String, String)],
    sha: &str,
    file: &str,
) -> Result<Option<String>, String> {
    let out = git(repo, env)
        .args(["cat-file", "-p", &format!("{sha}:{file}")])
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Ok(None);
    }
    String::from_utf8(out.stdout)
        .map(Some)
        .map_err(|_| format!("{file} is not UTF-8 text"))
}

/// The commit as a tar archive, at most `cap` bytes.
async fn archive(
    repo: &Path,
    env: &[(String, String)],
    sha: &str,
    cap: u64,
) -> Result<Vec<u8>, String> {
    let mut child = git(repo, env)
        .args(["archive", "--format=tar", sha])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git archive: {e}"))?;
    let mut context = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let mut limited = stdout.take(cap.saturating_add(1));
        limited
            .read_to_end(&mut context)
            .await
            .map_err(|e| format!("reading the archive failed: {e}"))?;
    }
    if context.len() as u64 > cap {
        let _ = child.kill().await;
        return Err(format!(
            "the build context is larger than max_build_context ({cap} bytes)"
        ));
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("git archive failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git archive failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(context)
}
