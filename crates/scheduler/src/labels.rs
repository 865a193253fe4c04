//! The labels that tie a container to its app, release, process and controller.

use std::collections::HashMap;

/// App id.
pub(crate) const APP: &str = "deis.app";
/// Release version.
pub(crate) const RELEASE: &str = "deis.release";
/// Process type (`web`, `worker`, `run`, ...).
pub(crate) const TYPE: &str = "deis.type";
/// Number within the type.
pub(crate) const NUM: &str = "deis.num";
/// Identity of the controller that made the container.
pub(crate) const CONTROLLER: &str = "deis.controller";

/// The process type of one-off containers.
pub(crate) const RUN_TYPE: &str = "run";

/// The full label set of a container.
pub(crate) fn for_container(
    identity: &str,
    app: &str,
    version: i64,
    proc_type: &str,
    num: i64,
) -> HashMap<String, String> {
    HashMap::from([
        (CONTROLLER.to_owned(), identity.to_owned()),
        (APP.to_owned(), app.to_owned()),
        (RELEASE.to_owned(), version.to_string()),
        (TYPE.to_owned(), proc_type.to_owned()),
        (NUM.to_owned(), num.to_string()),
    ])
}

/// The engine filter selecting this controller's containers, of one app when given.
pub(crate) fn filter(identity: &str, app: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut wanted = vec![format!("{CONTROLLER}={identity}")];
    if let Some(app) = app {
        wanted.push(format!("{APP}={app}"));
    }
    HashMap::from([("label".to_owned(), wanted)])
}
