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

/// Polls `check` for up to a second; how long it took, or a failure naming `what`.
fn within_a_second(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: not visible through the other replica within a second"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn what_one_replica_changes_the_other_serves_within_a_second() {
    let Some(db) = postgres_db() else { return };
    let identity = format!("deis-replicas-seen-{}", std::process::id());
    let a = Replica::start(db.url(), &identity);
    let b = Replica::start(db.url(), &identity);
    let http = Client::new();
    let form = [("username", "sam"), ("password", "replica-pw")];
    let res = http
        .post(format!("{}/v1/auth/register", b.base))
        .form(&form)
        .send()
        .expect("register");
    assert_eq!(res.status(), 201);
    let login: Value = http
        .post(format!("{}/v1/auth/login/", a.base))
        .form(&form)
        .send()
        .expect("login")
        .json()
        .expect("json");
    let auth = format!("token {}", login["token"].as_str().expect("token"));
    let get = |base: &str, path: &str| {
        http.get(format!("{base}{path}"))
            .header("Authorization", &auth)
            .send()
            .expect("GET")
    };
    let listed = |id: &str| {
        let res = get(&a.base, "/v1/apps");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().expect("json");
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|app| app["id"] == id)
    };
    let mut slowest = Duration::ZERO;
    for round in 0..10 {
        let id = format!("seen-{round}");
        // Warm `a`'s caches (user, list page, rendered body) before the change.
        assert!(!listed(&id));
        let res = http
            .post(format!("{}/v1/apps", b.base))
            .header("Authorization", &auth)
            .json(&json!({ "id": id }))
            .send()
            .expect("create");
        assert_eq!(res.status(), 201);
        slowest = slowest.max(within_a_second("a new app", || listed(&id)));

        let value = format!("value-{round}");
        let res = http
            .post(format!("{}/v1/apps/{id}/config", b.base))
            .header("Authorization", &auth)
            .json(&json!({ "values": { "SEEN": value } }))
            .send()
            .expect("config");
        assert_eq!(res.status(), 201);
        slowest = slowest.max(within_a_second("a config value", || {
            let config: Value = get(&a.base, &format!("/v1/apps/{id}/config"))
                .json()
                .expect("json");
            config["values"]["SEEN"] == value.as_str()
        }));
    }
    // A password change through one replica revokes the token on the other.
    assert_eq!(get(&a.base, "/v1/apps").status(), 200);
    let res = http
        .post(format!("{}/v1/auth/passwd", b.base))
        .header("Authorization", &auth)
        .json(&json!({"password": "replica-pw", "new_password": "changed-pw"}))
        .send()
        .expect("passwd");
    assert_eq!(res.status(), 200);
    within_a_second("a revoked token", || {
        let res = get(&a.base, "/v1/apps");
        res.status() == 401
    });
    eprintln!("slowest over 10 rounds: {slowest:?}");
}
