//! The names this controller owns on the engine: its release images and its network.
//!
//! Release images are `deis-release/{identity}/{app}:v{N}`: a namespace no application image
//! uses (nothing is pulled here, and the controller publishes only into it), one repository
//! per app so the engine filters an app's releases itself. Both the identity and the app id are
//! written as one repository path component (lowercase letters and digits joined by `.`, `_`,
//! `__` or dashes): a value that already is one stays as it is; another identity becomes
//! `x.` and the MD5 of its text, another app id (one with a dash at either end) `x.` and its
//! bytes in hex, which reads back. App ids never hold a `.`, so the two forms never meet.

use std::fmt::Write as _;
use std::sync::LazyLock;

use deis_domain::TagKind;
use md5::{Digest, Md5};
use regex::Regex;

/// The first component of every controller's release images.
const NAMESPACE: &str = "deis-release";
/// Prefix of this controller's network; the identity's component follows.
const NETWORK_PREFIX: &str = "deis-apps-";
/// Longest identity kept as it is (the repository name is bounded to 255 characters).
const MAX_IDENTITY: usize = 64;

/// A repository path component of the reference grammar.
static COMPONENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
        .unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
});

/// This controller's names, derived once from its identity.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// `deis-release/{identity}/`.
    releases: String,
    /// `deis-apps-{identity}`.
    network: String,
}

impl Names {
    /// The names of the controller with this identity.
    pub(crate) fn new(identity: &str) -> Self {
        let component = identity_component(identity);
        Self {
            releases: format!("{NAMESPACE}/{component}/"),
            network: format!("{NETWORK_PREFIX}{component}"),
        }
    }

    /// `deis-release/{identity}/{app}`, the repository of the app's release images.
    pub(crate) fn repository(&self, app: &str) -> String {
        format!("{}{}", self.releases, app_component(app))
    }

    /// The release image of `app` at `version`.
    pub(crate) fn release_image(&self, app: &str, version: i64) -> String {
        format!("{}:v{version}", self.repository(app))
    }

    /// The engine's `reference` filter matching every release image of this controller.
    pub(crate) fn all_releases(&self) -> String {
        format!("{}*", self.releases)
    }

    /// The name of this controller's network.
    pub(crate) fn network(&self) -> &str {
        &self.network
    }

    /// What a familiar `repository:tag` is to this controller.
    pub(crate) fn tag_kind(&self, tag: &str) -> TagKind {
        if !tag.starts_with(NAMESPACE) || tag.as_bytes().get(NAMESPACE.len()) != Some(&b'/') {
            return TagKind::Ordinary;
        }
        let ours = || {
            let (repository, version) = tag.strip_prefix(&self.releases)?.rsplit_once(':')?;
            let number: i64 = version.strip_prefix('v')?.parse().ok()?;
            if format!("v{number}") != version || number < 1 {
                return None;
            }
            Some(TagKind::Release {
                app: app_from_component(repository)?,
                version: number,
            })
        };
        ours().unwrap_or(TagKind::Reserved)
    }
}

/// The identity as one path component (see the module doc).
fn identity_component(identity: &str) -> String {
    if identity.len() <= MAX_IDENTITY && COMPONENT.is_match(identity) {
        return identity.to_owned();
    }
    let mut component = "x.".to_owned();
    for byte in Md5::digest(identity.as_bytes()) {
        let _ = write!(component, "{byte:02x}");
    }
    component
}

/// The app id as one path component (see the module doc).
fn app_component(app: &str) -> String {
    if COMPONENT.is_match(app) {
        return app.to_owned();
    }
    let mut component = "x.".to_owned();
    for byte in app.bytes() {
        let _ = write!(component, "{byte:02x}");
    }
    component
}

/// The app id an app component stands for; `None` for what `app_component` never writes.
fn app_from_component(component: &str) -> Option<String> {
    if component.contains('/') || !COMPONENT.is_match(component) {
        return None;
    }
    let Some(hex) = component.strip_prefix("x.") else {
        return (!component.contains(['.', '_'])).then(|| component.to_owned());
    };
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let app = String::from_utf8(bytes).ok()?;
    (app_component(&app) == component).then_some(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_images_live_in_the_identity_namespace() {
        let names = Names::new("deis-controller");
        assert_eq!(
            names.release_image("shiny-pony", 3),
            "deis-release/deis-controller/shiny-pony:v3"
        );
        assert_eq!(names.network(), "deis-apps-deis-controller");
        assert_eq!(names.all_releases(), "deis-release/deis-controller/*");
        assert_eq!(
            names.tag_kind("deis-release/deis-controller/shiny-pony:v3"),
            TagKind::Release {
                app: "shiny-pony".into(),
                version: 3
            }
        );
    }

    #[test]
    fn tags_outside_the_namespace_are_ordinary_and_other_namespaces_reserved() {
        let names = Names::new("prod");
        for ordinary in [
            "shiny-pony:v3",
            "deis/test-app:latest",
            "deis-release:v1",
            "deis-releases/prod/app:v1",
            "localhost:5000/deis-release/prod/app:v1",
        ] {
            assert_eq!(names.tag_kind(ordinary), TagKind::Ordinary, "{ordinary}");
        }
        for reserved in [
            "deis-release/staging/app:v1",
            "deis-release/prod/app:latest",
            "deis-release/prod/app:v0",
            "deis-release/prod/app:v01",
            "deis-release/prod/app/deeper:v1",
            "deis-release/prod/a.b:v1",
            "deis-release/prod/x.zz:v1",
            "deis-release/prod/app",
        ] {
            assert_eq!(names.tag_kind(reserved), TagKind::Reserved, "{reserved}");
        }
    }

    #[test]
    fn identities_and_app_ids_become_valid_components_that_never_collide() {
        let odd = Names::new("Prod Controller");
        let other = Names::new("prod-controller");
        assert_ne!(odd.release_image("a", 1), other.release_image("a", 1));
        assert!(odd.release_image("a", 1).starts_with("deis-release/x."));
        let long = Names::new(&"a".repeat(100));
        assert_eq!(long.network().len(), NETWORK_PREFIX.len() + 34);

        let names = Names::new("prod");
        for app in ["-lead", "trail-", "-", "mid--dash", "a"] {
            let image = names.release_image(app, 7);
            let repository = image.trim_end_matches(":v7");
            assert!(
                repository.split('/').all(|c| COMPONENT.is_match(c)),
                "{image}"
            );
            assert_eq!(
                names.tag_kind(&image),
                TagKind::Release {
                    app: app.into(),
                    version: 7
                },
                "{image}"
            );
        }
        assert_eq!(
            names.release_image("-lead", 1),
            "deis-release/prod/x.2d6c656164:v1"
        );
    }
}
