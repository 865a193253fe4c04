//! Image builds: a tar build context built on the engine with its classic builder, no pulls,
//! no network for `RUN` steps, the output streamed line by line. Built images carry the
//! labels `deis.controller` and `deis.app`, so whoever made them can find them again.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptionsBuilder};
use deis_domain::SchedulerError;
use futures_util::StreamExt;

use crate::DockerScheduler;
use crate::engine::{classify, status};

/// Longest a build may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Builds `context` and answers the image id. A failed build removes the images its steps
/// made (untagged ones nothing else uses; a tagged base or a shared parent stays).
pub(crate) async fn build(
    s: &DockerScheduler,
    app: &str,
    context: Vec<u8>,
    output: &(dyn Fn(&str) + Send + Sync),
) -> Result<String, SchedulerError> {
    let steps = std::sync::Mutex::new(Vec::new());
    let noting = |line: &str| {
        if let Some(id) = line.trim().strip_prefix("---> ")
            && id.len() == 12
            && id.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(mut steps) = steps.lock()
        {
            steps.push(id.to_owned());
        }
        output(line);
    };
    let built = run(s, app, context, &noting).await;
    if built.is_err() {
        let made = steps.lock().map(|s| s.clone()).unwrap_or_default();
        for id in made.iter().rev() {
            if let Err(e) = discard(s, id).await {
                tracing::debug!(image = %id, error = %e, "a failed build's layer stays");
            }
        }
    }
    built
}

/// The build itself, every output line to `output`.
async fn run(
    s: &DockerScheduler,
    app: &str,
    context: Vec<u8>,
    output: &(dyn Fn(&str) + Send + Sync),
) -> Result<String, SchedulerError> {
    let docker = s.engine.docker().await?;
    let labels = HashMap::from([
        ("deis.controller", s.settings.identity.as_str()),
        ("deis.app", app),
    ]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .rm(true)
        .forcerm(true)
        .networkmode("none")
        .labels(&labels)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut image = None;
    let mut last_built = None;
    let deadline = tokio::time::Instant::now() + BUILD_TIMEOUT;
    loop {
        let item = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return Err(SchedulerError::Failed(format!(
                    "the build took longer than {} minutes",
                    BUILD_TIMEOUT.as_secs() / 60
                )));
            }
            Ok(None) => break,
            Ok(Some(item)) => item,
        };
        let info = match item {
            Ok(info) => info,
            Err(BollardError::DockerStreamError { error }) => {
                return Err(SchedulerError::Failed(error.trim().to_owned()));
            }
            Err(e) => return Err(classify(e)),
        };
        if let Some(text) = info.stream.as_deref() {
            for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                if let Some(id) = line.strip_prefix("Successfully built ") {
                    last_built = Some(id.trim().to_owned());
                }
                output(line);
            }
        }
        if let Some(status) = info.status.as_deref() {
            output(status.trim_end());
        }
        if let Some(error) = info.error {
            return Err(SchedulerError::Failed(error.trim().to_owned()));
        }
        if let Some(id) = info.aux.and_then(|aux| aux.id) {
            image = Some(id);
        }
    }
    image
        .or(last_built)
        .ok_or_else(|| SchedulerError::Failed("the engine named no built image".to_owned()))
}

/// Removes the built image `id` unless something tags it (a release took it after all, or an
/// identical build of another release). Gone or in use is fine.
pub(crate) async fn discard(s: &DockerScheduler, id: &str) -> Result<(), SchedulerError> {
    let docker = s.engine.docker().await?;
    let tags = match s.engine.bounded(docker.inspect_image(id)).await {
        Ok(inspect) => inspect.repo_tags.unwrap_or_default(),
        Err(e) if status(&e) == Some(404) => return Ok(()),
        Err(e) => return Err(classify(e)),
    };
    if !tags.is_empty() {
        return Ok(());
    }
    let options = RemoveImageOptionsBuilder::new()
        .force(false)
        .noprune(false)
        .build();
    match s
        .engine
        .bounded(docker.remove_image(id, Some(options), None))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(classify(e)),
    }
}
