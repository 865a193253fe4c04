//! Wire representations of the entities (§3 of the spec) and paginated lists.

use actix_web::HttpRequest;
use deis_domain::timefmt::{deis, iso_millis};
use deis_domain::{App, Build, Config, Container, Domain, Key, Page, Push, Release, User};
use serde::Serialize;
use serde_json::{Value, json};

/// Anything with a wire form.
pub trait View {
    /// The JSON the API answers for it.
    fn view(&self) -> Value;
}

/// A timestamp in the `YYYY-MM-DDTHH:MM:SSUTC` wire format, written without an intermediate string.
pub struct Stamp(pub time::OffsetDateTime);

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An app with its public URL: the hot path of `GET /v1/apps`, so a typed view.
#[derive(Serialize)]
pub struct AppView<'a> {
    uuid: uuid::Uuid,
    id: &'a str,
    owner: &'a str,
    url: String,
    structure: &'a deis_domain::Structure,
    created: Stamp,
    updated: Stamp,
}

/// The wire form of an app, with its public URL.
pub fn app(a: &App, url: String) -> AppView<'_> {
    AppView {
        uuid: a.uuid,
        id: &a.id,
        owner: &a.owner,
        url,
        structure: &a.structure,
        created: Stamp(a.created),
        updated: Stamp(a.updated),
    }
}

impl View for Build {
    fn view(&self) -> Value {
        json!({
            "uuid": self.uuid, "app": self.app, "owner": self.owner, "image": self.image, "sha": self.sha,
            "procfile": self.procfile, "dockerfile": self.dockerfile,
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for Config {
    fn view(&self) -> Value {
        json!({
            "uuid": self.uuid, "app": self.app, "owner": self.owner, "values": self.values,
            "memory": self.memory, "cpu": self.cpu, "tags": self.tags,
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for Release {
    fn view(&self) -> Value {
        json!({
            "uuid": self.uuid, "app": self.app, "owner": self.owner, "version": self.version,
            "summary": self.summary, "config": self.config, "build": self.build,
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for Container {
    fn view(&self) -> Value {
        json!({
            "uuid": self.uuid, "app": self.app, "owner": self.owner, "release": format!("v{}", self.release),
            "type": self.proc_type, "num": self.num, "state": self.state.as_str(),
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for Domain {
    fn view(&self) -> Value {
        json!({
            "domain": self.domain, "owner": self.owner, "app": self.app,
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for Key {
    fn view(&self) -> Value {
        json!({
            "uuid": self.uuid, "id": self.id, "owner": self.owner, "public": self.public,
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for Push {
    fn view(&self) -> Value {
        json!({
            "uuid": self.uuid, "app": self.app, "owner": self.owner, "sha": self.sha,
            "fingerprint": self.fingerprint, "receive_user": self.receive_user,
            "receive_repo": self.receive_repo, "ssh_connection": self.ssh_connection,
            "ssh_original_command": self.ssh_original_command,
            "created": deis(self.created), "updated": deis(self.updated),
        })
    }
}

impl View for User {
    fn view(&self) -> Value {
        json!({
            "id": self.id, "last_login": self.last_login.map(iso_millis), "is_superuser": self.is_superuser,
            "username": self.username, "first_name": self.first_name, "last_name": self.last_name,
            "email": self.email, "is_staff": self.is_superuser, "is_active": self.is_active,
            "date_joined": iso_millis(self.date_joined), "groups": [], "user_permissions": [],
        })
    }
}

/// An entry of the administrator list.
pub fn admin(u: &User) -> Value {
    json!({ "username": u.username, "is_superuser": u.is_superuser })
}

/// A paginated list body.
#[derive(Serialize)]
pub struct Paginated<T> {
    count: u64,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// The scheme clients reached us with: `https` when a proxy says so, else the connection's.
pub fn scheme(req: &HttpRequest) -> String {
    let forwarded_https = req
        .headers()
        .get("X-Forwarded-Proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if forwarded_https {
        "https".into()
    } else {
        req.connection_info().scheme().to_owned()
    }
}

/// The absolute URL of the request with `page` set to `number`.
fn page_url(req: &HttpRequest, number: u64) -> String {
    let info = req.connection_info();
    let scheme = scheme(req);
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != "page")
            .collect();
    pairs.push(("page".into(), number.to_string()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{scheme}://{}{}?{query}", info.host(), req.path())
}

/// Renders a page with absolute `next`/`previous` links.
pub fn paginated<T: Serialize>(req: &HttpRequest, page: Page<T>) -> Paginated<T> {
    let next = page.has_next().then(|| page_url(req, page.number + 1));
    let previous = (page.number > 1).then(|| page_url(req, page.number - 1));
    Paginated {
        count: page.count,
        next,
        previous,
        results: page.items,
    }
}

/// Renders a page of viewable items.
pub fn page_of<T: View>(req: &HttpRequest, page: Page<T>) -> Paginated<Value> {
    paginated(req, page.map(|t| t.view()))
}
