//! The SSH server: user `git`, public keys registered through `/v1/keys`, wrong keys
//! throttled per client address, and `git-receive-pack` / `git-upload-pack` of an app the
//! user may use, run by the system's git with the channel as its standard streams.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use deis_domain::{Error, Key, User};
use russh::keys::PrivateKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Server, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelWriteHalf, MethodKind, MethodSet};
use tokio::io::AsyncWriteExt as _;

use crate::command::{self, Service};
use crate::hook::{SESSION_VAR, SOCKET_VAR};
use crate::{Builder, PushSession, hook, repos};

/// Serves SSH on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    builder: Builder,
    host_key: PrivateKey,
    hooks: PathBuf,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let config = russh::server::Config {
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![host_key],
        auth_rejection_time: std::time::Duration::from_millis(300),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
        nodelay: true,
        ..Default::default()
    };
    let mut server = SshServer {
        builder,
        hooks: Arc::new(hooks),
        local,
    };
    tracing::info!(bind = %local, "builder serving git over SSH");
    let running = server.run_on_socket(Arc::new(config), &listener);
    let handle = running.handle();
    tokio::select! {
        result = running => Ok(result?),
        () = shutdown => {
            handle.shutdown("the builder is shutting down".into());
            Ok(())
        }
    }
}

struct SshServer {
    builder: Builder,
    hooks: Arc<PathBuf>,
    local: SocketAddr,
}

impl Server for SshServer {
    type Handler = Connection;

    fn new_client(&mut self, peer: Option<SocketAddr>) -> Connection {
        Connection {
            builder: self.builder.clone(),
            hooks: self.hooks.clone(),
            local: self.local,
            peer,
            who: None,
            unknown_keys: 0,
            channels: HashMap::new(),
        }
    }
}

/// One client connection.
struct Connection {
    builder: Builder,
    hooks: Arc<PathBuf>,
    local: SocketAddr,
    peer: Option<SocketAddr>,
    who: Option<(User, Key)>,
    /// Keys offered that nobody registered; counted as wrong keys only if the connection ends
    /// unauthenticated, so a user whose agent offers other keys first is not throttled.
    unknown_keys: u32,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.who.is_some() || self.unknown_keys == 0 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (platform, address) = (self.builder.inner.platform.clone(), self.address());
        let count = self.unknown_keys;
        runtime.spawn(async move {
            for _ in 0..count {
                match platform.builder_key_failed(&address).await {
                    Ok(()) => {}
                    Err(Error::TooMany { .. }) => {
                        tracing::warn!(address, "wrong builder keys: address throttled");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not count a wrong key");
                        return;
                    }
                }
            }
        });
    }
}

impl Connection {
    fn address(&self) -> String {
        self.peer
            .map(|p| p.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }

    /// The registered key and its owner; `count` notes an unknown key (see `unknown_keys`).
    async fn identify(
        &mut self,
        user: &str,
        key: &russh::keys::PublicKey,
        count: bool,
    ) -> Option<(User, Key)> {
        let platform = &self.builder.inner.platform;
        let address = self.address();
        if user != "git" || platform.check_builder_address(&address).await.is_err() {
            return None;
        }
        let data = key
            .to_openssh()
            .ok()
            .and_then(|line| line.split_whitespace().nth(1).map(str::to_owned))?;
        match platform.key_owner(&data).await {
            Ok(found) => Some(found),
            Err(Error::NotFound) => {
                if count {
                    self.unknown_keys = self.unknown_keys.saturating_add(1);
                }
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not look a builder key up");
                None
            }
        }
    }
}

impl Handler for Connection {
    type Error = anyhow::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        let platform = &self.builder.inner.platform;
        Ok(
            match platform.check_builder_address(&self.address()).await {
                Err(Error::TooMany { message, .. }) => Some(format!("{message}\n")),
                _ => None,
            },
        )
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(match self.identify(user, offer.public_key, true).await {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.who = self.identify(user, key.public_key, false).await;
        Ok(match self.who {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No terminals here: git needs none, and there is no shell to give one to.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        if let (Some(channel), Some((user, _))) = (self.channels.remove(&channel), &self.who) {
            let message = format!(
                "Hi {}! You can push to apps you may use with git, but there is no shell here.\n",
                user.username
            );
            tokio::spawn(async move { refuse(channel.split().1, &message).await });
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let (Some(channel), Some((user, key))) = (self.channels.remove(&channel), self.who.clone())
        else {
            return Ok(());
        };
        let exec = Exec {
            builder: self.builder.clone(),
            hooks: self.hooks.clone(),
            user,
            key,
            command: String::from_utf8_lossy(data).into_owned(),
            ssh_connection: match self.peer {
                Some(peer) => format!(
                    "{} {} {} {}",
                    peer.ip(),
                    peer.port(),
                    self.local.ip(),
                    self.local.port()
                ),
                None => format!("unknown 0 {} {}", self.local.ip(), self.local.port()),
            },
        };
        tokio::spawn(exec.run(channel));
        Ok(())
    }
}

/// Writes `message` to the client's stderr and ends the channel with exit status 1.
async fn refuse(write: ChannelWriteHalf<Msg>, message: &str) {
    let mut stderr = write.make_writer_ext(Some(1));
    let _ = stderr.write_all(message.as_bytes()).await;
    let _ = stderr.flush().await;
    let _ = write.exit_status(1).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

/// One command a client asked for.
struct Exec {
    builder: Builder,
    hooks: Arc<PathBuf>,
    user: User,
    key: Key,
    command: String,
    ssh_connection: String,
}

impl Exec {
    async fn run(self, channel: Channel<Msg>) {
        let (read, write) = channel.split();
        let Some((service, app)) = command::parse(&self.command) else {
            let message = format!(
                "! The builder runs only git-receive-pack and git-upload-pack of an app; \
                 refused: {:?}\n",
                self.command
            );
            return refuse(write, &message).await;
        };
        let platform = &self.builder.inner.platform;
        match platform.pushable_app(&self.user, &app).await {
            Ok(_) => {}
            Err(Error::NotFound) => {
                let message = format!(
                    "! {} may not use app {app}, or it does not exist.\n",
                    self.user.username
                );
                tracing::info!(user = %self.user.username, app, "builder access refused");
                return refuse(write, &message).await;
            }
            Err(e) => return refuse(write, &format!("! {e}\n")).await,
        }
        let lock = self.builder.app_lock(&app);
        let _held = match lock.try_lock() {
            Ok(held) => held,
            Err(_) => {
                let mut stderr = write.make_writer_ext(Some(1));
                let note = format!("-----> Another push of {app} is under way; waiting for it\n");
                let _ = stderr.write_all(note.as_bytes()).await;
                let _ = stderr.flush().await;
                lock.lock().await
            }
        };
        let code = match self.git(service, &app, read, &write).await {
            Ok(code) => code,
            Err(why) => {
                let mut stderr = write.make_writer_ext(Some(1));
                let _ = stderr.write_all(format!("! {why}\n").as_bytes()).await;
                let _ = stderr.flush().await;
                1
            }
        };
        let _ = write.exit_status(code).await;
        let _ = write.eof().await;
        let _ = write.close().await;
    }

    /// Runs git's side of the service on the app's repository with the channel as its
    /// standard streams; answers its exit status.
    async fn git(
        &self,
        service: Service,
        app: &str,
        mut read: russh::ChannelReadHalf,
        write: &ChannelWriteHalf<Msg>,
    ) -> Result<u32, String> {
        let settings = &self.builder.inner.settings;
        let repo = repos::ensure(settings, app)
            .await
            .map_err(|e| format!("the repository of {app} is not available: {e}"))?;
        let mut git = tokio::process::Command::new("git");
        git.arg("-c")
            .arg(format!("core.hooksPath={}", self.hooks.display()));
        let mut token = None;
        if service == Service::Receive {
            let used = repos::size(&repo).await;
            if used >= settings.max_repo_size {
                return Err(format!(
                    "the repository of {app} holds {used} bytes, the most is max_repo_size \
                     ({} bytes)",
                    settings.max_repo_size
                ));
            }
            git.arg("-c").arg(format!(
                "receive.maxInputSize={}",
                settings.max_repo_size - used
            ));
            let secret = new_token().map_err(|e| e.to_string())?;
            self.builder
                .inner
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(
                    secret.clone(),
                    PushSession {
                        user: self.user.clone(),
                        key: self.key.clone(),
                        app: app.to_owned(),
                        ssh_connection: self.ssh_connection.clone(),
                        command: self.command.clone(),
                    },
                );
            git.env(SESSION_VAR, &secret)
                .env(SOCKET_VAR, hook::socket_path(&settings.data_dir));
            token = Some(secret);
        }
        let result = pipe(git.arg(service.subcommand()).arg(&repo), &mut read, write).await;
        if let Some(token) = token {
            self.builder
                .inner
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&token);
        }
        result
    }
}

/// Runs `command` with the channel's data as its stdin, its stdout as the channel's data and
/// its stderr as the channel's stderr; answers its exit status once its output is sent.
async fn pipe(
    command: &mut tokio::process::Command,
    read: &mut russh::ChannelReadHalf,
    write: &ChannelWriteHalf<Msg>,
) -> Result<u32, String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("git's standard streams are missing".into());
    };
    let mut data = write.make_writer();
    let mut errors = write.make_writer_ext(Some(1));
    let input = async {
        let mut reader = read.make_reader();
        let _ = tokio::io::copy(&mut reader, &mut stdin).await;
        drop(stdin);
        // Past the client's end of input, wait for git to finish.
        std::future::pending::<()>().await;
    };
    // Each pipe is closed as soon as its copy ends, also when the client went away, so git
    // cannot block on a full pipe nobody reads.
    let output = async {
        let out = async move {
            let copied = tokio::io::copy(&mut stdout, &mut data).await;
            drop(stdout);
            let _ = data.flush().await;
            copied
        };
        let err = async move {
            let copied = tokio::io::copy(&mut stderr, &mut errors).await;
            drop(stderr);
            let _ = errors.flush().await;
            copied
        };
        let _ = tokio::join!(out, err);
        child.wait().await
    };
    let status = tokio::select! {
        done = output => done,
        () = input => unreachable!("input never ends by itself"),
    };
    let status = status.map_err(|e| format!("git failed: {e}"))?;
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u32))
}

/// A fresh secret session token.
fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the system has no randomness"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
