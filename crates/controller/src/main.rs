//! The controller binary: reads settings, opens the store, connects the scheduler, wires them
//! into the API through trait objects, reconciles and serves. The only crate that knows every
//! other one.

mod metered;
mod settings;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use deis_api::{ApiSettings, ApiState, Metrics, Registration, ServerLimits};
use deis_builder::{Builder, BuilderSettings};
use deis_domain::{
    NewUser, Platform, PlatformSettings, Quotas, Routing, Scheduler, SealingKey, Store, Throttle,
};
use deis_router::{Router, RouterSettings};
use deis_scheduler::{DockerScheduler, DockerSettings, SwarmScheduler};
use deis_store::{Change, DieselStore};
use tokio::sync::broadcast;

use crate::settings::Settings;

/// A Deis v1 compatible PaaS controller.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML settings file; `DEIS_*` environment variables override it.
    #[arg(long, global = true, env = "DEIS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run migrations, reconcile with the engine and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the settings, then that the database and the engine answer (a few seconds each);
    /// exits non-zero naming what is unreachable.
    Check,
    /// Create an administrator, or promote an existing user (for disabled registration).
    CreateAdmin {
        /// Username of the administrator.
        username: String,
        /// Password for a new user (read from DEIS_ADMIN_PASSWORD when omitted).
        #[arg(long, env = "DEIS_ADMIN_PASSWORD")]
        password: Option<String>,
        /// E-mail address of a new user.
        #[arg(long, default_value = "")]
        email: String,
    },
    /// The builder's git `pre-receive` hook (run by git, not by people).
    #[command(hide = true)]
    BuilderHook,
}

fn open_store(settings: &Settings) -> anyhow::Result<Arc<DieselStore>> {
    let url = settings.database_url();
    let store = DieselStore::open(&url, settings.db_pool_size)
        .with_context(|| format!("opening the database at {url}"))?;
    Ok(Arc::new(store))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let pool_store = open_store(&settings)?;
    let other_replicas = pool_store.subscribe();
    let store: Arc<dyn Store> = pool_store.clone();
    let secret_key = if settings.secret_key.is_empty() {
        let fresh = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        store
            .setting_or_insert("jwt_secret", &fresh)
            .await
            .context("keeping the generated signing key")?
    } else {
        settings.secret_key.clone()
    };
    let cert_secret = if settings.cert_key.is_empty() {
        &secret_key
    } else {
        &settings.cert_key
    };
    let sealing_key =
        SealingKey::derive(cert_secret).context("deriving the certificate sealing key")?;
    let identity = scheduler_identity(&settings, store.as_ref()).await?;
    tracing::info!(identity = %identity, "scheduler identity");
    let docker = DockerSettings {
        identity,
        start_timeout: Duration::from_secs(settings.start_timeout),
        pids_limit: settings.pids_limit,
        network_subnet: Some(settings.network_subnet.clone()).filter(|s| !s.is_empty()),
        ..DockerSettings::default()
    };
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(metered::PoolCollector::new(pool_store)?))
        .context("registering the pool metrics")?;
    let scheduler: Arc<dyn Scheduler> = Arc::new(
        metered::MeteredScheduler::new(backend(&settings, docker), &registry)
            .context("registering the engine metrics")?,
    );
    let router = Router::new(RouterSettings {
        probe_interval: Duration::from_secs(settings.health_interval),
        probe_timeout: Duration::from_secs(settings.health_probe_timeout),
        response_timeout: Duration::from_secs(settings.router_response_timeout),
        ..RouterSettings::default()
    });
    let routing: Arc<dyn Routing> = Arc::new(router.clone());
    let platform = Platform::new(
        store,
        scheduler,
        routing,
        PlatformSettings {
            domain: settings.domain.clone(),
            log_lines: settings.log_lines,
            run_timeout: Duration::from_secs(settings.run_timeout),
            run_output_limit: usize::try_from(settings.run_output_limit).unwrap_or(usize::MAX),
            public_port: settings.public_port(),
            health_timeout: Duration::from_secs(settings.health_timeout),
            drain_grace: Duration::from_secs(settings.drain_grace),
            quotas: Quotas {
                apps_per_user: settings.max_apps_per_user,
                containers_per_app: settings.max_containers_per_app,
                containers: settings.max_containers,
                runs_per_app: settings.max_runs_per_app,
            },
            throttle: Throttle {
                failures: settings.throttle_failures,
                window: Duration::from_secs(settings.throttle_window),
            },
            sealing_key,
            keep_releases: settings.keep_releases,
            ..PlatformSettings::default()
        },
    );
    let api = ApiSettings {
        secret_key,
        token_lifetime: Duration::from_secs(settings.token_lifetime),
        bcrypt_cost: settings.bcrypt_cost,
        registration: Registration::parse(&settings.registration).unwrap_or(Registration::Enabled),
        builder_key: Some(settings.builder_key.clone()).filter(|k| !k.is_empty()),
        body_limit: settings.body_limit,
        trust_forwarded_for: settings.trust_forwarded_for,
        builder_port: settings
            .builder_bind
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.port()),
    };
    // The image reference grammar is one large regular expression, compiled on first use
    // (about 0.15 s): compile it now rather than in the first build request.
    drop(tokio::task::spawn_blocking(|| {
        deis_domain::image_reference("deis/example:latest")
    }));
    tokio::spawn(reconcile_forever(
        platform.clone(),
        settings.reconcile_interval,
    ));
    tokio::spawn(follow_other_replicas(platform.clone(), other_replicas));
    let listener =
        TcpListener::bind(&settings.bind).with_context(|| format!("binding {}", settings.bind))?;
    let (stop_tls, tls_stopped) = tokio::sync::oneshot::channel::<()>();
    let tls_task = if settings.router_tls_bind.is_empty() {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&settings.router_tls_bind)
            .await
            .with_context(|| {
                format!("binding the router's HTTPS to {}", settings.router_tls_bind)
            })?;
        tracing::info!(bind = %settings.router_tls_bind, "routing apps over HTTPS (certificates of /v1/certs)");
        let router = router.clone();
        Some(tokio::spawn(async move {
            router
                .serve_tls(listener, async {
                    let _ = tls_stopped.await;
                })
                .await
        }))
    };
    let (stop_router, stopped) = tokio::sync::oneshot::channel::<()>();
    let router_task = if settings.router_bind.is_empty() {
        tracing::info!("router listener disabled (router_bind is empty)");
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&settings.router_bind)
            .await
            .with_context(|| format!("binding the router to {}", settings.router_bind))?;
        tracing::info!(bind = %settings.router_bind, domain = %settings.domain, "routing apps");
        Some(tokio::spawn(async move {
            router
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        }))
    };
    let (stop_builder, builder_stopped) = tokio::sync::oneshot::channel::<()>();
    let builder_task = if settings.builder_bind.is_empty() {
        tracing::info!("builder disabled (builder_bind is empty)");
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&settings.builder_bind)
            .await
            .with_context(|| format!("binding the builder to {}", settings.builder_bind))?;
        let builder = Builder::new(
            platform.clone(),
            BuilderSettings {
                data_dir: settings.data_dir.clone(),
                hook_program: std::env::current_exe().context("locating the controller binary")?,
                max_repo_size: settings.max_repo_size,
                max_build_context: settings.max_build_context,
                sweep_interval: Duration::from_secs(settings.reconcile_interval.max(5)),
            },
        );
        Some(tokio::spawn(builder.serve(listener, async {
            let _ = builder_stopped.await;
        })))
    };
    tracing::info!(bind = %settings.bind, database = %redact(&settings.database_url()), "serving the Deis v1 API");
    let metrics = Metrics::new(
        registry,
        Some(settings.metrics_token.clone()).filter(|t| !t.is_empty()),
    )
    .context("registering the API metrics")?;
    let limits = ServerLimits {
        body_timeout: Duration::from_secs(settings.body_timeout),
        connections_per_ip: settings.connections_per_ip,
        // In-flight deploys may take as long as starting their containers.
        shutdown_timeout: Duration::from_secs(settings.start_timeout),
    };
    let server = deis_api::run_with(
        listener,
        ApiState::new(platform, api).with_metrics(metrics),
        limits,
    )?;
    notify(&[sd_notify::NotifyState::Ready]);
    // SIGTERM (or SIGINT): actix stops accepting and lets requests in flight finish.
    server.await?;
    tracing::info!("API stopped; stopping the router");
    notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_router.send(());
    let _ = stop_tls.send(());
    let _ = stop_builder.send(());
    if let Some(task) = builder_task {
        task.await.context("the builder stopped abnormally")??;
    }
    if let Some(task) = router_task {
        task.await.context("the router stopped abnormally")??;
    }
    if let Some(task) = tls_task {
        task.await
            .context("the router's HTTPS stopped abnormally")??;
    }
    Ok(())
}

/// Tells systemd (`Type=notify`) about the service's state; nothing without `NOTIFY_SOCKET`.
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(state)
    {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// The scheduler identity: the setting, else the one kept in the database (made by the
/// migrations for a new database; generated here should it be missing).
async fn scheduler_identity(settings: &Settings, store: &dyn Store) -> anyhow::Result<String> {
    if !settings.scheduler_identity.is_empty() {
        return Ok(settings.scheduler_identity.clone());
    }
    let fresh = format!("deis-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    store
        .setting_or_insert("scheduler_identity", &fresh)
        .await
        .context("keeping the generated scheduler identity")
}

/// The backend the `scheduler` setting names: one Docker engine, or the swarm it manages.
fn backend(settings: &Settings, docker: DockerSettings) -> Arc<dyn Scheduler> {
    if settings.scheduler == "swarm" {
        Arc::new(SwarmScheduler::new(docker))
    } else {
        Arc::new(DockerScheduler::new(docker))
    }
}

/// How long `check` waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// `check`: the settings are valid (or loading them failed already); then the database and the
/// engine must answer within [`CHECK_TIMEOUT`] each. Exits 1 naming what is unreachable.
async fn check(settings: Settings) -> anyhow::Result<()> {
    let url = settings.database_url();
    println!("settings are valid (database: {})", redact(&url));
    let mut unreachable = Vec::new();
    let opening = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || open_store(&settings))
    };
    let database = match tokio::time::timeout(CHECK_TIMEOUT, opening).await {
        Ok(Ok(Ok(store))) => match tokio::time::timeout(CHECK_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        },
        Ok(Ok(Err(e))) => Err(format!("{e:#}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    match database {
        Ok(()) => println!("database: ok"),
        Err(e) => {
            println!("database: unreachable: {e}");
            unreachable.push("database");
        }
    }
    let docker = DockerSettings {
        connect_timeout: CHECK_TIMEOUT,
        request_timeout: CHECK_TIMEOUT,
        ..DockerSettings::default()
    };
    let engine = backend(&settings, docker);
    match tokio::time::timeout(CHECK_TIMEOUT * 2, engine.ping()).await {
        Ok(Ok(())) => println!("engine: ok"),
        Ok(Err(e)) => {
            println!("engine: unreachable: {e}");
            unreachable.push("engine");
        }
        Err(_) => {
            println!("engine: unreachable: no answer in time");
            unreachable.push("engine");
        }
    }
    if unreachable.is_empty() {
        Ok(())
    } else {
        eprintln!("unreachable: {}", unreachable.join(", "));
        // A database connection attempt may still be blocking a thread: do not wait for it.
        std::process::exit(1);
    }
}

/// Reconciles at start, then every `interval` seconds (never again when 0).
async fn reconcile_forever(platform: Platform, interval: u64) {
    loop {
        match platform.reconcile().await {
            Ok((0, 0)) => tracing::debug!("reconciled: engine matches the database"),
            Ok((started, removed)) => {
                tracing::info!(started, removed, "reconciled engine with database")
            }
            Err(e) => tracing::warn!(error = %e, "reconcile skipped"),
        }
        if interval == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
}

/// Keeps this replica's router in step with the routes and certificates other replicas change
/// (their notices on PostgreSQL; on SQLite the feed stays silent). After a missed notice
/// (`Everything`, or this task falling behind) every app's routes are pushed again.
async fn follow_other_replicas(platform: Platform, mut changes: broadcast::Receiver<Change>) {
    loop {
        match changes.recv().await {
            Ok(Change::Routes(app)) => platform.sync_routes(&app).await,
            Ok(Change::Certs) => platform.push_certificates().await,
            Ok(Change::Everything) | Err(broadcast::error::RecvError::Lagged(_)) => {
                platform.push_certificates().await;
                match platform.store().all_app_ids().await {
                    Ok(apps) => {
                        for app in apps {
                            platform.sync_routes(&app).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not resync routes; the reconcile loop will")
                    }
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

async fn create_admin(
    settings: Settings,
    username: String,
    password: Option<String>,
    email: String,
) -> anyhow::Result<()> {
    let store = open_store(&settings)?;
    if store.user_by_name(&username).await.is_ok() {
        store.set_superuser(&username, true).await?;
        println!("{username} is now an administrator");
        return Ok(());
    }
    deis_domain::validate::username(&username).map_err(|e| anyhow::anyhow!("username: {e}"))?;
    let password = password.context("a new user needs --password (or DEIS_ADMIN_PASSWORD)")?;
    let email = deis_domain::validate::email(&email).map_err(|e| anyhow::anyhow!("email: {e}"))?;
    let cost = settings.bcrypt_cost;
    let password_hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??;
    store
        .create_user(NewUser {
            username: username.clone(),
            password_hash,
            email,
            first_name: String::new(),
            last_name: String::new(),
        })
        .await?;
    store.set_superuser(&username, true).await?;
    println!("created administrator {username}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::BuilderHook)) {
        std::process::exit(deis_builder::run_hook());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&settings.log).unwrap_or_else(|_| "info".into()),
        );
    if settings.log_format == "json" {
        // One object per line; the fields of the current span (a request's id) included.
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let applied =
                deis_store::migrate(&settings.database_url()).context("running migrations")?;
            println!("{} migration(s) applied", applied.len());
            for name in applied {
                println!("  {name}");
            }
            Ok(())
        }
        Command::Check => check(settings).await,
        Command::CreateAdmin {
            username,
            password,
            email,
        } => create_admin(settings, username, password, email).await,
        Command::BuilderHook => unreachable!("handled before the settings are read"),
    }
}
