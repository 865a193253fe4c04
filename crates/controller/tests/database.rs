//! The database file under the real binary (issue 14): a SQLite file moved away while the
//! controller serves makes every request that needs the database answer 503, never a 2xx
//! whose write is lost, while `/healthz` keeps answering; once the file is back, all is well
//! and nothing answered 503 was written.
//!
//! The controller is pointed at an engine socket that does not exist: this test never touches
//! the shared Docker engine.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

/// A controller process on a SQLite file, killed on drop.
struct Controller {
    child: Child,
    base: String,
    http: Client,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Controller {
    fn start(db: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_deis-controller"))
            .arg("serve")
            .env_remove("DEIS_CONFIG")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_BUILDER_BIND", "")
            .env("DEIS_DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("DEIS_SECRET_KEY", "database-test-secret-key")
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_RECONCILE_INTERVAL", "0")
            .env("DEIS_SCHEDULER_IDENTITY", "database-file-test")
            .env("DEIS_ROUTER_BIND", "")
            .env("DOCKER_HOST", "unix:///nonexistent/deis-test/docker.sock")
            .env("DEIS_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("controller starts");
        let controller = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: Client::new(),
        };
        let started = Instant::now();
        while controller
            .http
            .get(controller.url("/healthz"))
            .send()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the controller did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        controller
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn call(&self, rb: RequestBuilder) -> (u16, Value) {
        let res = rb.send().expect("an answer");
        let status = res.status().as_u16();
        let text = res.text().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    fn register(&self, username: &str) -> (u16, Value) {
        self.call(
            self.http
                .post(self.url("/v1/auth/register"))
                .form(&[("username", username), ("password", "pw")]),
        )
    }

    fn token(&self, username: &str) -> String {
        let (status, body) = self.call(
            self.http
                .post(self.url("/v1/auth/login/"))
                .form(&[("username", username), ("password", "pw")]),
        );
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    fn authed(&self, rb: RequestBuilder, token: &str) -> (u16, Value) {
        self.call(rb.header("Authorization", format!("token {token}")))
    }

    fn create_app(&self, token: &str, id: &str) -> (u16, Value) {
        self.authed(
            self.http
                .post(self.url("/v1/apps"))
                .json(&json!({ "id": id })),
            token,
        )
    }

    fn app_ids(&self, token: &str) -> Vec<String> {
        let (status, body) = self.authed(self.http.get(self.url("/v1/apps")), token);
        assert_eq!(status, 200, "{body}");
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    }
}

#[test]
fn a_database_file_moved_away_makes_requests_answer_503_until_it_is_back() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("deis.db");
    let aside = dir.path().join("moved-away.db");
    let ctl = Controller::start(&db);
    assert_eq!(ctl.register("alice").0, 201);
    let token = ctl.token("alice");
    assert_eq!(ctl.create_app(&token, "before").0, 201);

    std::fs::rename(&db, &aside).expect("database file moved away");
    let unavailable = (503, json!({"detail": "database unavailable, try again"}));
    assert_eq!(ctl.create_app(&token, "lost"), unavailable, "a write");
    assert_eq!(ctl.register("bob"), unavailable, "a registration");
    assert_eq!(
        ctl.authed(ctl.http.get(ctl.url("/v1/apps")), &token),
        unavailable,
        "a read"
    );
    let (status, _) = ctl.call(ctl.http.get(ctl.url("/healthz")));
    assert_eq!(status, 200, "/healthz needs no database");
    assert!(!db.exists(), "no empty database appeared in its place");

    std::fs::rename(&aside, &db).expect("database file put back");
    assert_eq!(ctl.create_app(&token, "after").0, 201);
    assert_eq!(ctl.app_ids(&token), ["before", "after"]);
    drop(ctl);

    // What was answered 503 was not written; what was answered 201 was.
    let again = Controller::start(&db);
    let token = again.token("alice");
    assert_eq!(again.app_ids(&token), ["before", "after"]);
    assert_eq!(again.register("bob").0, 201, "bob was never registered");
}
