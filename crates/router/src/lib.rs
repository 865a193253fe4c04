//! The router of deis-rs: sends each HTTP(S) request to a healthy container of the app its
//! `Host` names, and implements the domain's [`Routing`] port for the deploy pipeline.
//!
//! A [`Router`] is a cheap handle. The controller builds one from [`RouterSettings`], feeds it
//! routes through [`Routing`] (and certificates through [`Router::set_certificates`]) and runs
//! [`Router::serve`] / [`Router::serve_tls`] on its listeners. Requests read the route table
//! without locks; route changes are live for the next request.

mod body;
mod headers;
mod health;
mod proxy;
mod routes;
mod serve;
mod settings;
mod table;
mod tls;

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use deis_domain::{AppRoutes, Endpoint, Routing, Unhealthy};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use settings::RouterSettings;
pub use tls::{Certificate, CertificateError};

use health::ProbeClient;
use proxy::UpstreamClient;
use routes::Routes;
use table::Table;
use tls::CertStore;

/// A wait after a route change before `drain` counts in-flight requests, so that a request
/// which picked a container from the previous table has counted itself.
const DRAIN_SETTLE: Duration = Duration::from_millis(20);

/// State shared by every handle, listener and background task of one router.
pub(crate) struct Shared {
    settings: RouterSettings,
    table: Table,
    routes: Mutex<Routes>,
    client: UpstreamClient,
    prober: ProbeClient,
    certs: Arc<CertStore>,
    tls: TlsAcceptor,
}

impl Shared {
    fn lock_routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The router: a cheap-to-clone handle on one route table, its health checks, its
/// connection pools and its certificates.
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router with an empty table (every host answers 404) and no certificate. Starts the
    /// active health checks, so it must be called within a Tokio runtime; they end when the
    /// last handle is dropped.
    pub fn new(settings: RouterSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(settings.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(settings.upstream_idle_timeout)
            .pool_max_idle_per_host(settings.max_idle_per_upstream)
            .build(connector.clone());
        let prober = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = Arc::new(CertStore::new(Arc::clone(&provider)));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certs) as _);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let shared = Arc::new(Shared {
            table: Table::default(),
            routes: Mutex::new(Routes::default()),
            client,
            prober,
            certs,
            tls: TlsAcceptor::from(Arc::new(config)),
            settings,
        });
        tokio::spawn(health::active_checks(
            Arc::downgrade(&shared),
            shared.settings.probe_interval,
        ));
        Self { shared }
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &RouterSettings {
        &self.shared.settings
    }

    /// Serves plain HTTP on `listener` until `shutdown` completes; then stops accepting and
    /// gives in-flight requests up to `shutdown_grace` to finish.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        serve::serve(Arc::clone(&self.shared), listener, shutdown, None).await
    }

    /// Serves HTTPS on `listener` like [`Router::serve`], with the certificate SNI names
    /// (exact name first, then a wildcard one label up); a handshake naming no stored
    /// certificate fails. Requests carry `X-Forwarded-Proto: https`.
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let tls = self.shared.tls.clone();
        serve::serve(Arc::clone(&self.shared), listener, shutdown, Some(tls)).await
    }

    /// Replaces every certificate served over HTTPS, for the next handshakes; when one is
    /// unusable, none is replaced.
    pub fn set_certificates(&self, certificates: &[Certificate]) -> Result<(), CertificateError> {
        self.shared.certs.set(certificates)
    }
}

#[async_trait]
impl Routing for Router {
    async fn set_routes(&self, routes: AppRoutes) {
        self.shared.set_routes(routes);
    }

    async fn remove_app(&self, app: &str) {
        self.shared.remove_app(app);
    }

    async fn set_certificates(&self, certificates: Vec<deis_domain::TlsCertificate>) {
        let certificates: Vec<Certificate> = certificates
            .into_iter()
            .map(|c| Certificate {
                names: c.names,
                chain_pem: c.chain_pem,
                key_pem: c.key_pem,
            })
            .collect();
        if let Err(e) = Router::set_certificates(self, &certificates) {
            tracing::warn!(error = %e, "certificates refused; the previous ones stay in use");
        }
    }

    async fn await_healthy(
        &self,
        endpoints: &[Endpoint],
        path: &str,
        timeout: Duration,
    ) -> Result<(), Vec<Unhealthy>> {
        let failed = self.shared.await_healthy(endpoints, path, timeout).await;
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }

    async fn drain(&self, endpoints: &[Endpoint], grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        tokio::time::sleep(DRAIN_SETTLE.min(grace)).await;
        let upstreams = self.shared.known(endpoints);
        let idle = futures_util::future::join_all(upstreams.iter().map(|u| u.idle()));
        if tokio::time::timeout_at(deadline, idle).await.is_err() {
            let busy: Vec<&str> = upstreams
                .iter()
                .filter(|u| u.in_flight() > 0)
                .map(|u| u.endpoint.container.as_str())
                .collect();
            tracing::warn!(
                ?busy,
                ?grace,
                "requests still in flight after the drain grace period"
            );
        }
    }
}
