//! The router as the benchmark runs it: `bench_router LISTEN HOST UPSTREAM...` serves one app
//! at `HOST` with the given container addresses, default settings, until SIGTERM or Ctrl-C.
//! Logs go to stderr at `warn` unless `RUST_LOG` says otherwise (access lines are `info`).

use std::net::SocketAddr;
use std::time::Duration;

use deis_domain::{AppRoutes, Endpoint, Routing};
use deis_router::{Router, RouterSettings};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_router LISTEN HOST UPSTREAM...";
    let listen: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let host = args.next().ok_or(usage)?;
    let endpoints = args
        .enumerate()
        .map(|(i, addr)| {
            Ok(Endpoint {
                container: format!("bench_v1.web.{}", i + 1),
                addr: addr.parse()?,
            })
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    if endpoints.is_empty() {
        return Err(usage.into());
    }
    let router = Router::new(RouterSettings::default());
    if let Err(unhealthy) = router
        .await_healthy(&endpoints, "/", Duration::from_secs(30))
        .await
    {
        return Err(format!("upstreams not healthy: {unhealthy:?}").into());
    }
    router
        .set_routes(AppRoutes {
            app: "bench".into(),
            hosts: vec![host],
            endpoints,
            health_path: "/".into(),
        })
        .await;
    let listener = TcpListener::bind(listen).await?;
    let mut terminate = signal(SignalKind::terminate())?;
    router
        .serve(listener, async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    Ok(())
}
