//! Fixtures shared by every area: a world with one user per role, requests, replies.

use std::collections::BTreeSet;

use deis_domain::PlatformSettings;
pub use deis_testkit::RELEASES;
use deis_testkit::{BUILDER_KEY, TestApp, api_settings, spawn_app, spawn_app_configured};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A reply read whole: status, headers, raw text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (`Null` for an empty body); panics on anything else.
    pub fn json(&self) -> Value {
        if self.text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self.json()
    }

    /// Asserts the status and an exact JSON body.
    #[track_caller]
    pub fn is(&self, status: u16, body: Value) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(self.json(), body, "unexpected body");
    }

    /// Asserts the status and an empty body without a content type (§1.6).
    #[track_caller]
    pub fn empty(&self, status: u16) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(self.text, "", "the body should be empty");
        assert_eq!(
            self.header("Content-Type"),
            None,
            "an empty body has no type"
        );
        assert_eq!(self.header("X-Deis-Release"), None);
    }
}

/// Sends and reads the whole reply.
pub async fn send(rb: reqwest::RequestBuilder) -> Reply {
    let res = rb.send().await.expect("request sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body read");
    Reply {
        status,
        headers,
        text,
    }
}

/// `{"detail": "Not found"}`
pub fn not_found() -> Value {
    json!({"detail": "Not found"})
}

/// `{"detail": "Authentication credentials were not provided."}`
pub fn unauthenticated() -> Value {
    json!({"detail": "Authentication credentials were not provided."})
}

/// `{"detail": "You do not have permission to perform this action."}`
pub fn forbidden() -> Value {
    json!({"detail": "You do not have permission to perform this action."})
}

/// `{field: [message]}`
pub fn field(name: &str, message: &str) -> Value {
    json!({ name: [message] })
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Asserts the exact key set of an object.
#[track_caller]
pub fn has_keys(v: &Value, expected: &[&str]) {
    let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(keys(v), expected, "keys of {v}");
}

/// Asserts `YYYY-MM-DDTHH:MM:SSUTC`.
#[track_caller]
pub fn is_deis_time(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    assert!(
        s.len() == 22
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && &s[19..] == "UTC",
        "not a Deis timestamp: {s}"
    );
}

/// Asserts a lowercase hyphenated v4 uuid.
#[track_caller]
pub fn is_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let parsed = uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("not a uuid {s}: {e}"));
    assert_eq!(parsed.hyphenated().to_string(), s, "uuid form");
    assert_eq!(parsed.get_version_num(), 4, "uuid version");
}

/// The `results` of a paginated body, asserting its shape.
#[track_caller]
pub fn results(body: &Value) -> Vec<Value> {
    has_keys(body, &["count", "next", "previous", "results"]);
    let results = body["results"].as_array().expect("results array").clone();
    assert_eq!(
        body["count"].as_u64().expect("count"),
        results.len() as u64,
        "count of a single page"
    );
    results
}

/// Values of `field` in each item.
pub fn pluck(items: &[Value], field: &str) -> Vec<Value> {
    items.iter().map(|i| i[field].clone()).collect()
}

/// A running server with one user per role and an app `demo` owned by `owner`, shared with
/// `collab`. `admin` registered first and is therefore the administrator.
pub struct World {
    pub app: TestApp,
    pub admin: String,
    pub owner: String,
    pub collab: String,
    pub other: String,
}

impl World {
    /// An authenticated request.
    pub fn req(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.app.req(method, path, token)
    }

    /// A request as `token` with an optional JSON body; the future borrows nothing.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> impl Future<Output = Reply> + use<> {
        let rb = self.app.req(method, path, token);
        send(match body {
            Some(body) => rb.json(&body),
            None => rb,
        })
    }

    /// GET as `token`.
    pub fn get(&self, path: &str, token: &str) -> impl Future<Output = Reply> + use<> {
        self.call(Method::GET, path, token, None)
    }

    /// POST a JSON body as `token`.
    pub fn post(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> impl Future<Output = Reply> + use<> {
        self.call(Method::POST, path, token, Some(body))
    }

    /// DELETE as `token`.
    pub fn delete(&self, path: &str, token: &str) -> impl Future<Output = Reply> + use<> {
        self.call(Method::DELETE, path, token, None)
    }

    /// A request without credentials (but with the version header, like the CLI).
    pub fn anon(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, self.app.url(path))
            .header("X-Deis-Version", "1.0")
    }

    /// A builder hook request.
    pub async fn hook(&self, path: &str, body: Value) -> Reply {
        send(
            self.app
                .http
                .post(self.app.url(path))
                .header("X-Deis-Builder-Auth", BUILDER_KEY)
                .json(&body),
        )
        .await
    }

    /// Creates an app as `token`.
    pub async fn create_app(&self, token: &str, id: &str) -> Value {
        self.post("/v1/apps", token, json!({ "id": id }))
            .await
            .expect(201)
    }

    /// Deploys a build with `web` and `worker` types as `token`; returns the release header.
    pub async fn deploy(&self, token: &str, id: &str, image: &str) -> i64 {
        let res = self
            .post(
                &format!("/v1/apps/{id}/builds"),
                token,
                json!({
                    "image": image,
                    "sha": "abc1234def5678",
                    "procfile": {"web": "httpd -f", "worker": "sh -c work"},
                }),
            )
            .await;
        res.expect(201);
        res.header("X-Deis-Release")
            .expect("X-Deis-Release")
            .parse()
            .expect("numeric release")
    }

    /// Sets config values as `token`; returns the new release version.
    pub async fn set(&self, token: &str, id: &str, values: Value) -> i64 {
        let res = self
            .post(
                &format!("/v1/apps/{id}/config"),
                token,
                json!({ "values": values }),
            )
            .await;
        res.expect(201);
        res.header("X-Deis-Release")
            .expect("X-Deis-Release")
            .parse()
            .expect("numeric release")
    }

    /// The app's releases, newest first.
    pub async fn releases(&self, id: &str) -> Vec<Value> {
        results(
            &self
                .get(&format!("/v1/apps/{id}/releases"), &self.owner)
                .await
                .expect(200),
        )
    }

    /// The app's containers (`type.num@release state`), in list order.
    pub async fn ps(&self, id: &str) -> Vec<String> {
        let body = self
            .get(&format!("/v1/apps/{id}/containers"), &self.owner)
            .await
            .expect(200);
        results(&body)
            .iter()
            .map(|c| {
                format!(
                    "{}.{}@{} {}",
                    c["type"].as_str().expect("type"),
                    c["num"],
                    c["release"].as_str().expect("release"),
                    c["state"].as_str().expect("state")
                )
            })
            .collect()
    }

    /// Names of the containers the fake engine runs.
    pub fn engine(&self) -> Vec<String> {
        self.app.scheduler.names()
    }
}

/// A server with `admin`, `owner`, `collab`, `other` registered, and `demo` owned by `owner`
/// and shared with `collab`.
pub async fn world() -> World {
    world_on(spawn_app().await).await
}

/// Like [`world`] with other platform settings (quotas, throttling).
pub async fn world_with(platform: PlatformSettings) -> World {
    world_on(spawn_app_configured(api_settings(), platform).await).await
}

async fn world_on(app: TestApp) -> World {
    let admin = app.user("admin").await;
    let owner = app.user("owner").await;
    let collab = app.user("collab").await;
    let other = app.user("other").await;
    let w = World {
        app,
        admin,
        owner,
        collab,
        other,
    };
    w.create_app(&w.owner, "demo").await;
    w.post(
        "/v1/apps/demo/perms",
        &w.owner,
        json!({"username": "collab"}),
    )
    .await
    .empty(201);
    w
}

/// A valid `ssh-rsa` public key line, distinct per `seed`.
pub fn public_key(seed: &str, comment: &str) -> String {
    let mut blob = Vec::new();
    blob.extend_from_slice(&7u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-rsa");
    blob.extend_from_slice(&3u32.to_be_bytes());
    blob.extend_from_slice(&[1, 0, 1]);
    let modulus: Vec<u8> = seed.bytes().chain(0..64u8).collect();
    blob.extend_from_slice(&u32::try_from(modulus.len()).expect("len").to_be_bytes());
    blob.extend_from_slice(&modulus);
    format!("ssh-rsa {} {comment}", base64(&blob))
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sends raw bytes over a fresh connection and returns everything the server answers
/// (for requests `reqwest` will not make, such as chunked bodies).
pub async fn raw_http(base: &str, request: String) -> String {
    let addr = base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        // The server may answer and close before reading everything; that is fine.
        let _ = stream.write_all(request.as_bytes());
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .expect("raw request")
}

impl World {
    /// The app's releases as `token` sees them, newest first.
    pub async fn releases_as(&self, token: &str, id: &str) -> Vec<Value> {
        results(
            &self
                .get(&format!("/v1/apps/{id}/releases"), token)
                .await
                .expect(200),
        )
    }
}
