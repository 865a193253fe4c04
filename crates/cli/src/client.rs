//! HTTP calls to the controller and the decoding of its answers and errors.
//!
//! Every authenticated call carries `Authorization: token <t>` and `X-Deis-Version: 1.0`, or
//! `1.7` for the calls of API v1.7 ([`Client::v17`]: a server that speaks only v1.0 refuses
//! them with 405 instead of reading them as v1.0 calls);
//! bodies are JSON except register and login, which are form-encoded as the API requires.
//! Requests have no overall time limit: a deploy or a scale runs inside the request and may
//! take minutes.

use std::time::Duration;

use reqwest::Method;
use reqwest::Url;
use reqwest::blocking::RequestBuilder;
use serde_json::Value;

use crate::error::{ApiError, CliError, Result, other, usage};

/// The API version this client speaks, sent as `X-Deis-Version`.
pub const API_VERSION: &str = "1.0";

/// The API version of the calls API v1.7 added.
pub const V17_API_VERSION: &str = "1.7";

/// How many pages of a list are followed at most, a guard against a server looping.
const MAX_PAGES: usize = 10_000;

/// A connection to one controller, with or without a token.
#[derive(Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: Url,
    token: Option<String>,
    app: Option<String>,
    /// The app's name was guessed from the directory, not given or read from a remote.
    guessed: bool,
    version: &'static str,
}

/// A successful answer: status, the `X-Deis-Release` header and the body text.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Release version announced by `X-Deis-Release`, if any.
    pub release: Option<String>,
    /// The body as received.
    pub body: String,
    /// The builder's SSH port announced by `X-Deis-Builder-Port`, if any.
    pub builder_port: Option<u16>,
}

impl Reply {
    /// Decodes the body as JSON, whatever its content type says (`run` and `logs` answer
    /// JSON labelled `text/plain`).
    pub fn json(&self) -> Result<Value> {
        decode_json(&self.body)
    }

    /// The release version of `X-Deis-Release`, or `?` when the header is missing.
    pub fn release_label(&self) -> &str {
        self.release.as_deref().unwrap_or("?")
    }
}

/// Request body kinds.
enum Body<'a> {
    None,
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// Normalizes what a user typed as controller: adds `http://` when there is no scheme and
/// drops a trailing slash.
pub fn normalize_controller(input: &str) -> Result<String> {
    let input = input.trim();
    if input.is_empty() {
        return Err(usage("the controller URL is empty"));
    }
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("http://{input}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| usage(format!("\"{input}\" is not a valid controller URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(usage(format!(
            "\"{input}\" is not a valid controller URL; use e.g. http://deis.example.com"
        )));
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

impl Client {
    /// A client for calls that need no token (register, login).
    pub fn anonymous(controller: &str) -> Result<Client> {
        Client::build(controller, None)
    }

    /// A client that authenticates with `token`.
    pub fn authenticated(controller: &str, token: &str) -> Result<Client> {
        Client::build(controller, Some(token.to_owned()))
    }

    fn build(controller: &str, token: Option<String>) -> Result<Client> {
        let base = Url::parse(controller).map_err(|e| {
            other(format!(
                "the stored controller URL \"{controller}\" is invalid ({e}); log in again"
            ))
        })?;
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("deis-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .timeout(None)
            .build()
            .map_err(|e| other(format!("cannot set up HTTP: {e}")))?;
        Ok(Client {
            http,
            base,
            token,
            app: None,
            guessed: false,
            version: API_VERSION,
        })
    }

    /// The same client speaking API v1.7 (`X-Deis-Version: 1.7`), for the calls v1.7 added.
    pub fn v17(mut self) -> Client {
        self.version = V17_API_VERSION;
        self
    }

    /// Names the app the following calls are about, so that errors mention it.
    pub fn for_app(mut self, app: &str) -> Client {
        self.app = Some(app.to_owned());
        self
    }

    /// Marks the app as guessed from the directory's name, so that a 404 says so.
    pub fn guessed(mut self) -> Client {
        self.guessed = true;
        self
    }

    /// The controller's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Builds `/v1/<segments>` on the controller, percent-encoding each segment. An empty
    /// last segment gives a trailing slash.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().push("v1").extend(segments);
        }
        url
    }

    /// `GET`, expecting 200 and a JSON body.
    pub fn get(&self, segments: &[&str]) -> Result<Value> {
        self.send(Method::GET, self.url(segments), Body::None, &[200])?
            .json()
    }

    /// `GET` with the accepted statuses given, returning the raw reply.
    pub fn get_reply(&self, segments: &[&str], expect: &[u16]) -> Result<Reply> {
        self.send(Method::GET, self.url(segments), Body::None, expect)
    }

    /// `GET` of a paginated list, following `next` until the last page; returns every item.
    pub fn get_all(&self, segments: &[&str]) -> Result<Vec<Value>> {
        let mut url = self.url(segments);
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .send(Method::GET, url.clone(), Body::None, &[200])?
                .json()?;
            let Value::Object(mut page) = page else {
                return match page {
                    Value::Array(all) => Ok(all),
                    _ => Err(other(format!("unexpected answer from {url}: not a list"))),
                };
            };
            match page.remove("results") {
                Some(Value::Array(results)) => items.extend(results),
                _ => return Err(other(format!("unexpected answer from {url}: no results"))),
            }
            match page.get("next") {
                Some(Value::String(next)) if !next.is_empty() => url = self.follow(next)?,
                _ => return Ok(items),
            }
        }
        Err(other(format!(
            "gave up after {MAX_PAGES} pages of {}",
            self.url(segments)
        )))
    }

    /// Resolves a `next` link against the controller the client talks to: only its path and
    /// query are used, so a proxy that rewrites the host never sends the token elsewhere.
    fn follow(&self, next: &str) -> Result<Url> {
        let link = self
            .base
            .join(next)
            .map_err(|e| other(format!("the controller sent a bad next link {next:?}: {e}")))?;
        let mut url = self.base.clone();
        url.set_path(link.path());
        url.set_query(link.query());
        Ok(url)
    }

    /// `POST` of a JSON body, accepting the statuses in `expect`.
    pub fn post(&self, segments: &[&str], body: &Value, expect: &[u16]) -> Result<Reply> {
        self.send(Method::POST, self.url(segments), Body::Json(body), expect)
    }

    /// `POST` of a form-encoded body (register and login), accepting the statuses in `expect`.
    pub fn post_form(
        &self,
        segments: &[&str],
        form: &[(&str, &str)],
        expect: &[u16],
    ) -> Result<Reply> {
        self.send(Method::POST, self.url(segments), Body::Form(form), expect)
    }

    /// `DELETE`, accepting the statuses in `expect`.
    pub fn delete(&self, segments: &[&str], expect: &[u16]) -> Result<Reply> {
        self.send(Method::DELETE, self.url(segments), Body::None, expect)
    }

    /// `DELETE` with a JSON body, accepting the statuses in `expect`.
    pub fn delete_with(&self, segments: &[&str], body: &Value, expect: &[u16]) -> Result<Reply> {
        self.send(Method::DELETE, self.url(segments), Body::Json(body), expect)
    }

    fn send(&self, method: Method, url: Url, body: Body<'_>, expect: &[u16]) -> Result<Reply> {
        let mut req: RequestBuilder = self.http.request(method, url);
        if let Some(token) = &self.token {
            req = req
                .header(reqwest::header::AUTHORIZATION, format!("token {token}"))
                .header("X-Deis-Version", self.version);
        }
        req = match body {
            Body::None => req,
            Body::Json(value) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(value.to_string()),
            Body::Form(fields) => req.form(fields),
        };
        let resp = req.send().map_err(|e| self.network_error(&e))?;
        let status = resp.status();
        let release = ["x-deis-release", "deis-release"].iter().find_map(|name| {
            resp.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let builder_port = resp
            .headers()
            .get("x-deis-builder-port")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let text = resp.text().map_err(|e| self.network_error(&e))?;
        if expect.contains(&status.as_u16()) {
            return Ok(Reply {
                status: status.as_u16(),
                release,
                body: text,
                builder_port,
            });
        }
        Err(self.refusal(status.as_u16(), &text))
    }

    /// The error of an answer with an unexpected `status` and `body`.
    pub fn refusal(&self, status: u16, body: &str) -> CliError {
        let mut message = error_message(body);
        if status == 404
            && self.guessed
            && message == "Not found"
            && let Some(app) = &self.app
        {
            return CliError::Api(ApiError {
                status,
                reason: "Not Found".to_owned(),
                message: format!(
                    "no app `{app}` (guessed from the directory's name) — pass -a APP"
                ),
                app: None,
            });
        }
        if status == 401 && self.token.is_some() {
            message.push_str("; log in again with `deis login <controller>`");
        }
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        CliError::Api(ApiError {
            status,
            reason: reason.to_owned(),
            message,
            app: self.app.clone(),
        })
    }

    /// The session's token, when the client has one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `GET` with `query`, answered 200 and read as it arrives (a followed log).
    pub fn get_stream(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<reqwest::blocking::Response> {
        let mut req = self.http.get(self.url(segments)).query(query);
        if let Some(token) = &self.token {
            req = req
                .header(reqwest::header::AUTHORIZATION, format!("token {token}"))
                .header("X-Deis-Version", self.version);
        }
        let resp = req.send().map_err(|e| self.network_error(&e))?;
        if resp.status().as_u16() == 200 {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().map_err(|e| self.network_error(&e))?;
        Err(self.refusal(status, &text))
    }

    /// The error of a controller that could not be reached or stopped answering.
    pub fn unreachable(&self, what: &str) -> CliError {
        CliError::Network(format!(
            "could not reach the controller at {}: {what}. Make sure the controller URL is \
             right and the server is running.",
            self.base.as_str().trim_end_matches('/')
        ))
    }

    fn network_error(&self, e: &reqwest::Error) -> CliError {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let what = if e.is_timeout() {
            "the request timed out".to_owned()
        } else {
            cause.to_string()
        };
        CliError::Network(format!(
            "could not reach the controller at {}: {what}. Make sure the controller URL is \
             right and the server is running.",
            self.base.as_str().trim_end_matches('/')
        ))
    }
}

/// Decodes a JSON body, explaining which answer was not JSON.
pub fn decode_json(body: &str) -> Result<Value> {
    serde_json::from_str(body).map_err(|e| {
        let shown: String = body.chars().take(120).collect();
        other(format!(
            "the controller sent an answer that is not JSON ({e}): {shown}"
        ))
    })
}

/// Turns an error body into one readable line: the `detail` (or `error`) of a JSON object,
/// field errors as `field: message`, a bare JSON string, or the text of an HTML page.
pub fn error_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => {
            for key in ["detail", "error"] {
                if let Some(v) = map.get(key) {
                    return plain(v);
                }
            }
            map.iter()
                .map(|(field, v)| {
                    let text = match v {
                        Value::Array(msgs) => msgs.iter().map(plain).collect::<Vec<_>>().join(" "),
                        other => plain(other),
                    };
                    if field == "non_field_errors" {
                        text
                    } else {
                        format!("{field}: {text}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
        Ok(Value::Null) => String::new(),
        Ok(v) => plain(&v),
        Err(_) => squeeze(&strip_tags(body)),
    }
}

/// A JSON value as text: strings without quotes, everything else as compact JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Collapses whitespace into single spaces and shortens very long texts.
fn squeeze(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let short: String = joined.chars().take(200).collect();
        format!("{short}...")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{Canned, TestServer};
    use serde_json::json;

    #[test]
    fn controller_urls_get_a_scheme_and_lose_the_slash() {
        assert_eq!(
            normalize_controller("deis.example.com").unwrap(),
            "http://deis.example.com"
        );
        assert_eq!(
            normalize_controller("https://d.example.com:8000/").unwrap(),
            "https://d.example.com:8000"
        );
        assert_eq!(
            normalize_controller("127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert!(normalize_controller("").is_err());
        assert!(normalize_controller("ftp://x").is_err());
    }

    #[test]
    fn error_bodies_become_one_line() {
        assert_eq!(error_message(r#"{"detail": "Not found"}"#), "Not found");
        assert_eq!(
            error_message(r#"{"error": "Client and server versions do not match."}"#),
            "Client and server versions do not match."
        );
        assert_eq!(
            error_message(
                r#"{"non_field_errors": ["Unable to log in with provided credentials."]}"#
            ),
            "Unable to log in with provided credentials."
        );
        assert_eq!(
            error_message(r#"{"id": ["App with this Id already exists."]}"#),
            "id: App with this Id already exists."
        );
        assert_eq!(
            error_message(r#""No build associated with this release""#),
            "No build associated with this release"
        );
        assert_eq!(
            error_message("<h1>Not Found</h1><p>The requested URL /v1/x was not found.</p>"),
            "Not Found The requested URL /v1/x was not found."
        );
        assert_eq!(error_message(""), "");
    }

    #[test]
    fn urls_are_built_under_v1_with_encoding() {
        let c = Client::anonymous("http://h:1/ignored/path").unwrap();
        assert_eq!(
            c.url(&["auth", "login", ""]).as_str(),
            "http://h:1/v1/auth/login/"
        );
        assert_eq!(
            c.url(&["keys", "me@host x"]).as_str(),
            "http://h:1/v1/keys/me@host%20x"
        );
    }

    #[test]
    fn authenticated_calls_carry_token_and_version() {
        let server = TestServer::start(|_| Canned::json(200, json!({"id": "a"})));
        let c = Client::authenticated(&server.url(), "tok").unwrap();
        c.get(&["apps", "a"]).unwrap();
        let req = &server.requests()[0];
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/v1/apps/a");
        assert_eq!(req.header("authorization"), Some("token tok"));
        assert_eq!(req.header("x-deis-version"), Some("1.0"));
    }

    #[test]
    fn v17_calls_say_so() {
        let server = TestServer::start(|_| Canned::json(200, json!([])));
        let c = Client::authenticated(&server.url(), "tok").unwrap().v17();
        c.post(&["apps", "a", "containers", "restart"], &json!({}), &[200])
            .unwrap();
        c.delete_with(&["auth", "cancel"], &json!({"username": "u"}), &[200])
            .unwrap();
        let reqs = server.requests();
        assert_eq!(reqs[0].header("x-deis-version"), Some("1.7"));
        assert_eq!(reqs[1].method, "DELETE");
        assert_eq!(reqs[1].body, r#"{"username":"u"}"#);
        assert_eq!(reqs[1].header("x-deis-version"), Some("1.7"));
    }

    #[test]
    fn login_is_form_encoded_without_version_header() {
        let server = TestServer::start(|_| Canned::json(200, json!({"token": "t"})));
        let c = Client::anonymous(&server.url()).unwrap();
        c.post_form(
            &["auth", "login", ""],
            &[("username", "al ice"), ("password", "p&w")],
            &[200],
        )
        .unwrap();
        let req = &server.requests()[0];
        assert_eq!(req.path, "/v1/auth/login/");
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(req.body, "username=al+ice&password=p%26w");
        assert_eq!(req.header("x-deis-version"), None);
        assert_eq!(req.header("authorization"), None);
    }

    #[test]
    fn pagination_follows_next_links() {
        let server = TestServer::start(|req| {
            let page = req
                .path
                .split("page=")
                .nth(1)
                .unwrap_or("1")
                .parse::<u32>()
                .unwrap();
            // The server names itself by a host the client cannot reach; only the path counts.
            let next = if page < 3 {
                json!(format!(
                    "http://elsewhere.invalid/v1/apps?page={}",
                    page + 1
                ))
            } else {
                Value::Null
            };
            Canned::json(
                200,
                json!({"count": 3, "next": next, "previous": null,
                       "results": [{"id": format!("app{page}")}]}),
            )
        });
        let c = Client::authenticated(&server.url(), "t").unwrap();
        let all = c.get_all(&["apps"]).unwrap();
        let ids: Vec<_> = all.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["app1", "app2", "app3"]);
        let paths: Vec<_> = server.requests().iter().map(|r| r.path.clone()).collect();
        assert_eq!(paths, ["/v1/apps", "/v1/apps?page=2", "/v1/apps?page=3"]);
    }

    #[test]
    fn unexpected_status_is_an_api_error_naming_the_app() {
        let server = TestServer::start(|_| Canned::json(404, json!({"detail": "Not found"})));
        let c = Client::authenticated(&server.url(), "t")
            .unwrap()
            .for_app("ghost");
        let err = c.get(&["apps", "ghost"]).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "Not found (404 Not Found, app \"ghost\")");
    }

    #[test]
    fn release_header_and_text_plain_json_are_read() {
        let server = TestServer::start(|_| Canned {
            status: 201,
            headers: vec![
                ("X-Deis-Release".into(), "7".into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            body: "[0, \"hi\\n\"]".into(),
        });
        let c = Client::authenticated(&server.url(), "t").unwrap();
        let reply = c.post(&["apps", "a", "run"], &json!({}), &[201]).unwrap();
        assert_eq!(reply.release_label(), "7");
        assert_eq!(reply.json().unwrap(), json!([0, "hi\n"]));
        assert_eq!(server.requests()[0].body, "{}");
    }

    #[test]
    fn unreachable_controller_is_a_network_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = Client::authenticated(&format!("http://127.0.0.1:{port}"), "t").unwrap();
        let err = c.get(&["apps"]).unwrap_err();
        assert!(matches!(err, CliError::Network(_)), "{err:?}");
        assert!(err.to_string().contains("could not reach the controller"));
    }
}
