//! The `pre-receive` hook and its socket.
//!
//! git runs the hook (`deis-controller builder-hook`) after it received a push and before it
//! updates any ref, with the pushed objects in quarantine. The hook connects to
//! `{data_dir}/builder.sock`, sends the session token its environment carries, the quarantine
//! variables and the ref updates git gave it; the builder builds and deploys, sending lines
//! `o TEXT` (printed by the hook, so git shows them as `remote: TEXT`) and finally `x CODE`,
//! the hook's exit status: anything but 0 makes git refuse the push.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};

use crate::{Builder, push};

/// Environment variable naming the socket, set for git and so for its hook.
pub(crate) const SOCKET_VAR: &str = "DEIS_BUILDER_SOCKET";
/// Environment variable holding the session token.
pub(crate) const SESSION_VAR: &str = "DEIS_BUILDER_SESSION";
/// What git tells a hook about the quarantined objects; passed on to the builder's git.
const QUARANTINE_VARS: [&str; 3] = [
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
];

/// The socket's path in the data directory.
pub(crate) fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("builder.sock")
}

/// Binds the socket (replacing a stale one), readable by this user only.
pub(crate) fn listen(data_dir: &Path) -> anyhow::Result<UnixListener> {
    let path = socket_path(data_dir);
    std::fs::create_dir_all(data_dir)?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves hook connections until the task is aborted.
pub(crate) async fn accept(builder: Builder, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(builder.clone(), stream));
            }
            Err(e) => {
                tracing::warn!(error = %e, "hook socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One hook: reads its request, runs the push and streams the output back.
async fn serve(builder: Builder, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let token = lines.next_line().await.ok().flatten().unwrap_or_default();
    let mut env = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once('=')
            && QUARANTINE_VARS.contains(&name)
        {
            env.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut refs = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        refs.push(line);
    }
    let session = builder
        .inner
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&token);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            let framed = format!("o {}\n", line.replace('\n', " "));
            if write.write_all(framed.as_bytes()).await.is_err() {
                return None;
            }
        }
        Some(write)
    });
    let code = match session {
        Some(session) => push::run(&builder, &session, &env, &refs, &tx).await,
        None => {
            let _ = tx.send("! this push has no builder session".to_owned());
            1
        }
    };
    drop(tx);
    if let Ok(Some(mut write)) = writer.await {
        let _ = write.write_all(format!("x {code}\n").as_bytes()).await;
        let _ = write.shutdown().await;
    }
}

/// The hook program: run by git as `pre-receive`, prints what the builder says and exits with
/// the status it decides. Answers the exit status.
pub fn run_hook() -> i32 {
    let fail = |why: String| {
        eprintln!("! {why}");
        1
    };
    let (Ok(socket), Ok(token)) = (std::env::var(SOCKET_VAR), std::env::var(SESSION_VAR)) else {
        return fail("builder-hook runs only as the builder's git hook".into());
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(e) => return fail(format!("cannot reach the builder at {socket}: {e}")),
    };
    let mut request = format!("{token}\n");
    for name in QUARANTINE_VARS {
        if let Ok(value) = std::env::var(name) {
            request.push_str(&format!("{name}={value}\n"));
        }
    }
    request.push('\n');
    let sent = stream
        .write_all(request.as_bytes())
        .and_then(|()| std::io::copy(&mut std::io::stdin().lock(), &mut stream))
        .and_then(|_| stream.shutdown(std::net::Shutdown::Write));
    if let Err(e) = sent {
        return fail(format!("cannot talk to the builder: {e}"));
    }
    let mut stdout = std::io::stdout().lock();
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if let Some(text) = line.strip_prefix("o ") {
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        } else if let Some(code) = line.strip_prefix("x ") {
            return code.trim().parse().unwrap_or(1);
        }
    }
    fail("the builder went away before the push was done".into())
}
