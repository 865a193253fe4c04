//! Release images: inspecting what a build names, publishing a release's image into this
//! controller's namespace, and removing release images again (never by force, never a name
//! outside the namespace).

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{
    ListImagesOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use deis_domain::{ImageInfo, SchedulerError, TagKind};
use futures_util::future::join_all;

use crate::DockerScheduler;
use crate::engine::{about, classify, combine, status};

/// The image `reference` names, `None` when the engine has none of that name or id.
pub(crate) async fn image(
    s: &DockerScheduler,
    reference: &str,
) -> Result<Option<ImageInfo>, SchedulerError> {
    let docker = s.engine.docker().await?;
    match s.engine.bounded(docker.inspect_image(reference)).await {
        Ok(inspect) => Ok(Some(ImageInfo {
            id: inspect.id.unwrap_or_default(),
            tags: inspect.repo_tags.unwrap_or_default(),
        })),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(classify(e)),
    }
}

/// Tags `source` as the app's release image of `version`.
pub(crate) async fn publish(
    s: &DockerScheduler,
    source: &str,
    app: &str,
    version: i64,
) -> Result<(), SchedulerError> {
    let docker = s.engine.docker().await?;
    let options = TagImageOptionsBuilder::new()
        .repo(&s.names.repository(app))
        .tag(&format!("v{version}"))
        .build();
    match s
        .engine
        .bounded(docker.tag_image(source, Some(options)))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if status(&e) == Some(404) => {
            Err(SchedulerError::Failed(format!("image {source} not found")))
        }
        Err(e) => Err(classify(e)),
    }
}

/// Every release image of this controller as (app, version), from the engine's own filter on
/// the namespace (and the app's repository when given).
async fn releases(
    s: &DockerScheduler,
    app: Option<&str>,
) -> Result<BTreeSet<(String, i64)>, SchedulerError> {
    let docker = s.engine.docker().await?;
    let pattern = match app {
        Some(app) => s.names.repository(app),
        None => s.names.all_releases(),
    };
    let filters = HashMap::from([("reference", vec![pattern])]);
    let options = ListImagesOptionsBuilder::new().filters(&filters).build();
    let summaries = s
        .engine
        .bounded(docker.list_images(Some(options)))
        .await
        .map_err(classify)?;
    Ok(summaries
        .iter()
        .flat_map(|summary| &summary.repo_tags)
        .filter_map(|tag| match s.names.tag_kind(tag) {
            TagKind::Release { app: of, version } if app.is_none_or(|a| a == of) => {
                Some((of, version))
            }
            _ => None,
        })
        .collect())
}

/// The app's versions that have a release image, ascending.
pub(crate) async fn versions(s: &DockerScheduler, app: &str) -> Result<Vec<i64>, SchedulerError> {
    Ok(releases(s, Some(app))
        .await?
        .into_iter()
        .map(|(_, version)| version)
        .collect())
}

/// Apps with release images of this controller.
pub(crate) async fn apps(s: &DockerScheduler) -> Result<Vec<String>, SchedulerError> {
    let mut apps: Vec<String> = releases(s, None)
        .await?
        .into_iter()
        .map(|(app, _)| app)
        .collect();
    apps.dedup();
    Ok(apps)
}

/// Removes the app's release images of `versions` concurrently. A name already gone is fine;
/// an image a container still uses stays (the engine refuses without force, and we never force).
pub(crate) async fn unpublish(
    s: &DockerScheduler,
    app: &str,
    versions: &[i64],
) -> Result<(), SchedulerError> {
    if versions.is_empty() {
        return Ok(());
    }
    let docker = s.engine.docker().await?;
    let options = RemoveImageOptionsBuilder::new()
        .force(false)
        .noprune(false)
        .build();
    let removals = versions.iter().map(|version| {
        let tag = s.names.release_image(app, *version);
        let options = options.clone();
        async move {
            match s
                .engine
                .bounded(docker.remove_image(&tag, Some(options), None))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if status(&e) == Some(404) => Ok(()),
                Err(e) if status(&e) == Some(409) => {
                    tracing::debug!(image = %tag, error = %e, "release image in use; kept");
                    Ok(())
                }
                Err(e) => Err(about(&tag, classify(e))),
            }
        }
    });
    let failures: Vec<SchedulerError> = join_all(removals)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(combine(
            &format!(
                "could not remove {} of {} release images",
                failures.len(),
                versions.len()
            ),
            failures,
        ))
    }
}

/// Removes every release image of the app.
pub(crate) async fn forget(s: &DockerScheduler, app: &str) -> Result<(), SchedulerError> {
    let versions = versions(s, app).await?;
    unpublish(s, app, &versions).await
}
