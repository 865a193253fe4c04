//! Two controller processes on one PostgreSQL database serve one consistent API: tokens work
//! across them, and concurrent config changes of one app through both give consecutive
//! releases and lose no key. Needs `DEIS_TEST_POSTGRES_URL` (`cargo xtask test` sets it);
//! without it the test says so and passes, except under CI, where it fails.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deis_testkit::TestDb;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// A controller process, killed on drop.
struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn start(database_url: &str, identity: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_deis-controller"))
            .arg("serve")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_ROUTER_BIND", "")
            .env("DEIS_BUILDER_BIND", "")
            .env("DEIS_DATABASE_URL", database_url)
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_RECONCILE_INTERVAL", "0")
            .env("DEIS_SCHEDULER_IDENTITY", identity)
            .env("DEIS_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("controller starts");
        let replica = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while Client::new()
            .get(format!("{}/healthz", replica.base))
            .send()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "replica did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        replica
    }
}

fn postgres_db() -> Option<TestDb> {
    if std::env::var("DEIS_TEST_POSTGRES_URL").is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the replica test: set DEIS_TEST_POSTGRES_URL"
        );
        eprintln!(
            "DEIS_TEST_POSTGRES_URL is unset: replica test skipped (cargo xtask test sets it)"
        );
        return None;
    }
    Some(TestDb::postgres())
}

#[test]
fn two_replicas_serialize_concurrent_config_changes() {
    let Some(db) = postgres_db() else { return };
    let identity = format!("deis-replicas-{}", std::process::id());
    let a = Replica::start(db.url(), &identity);
    let b = Replica::start(db.url(), &identity);
    let http = Client::new();

    let form = [("username", "rita"), ("password", "replica-pw")];
    let res = http
        .post(format!("{}/v1/auth/register", a.base))
        .form(&form)
        .send()
        .expect("register");
    assert_eq!(res.status(), 201);
    let login: Value = http
        .post(format!("{}/v1/auth/login/", b.base))
        .form(&form)
        .send()
        .expect("login")
        .json()
        .expect("json");
    let token = login["token"].as_str().expect("token").to_owned();
    let auth = format!("token {token}");
    let res = http
        .post(format!("{}/v1/apps", a.base))
        .header("Authorization", &auth)
        .json(&json!({"id": "twin"}))
        .send()
        .expect("create");
    assert_eq!(
        res.status(),
        201,
        "a token issued by one replica works on the other"
    );

    let bases = [a.base.clone(), b.base.clone()];
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let url = format!("{}/v1/apps/twin/config", bases[i % 2]);
            let auth = auth.clone();
            std::thread::spawn(move || {
                let res = Client::new()
                    .post(url)
                    .header("Authorization", auth)
                    .json(&json!({ "values": { format!("KEY_{i:02}"): i } }))
                    .send()
                    .expect("config change");
                let status = res.status();
                (status, res.text().unwrap_or_default())
            })
        })
        .collect();
    for handle in handles {
        let (status, body) = handle.join().expect("thread");
        assert_eq!(status, 201, "{body}");
    }

    let releases: Value = http
        .get(format!("{}/v1/apps/twin/releases", b.base))
        .header("Authorization", &auth)
        .send()
        .expect("releases")
        .json()
        .expect("json");
    assert_eq!(releases["count"], 25);
    let mut versions: Vec<i64> = releases["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["version"].as_i64().expect("version"))
        .collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=25).collect::<Vec<_>>(),
        "consecutive, no duplicates, none skipped"
    );
    let config: Value = http
        .get(format!("{}/v1/apps/twin/config", a.base))
        .header("Authorization", &auth)
        .send()
        .expect("config")
        .json()
        .expect("json");
    let values = config["values"].as_object().expect("values");
    assert_eq!(values.len(), 24, "every change survived: {values:?}");
    for i in 0..24 {
        assert_eq!(values[&format!("KEY_{i:02}")], json!(i));
    }
}
