//! Images between tenants: which images a build may name, which image a release that reuses a
//! build is published from, and how many release images an app keeps.
//!
//! Release images live in a namespace the scheduler owns ([`Scheduler::release_image`]). A
//! build may name any image the engine holds except one that is only known as release images
//! of apps the user cannot see (by tag or by id), so no tenant can run another tenant's
//! release. An image that also carries an ordinary tag is fine: anyone could name that tag.

use oci_spec::distribution::Reference;

use super::*;
use crate::scheduler::TagKind;

/// Checks `text` against the image reference grammar (`[registry/]path[:tag][@digest]`, the
/// path lowercase) and answers its familiar form as the engine lists tags: without the
/// `docker.io/` registry and `library/` namespace, with `:latest` when no tag or digest is given.
pub fn image_reference(text: &str) -> Result<String, String> {
    let invalid = |why: &dyn std::fmt::Display| {
        format!("Invalid image reference {text:?}: {why}; expected [registry/]name[:tag][@digest]")
    };
    let parsed: Reference = text.parse().map_err(|e| invalid(&e))?;
    // The grammar's path components are lowercase; the parser takes an uppercase first
    // component for a registry host, so check the repository itself too.
    if parsed.repository().chars().any(|c| c.is_ascii_uppercase())
        || (!is_registry_host(text) && text.split('/').next().is_some_and(has_uppercase))
    {
        return Err(invalid(&"repository name must be lowercase"));
    }
    let mut familiar = if parsed.registry() == "docker.io" {
        match parsed.repository().strip_prefix("library/") {
            Some(official) if !official.contains('/') => official.to_owned(),
            _ => parsed.repository().to_owned(),
        }
    } else {
        format!("{}/{}", parsed.registry(), parsed.repository())
    };
    if let Some(tag) = parsed.tag() {
        familiar.push(':');
        familiar.push_str(tag);
    }
    if let Some(digest) = parsed.digest() {
        familiar.push('@');
        familiar.push_str(digest);
    }
    Ok(familiar)
}

/// Whether the reference's first component names a registry host (as the grammar decides:
/// it holds a `.` or a `:`, or is `localhost`), which may be uppercase.
fn is_registry_host(text: &str) -> bool {
    match text.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

fn has_uppercase(component: &str) -> bool {
    component.chars().any(|c| c.is_ascii_uppercase())
}

impl Platform {
    /// Refuses an image a build of this user may not name: a release image of an app the user
    /// cannot see, named by tag, or an image (named by id) whose every tag is one (or that has
    /// no tag at all). A missing image is refused as invalid; an unreachable engine is
    /// unavailable. Nothing is recorded before this passes.
    pub(super) async fn check_image(&self, user: &User, reference: &str) -> Result<(), Error> {
        let familiar = image_reference(reference).map_err(|m| Error::field("image", m))?;
        if !self.may_use_tag(user, &familiar).await? {
            return Err(Error::Denied(format!(
                "Image {reference} is a release of an app you cannot access; build from an \
                 image of your own"
            )));
        }
        let info = match self.scheduler.image(reference).await {
            Ok(Some(info)) => info,
            Ok(None) => {
                return Err(Error::Refused(format!(
                    "The docker engine has no image {reference}: build or load it there first"
                )));
            }
            Err(e) => return Err(unavailable(&format!("could not inspect {reference}"), &e)),
        };
        for tag in &info.tags {
            if self.may_use_tag(user, tag).await? {
                return Ok(());
            }
        }
        let why = if info.tags.is_empty() {
            "it has no tag, and untagged images may be earlier releases of other apps"
        } else {
            "it is only known as releases of apps you cannot access"
        };
        Err(Error::Denied(format!(
            "Image {reference} cannot be used: {why}; build from an image of your own"
        )))
    }

    /// Whether a tag names something the user may build from: an ordinary image, or a release
    /// image of an app the user can see.
    async fn may_use_tag(&self, user: &User, tag: &str) -> Result<bool, Error> {
        match self.scheduler.tag_kind(tag) {
            TagKind::Ordinary => Ok(true),
            TagKind::Reserved => Ok(false),
            TagKind::Release { app, .. } => match self.store.app(&app).await {
                Ok(app) => self.can_see(user, &app).await,
                Err(StoreError::NotFound(_)) => Ok(false),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// The build a new release of `app` reuses from its release `from` (a config change or a
    /// rollback), with the image to publish it from: `from`'s release image while the engine
    /// has it (the exact image that release ran), else the build's own image if the user may
    /// still use it. Invalid when neither is left (pruned, see `keep_releases`).
    pub(super) async fn reuse_build(
        &self,
        user: &User,
        app: &str,
        from: i64,
        build: Build,
    ) -> Result<Build, Error> {
        let release = self.scheduler.release_image(app, from);
        match self.scheduler.image(&release).await {
            Ok(Some(_)) => {
                return Ok(Build {
                    image: release,
                    ..build
                });
            }
            Ok(None) => {}
            Err(e) => return Err(unavailable(&format!("could not inspect {release}"), &e)),
        }
        match self.check_image(user, &build.image).await {
            Err(Error::Refused(_)) => Err(Error::Refused(format!(
                "The image of v{from} is no longer on the docker engine (only the last {} \
                 releases of an app keep theirs) and neither is {}, the image it was built from",
                self.settings.keep_releases, build.image
            ))),
            Err(e) => Err(e),
            Ok(()) => Ok(build),
        }
    }

    /// After a deploy of `latest`: removes the app's release images older than the last
    /// `keep_releases` releases, except those a container of the app still runs. Best effort:
    /// what stays is removed after a later deploy or when the app is destroyed.
    pub(super) async fn prune_images(&self, app: &str, latest: i64) {
        let keep = i64::try_from(self.settings.keep_releases).unwrap_or(i64::MAX);
        let oldest_kept = latest.saturating_sub(keep).saturating_add(1);
        let versions = match self.scheduler.release_versions(app).await {
            Ok(versions) => versions,
            Err(e) => {
                tracing::warn!(app, error = %e, "could not list release images to prune");
                return;
            }
        };
        if versions.iter().all(|v| *v >= oldest_kept) {
            return;
        }
        let running: HashSet<i64> = match self.scheduler.list(Some(app)).await {
            Ok(observed) => observed.iter().map(|o| o.version).collect(),
            Err(e) => {
                tracing::warn!(app, error = %e, "could not list containers; release images kept");
                return;
            }
        };
        let doomed: Vec<i64> = versions
            .into_iter()
            .filter(|v| *v < oldest_kept && !running.contains(v))
            .collect();
        if doomed.is_empty() {
            return;
        }
        match self.scheduler.unpublish(app, &doomed).await {
            Ok(()) => tracing::info!(app, versions = ?doomed, "removed old release images"),
            Err(e) => tracing::warn!(app, error = %e, "old release images left for later"),
        }
    }

    /// Removes the release images (and whatever else the scheduler keeps per app) of apps that
    /// no longer exist. The engine is asked first, the database second, so an app created in
    /// between is never taken for a deleted one.
    pub(super) async fn forget_deleted_apps(&self) {
        let published = match self.scheduler.published_apps().await {
            Ok(apps) => apps,
            Err(e) => {
                tracing::warn!(error = %e, "could not list release images of deleted apps");
                return;
            }
        };
        if published.is_empty() {
            return;
        }
        let apps: HashSet<String> = match self.store.all_app_ids().await {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read apps; release images kept");
                return;
            }
        };
        for app in published.iter().filter(|app| !apps.contains(*app)) {
            match self.scheduler.forget(app).await {
                Ok(()) => tracing::info!(app = %app, "removed release images of a deleted app"),
                Err(e) => {
                    tracing::warn!(app = %app, error = %e, "release images of a deleted app left");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::image_reference;

    #[test]
    fn references_follow_the_grammar_and_come_back_familiar() {
        for (text, familiar) in [
            ("busybox", "busybox:latest"),
            ("deis/example:latest", "deis/example:latest"),
            ("docker.io/library/busybox:1.36", "busybox:1.36"),
            ("index.docker.io/deis/example", "deis/example:latest"),
            ("docker.io/deis-release/x/app:v3", "deis-release/x/app:v3"),
            ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
            ("Registry.Example.com/app:1", "Registry.Example.com/app:1"),
            (
                "sha256:12271fc55c3e0ee2af2e0cf2ab7c2d3be13d8ea7e1f80bb17a0fd6a9b7c9e4f1",
                "sha256:12271fc55c3e0ee2af2e0cf2ab7c2d3be13d8ea7e1f80bb17a0fd6a9b7c9e4f1",
            ),
            ("12271fc55c3e", "12271fc55c3e:latest"),
        ] {
            assert_eq!(image_reference(text).as_deref(), Ok(familiar), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_reference_is_refused_with_the_reason() {
        for text in [
            "",
            " ",
            "--privileged",
            "UPPER:tag",
            "Upper/lower:tag",
            "lower/Upper",
            "app:",
            "app:-tag",
            "a b",
            "app@sha256:1234",
            "-a",
        ] {
            let refused = image_reference(text).expect_err(text);
            assert!(refused.contains("Invalid image reference"), "{refused}");
        }
        assert!(
            image_reference("Upper/lower")
                .expect_err("uppercase")
                .contains("lowercase")
        );
    }
}
