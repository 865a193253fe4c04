//! Metrics the domain must not know of: engine call errors (a [`Scheduler`] decorator) and the
//! database pool's use (read at scrape time).

use std::sync::Arc;

use async_trait::async_trait;
use deis_domain::{
    ContainerSpec, ImageInfo, LogLine, LogStream, Observed, RunEvents, RunInputs, RunOutput,
    RunSpec, Scheduler, SchedulerError, TagKind, TtySize,
};
use deis_store::DieselStore;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// A [`Scheduler`] that counts the errors of every engine call by operation and kind
/// (`deis_engine_errors_total{operation, kind}`, kind `unavailable` or `failed`).
pub struct MeteredScheduler {
    inner: Arc<dyn Scheduler>,
    errors: IntCounterVec,
}

impl MeteredScheduler {
    /// Wraps `inner`, registering the error counter in `registry`.
    pub fn new(inner: Arc<dyn Scheduler>, registry: &Registry) -> prometheus::Result<Self> {
        let errors = IntCounterVec::new(
            Opts::new(
                "deis_engine_errors_total",
                "Engine calls that failed, by operation and kind",
            ),
            &["operation", "kind"],
        )?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Self { inner, errors })
    }

    /// Counts `result`'s error, if any, under `operation`.
    fn count<T>(
        &self,
        operation: &str,
        result: Result<T, SchedulerError>,
    ) -> Result<T, SchedulerError> {
        if let Err(e) = &result {
            let kind = match e {
                SchedulerError::Unavailable(_) => "unavailable",
                SchedulerError::Failed(_) => "failed",
            };
            self.errors.with_label_values(&[operation, kind]).inc();
        }
        result
    }
}

#[async_trait]
impl Scheduler for MeteredScheduler {
    fn release_image(&self, app: &str, version: i64) -> String {
        self.inner.release_image(app, version)
    }

    fn tag_kind(&self, tag: &str) -> TagKind {
        self.inner.tag_kind(tag)
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, SchedulerError> {
        self.count("image", self.inner.image(reference).await)
    }

    async fn publish(&self, source: &str, app: &str, version: i64) -> Result<(), SchedulerError> {
        self.count("publish", self.inner.publish(source, app, version).await)
    }

    async fn release_versions(&self, app: &str) -> Result<Vec<i64>, SchedulerError> {
        self.count("release_versions", self.inner.release_versions(app).await)
    }

    async fn unpublish(&self, app: &str, versions: &[i64]) -> Result<(), SchedulerError> {
        self.count("unpublish", self.inner.unpublish(app, versions).await)
    }

    async fn published_apps(&self) -> Result<Vec<String>, SchedulerError> {
        self.count("published_apps", self.inner.published_apps().await)
    }

    async fn forget(&self, app: &str) -> Result<(), SchedulerError> {
        self.count("forget", self.inner.forget(app).await)
    }

    async fn start(&self, specs: &[ContainerSpec]) -> Result<(), SchedulerError> {
        self.count("start", self.inner.start(specs).await)
    }

    async fn remove(&self, names: &[String]) -> Result<(), SchedulerError> {
        self.count("remove", self.inner.remove(names).await)
    }

    async fn list(&self, app: Option<&str>) -> Result<Vec<Observed>, SchedulerError> {
        self.count("list", self.inner.list(app).await)
    }

    async fn run(&self, spec: &RunSpec) -> Result<RunOutput, SchedulerError> {
        self.count("run", self.inner.run(spec).await)
    }

    async fn logs(&self, app: &str, lines: usize) -> Result<Vec<LogLine>, SchedulerError> {
        self.count("logs", self.inner.logs(app, lines).await)
    }

    async fn tail(&self, name: &str, lines: usize) -> String {
        self.inner.tail(name, lines).await
    }

    async fn ping(&self) -> Result<(), SchedulerError> {
        self.count("ping", self.inner.ping().await)
    }

    async fn build_image(
        &self,
        app: &str,
        context: Vec<u8>,
        output: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<String, SchedulerError> {
        let built = self.inner.build_image(app, context, output).await;
        self.count("build_image", built)
    }

    async fn discard_image(&self, id: &str) -> Result<(), SchedulerError> {
        self.count("discard_image", self.inner.discard_image(id).await)
    }

    async fn follow_logs(&self, app: &str) -> Result<LogStream, SchedulerError> {
        self.count("follow_logs", self.inner.follow_logs(app).await)
    }

    async fn run_attached(
        &self,
        spec: &RunSpec,
        tty: Option<TtySize>,
        input: RunInputs,
    ) -> Result<RunEvents, SchedulerError> {
        self.count(
            "run_attached",
            self.inner.run_attached(spec, tty, input).await,
        )
    }
}

/// The database pool's connections by state (`deis_db_pool_connections{state}`: `in_use`,
/// `idle`, `max`), read when scraped.
pub struct PoolCollector {
    store: Arc<DieselStore>,
    gauge: IntGaugeVec,
}

impl PoolCollector {
    /// A collector of `store`'s pool.
    pub fn new(store: Arc<DieselStore>) -> prometheus::Result<Self> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "deis_db_pool_connections",
                "Database pool connections: in_use, idle, and the pool's max",
            ),
            &["state"],
        )?;
        Ok(Self { store, gauge })
    }
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let pool = self.store.pool_use();
        for (state, value) in [
            ("in_use", pool.open.saturating_sub(pool.idle)),
            ("idle", pool.idle),
            ("max", pool.max),
        ] {
            self.gauge.with_label_values(&[state]).set(i64::from(value));
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use deis_testkit::FakeScheduler;

    use super::*;

    fn sample(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        registry
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().iter())
            .find(|metric| {
                labels.iter().all(|(k, v)| {
                    metric
                        .get_label()
                        .iter()
                        .any(|pair| pair.name() == *k && pair.value() == *v)
                })
            })
            .map(|metric| {
                // A family is either counters or gauges; the other reads 0.
                metric.get_counter().get_value() + metric.get_gauge().get_value()
            })
    }

    #[tokio::test]
    async fn engine_errors_are_counted_by_operation_and_kind() {
        let fake = Arc::new(FakeScheduler::default());
        let registry = Registry::new();
        let metered = MeteredScheduler::new(fake.clone(), &registry).expect("registers");
        metered.list(None).await.expect("the fake answers");
        assert_eq!(
            sample(
                &registry,
                "deis_engine_errors_total",
                &[("operation", "list")]
            ),
            None,
            "successes are not errors"
        );
        fake.unreachable.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            metered.list(None).await.expect_err("unreachable");
        }
        metered.ping().await.expect_err("unreachable");
        assert_eq!(
            sample(
                &registry,
                "deis_engine_errors_total",
                &[("operation", "list"), ("kind", "unavailable")]
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &registry,
                "deis_engine_errors_total",
                &[("operation", "ping")]
            ),
            Some(1.0)
        );
    }

    #[tokio::test]
    async fn the_pool_gauge_tells_its_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("pool.db").display());
        let store = Arc::new(DieselStore::open(&url, 3).expect("opens"));
        let registry = Registry::new();
        registry
            .register(Box::new(PoolCollector::new(store).expect("gauge")))
            .expect("registers");
        let name = "deis_db_pool_connections";
        assert_eq!(sample(&registry, name, &[("state", "max")]), Some(3.0));
        assert_eq!(sample(&registry, name, &[("state", "in_use")]), Some(0.0));
        let idle = sample(&registry, name, &[("state", "idle")]).expect("idle");
        assert!((1.0..=3.0).contains(&idle), "{idle}");
    }
}
