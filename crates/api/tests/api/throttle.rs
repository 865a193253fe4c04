//! Issue 14: guessing is throttled. Failed logins per username and per client address, wrong
//! builder keys per client address: 429 with `Retry-After` once the limit (10 in 5 minutes by
//! default) is reached, the right secret refused too while throttled. Tokens expire without
//! leeway.

use std::time::Duration;

use deis_testkit::{BUILDER_KEY, TestApp, api_settings, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const WRONG: &str = "Unable to log in with provided credentials.";

async fn login_from(app: &TestApp, user: &str, password: &str, from: Option<&str>) -> Reply {
    let mut rb = app
        .http
        .post(app.url("/v1/auth/login/"))
        .form(&[("username", user), ("password", password)]);
    if let Some(address) = from {
        rb = rb.header("X-Forwarded-For", format!("203.0.113.77, {address}"));
    }
    send(rb).await
}

/// Asserts a 429 with the throttling detail and a `Retry-After` within two windows.
#[track_caller]
fn throttled(res: &Reply, what: &str) {
    assert_eq!(res.status, 429, "not throttled: {}", res.text);
    let wait: u64 = res
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=600).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        res.json(),
        json!({"detail": format!("Too many failed {what}; try again in {wait} seconds.")})
    );
}

/// A server that takes the client address from `X-Forwarded-For`.
async fn behind_a_proxy() -> TestApp {
    let mut settings = api_settings();
    settings.trust_forwarded_for = true;
    spawn_app_with(settings).await
}

#[tokio::test]
async fn fifteen_wrong_passwords_bring_429_and_then_the_right_one_is_refused() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    for _ in 0..10 {
        login_from(&app, "alice", "guess", None)
            .await
            .is(400, field("non_field_errors", WRONG));
    }
    for _ in 0..5 {
        throttled(&login_from(&app, "alice", "guess", None).await, "logins");
    }
    throttled(&login_from(&app, "alice", "pw-alice", None).await, "logins");
    // Other users are unaffected, from the same address too.
    login_from(&app, "bob", "pw-bob", None).await.expect(200);
    login_from(&app, "bob", "wrong", None)
        .await
        .is(400, field("non_field_errors", WRONG));
}

#[tokio::test]
async fn a_throttled_username_stays_throttled_from_every_address() {
    let app = behind_a_proxy().await;
    app.user("alice").await;
    for i in 0..10 {
        login_from(&app, "alice", "guess", Some(&format!("198.51.100.{i}")))
            .await
            .expect(400);
    }
    let res = login_from(&app, "alice", "pw-alice", Some("192.0.2.1")).await;
    throttled(&res, "logins");
}

#[tokio::test]
async fn an_address_guessing_many_usernames_is_throttled() {
    let app = behind_a_proxy().await;
    app.user("bob").await;
    let sprayer = Some("198.51.100.7");
    for i in 0..10 {
        login_from(&app, &format!("user{i}"), "Password1", sprayer)
            .await
            .is(400, field("non_field_errors", WRONG));
    }
    throttled(
        &login_from(&app, "user10", "Password1", sprayer).await,
        "logins",
    );
    throttled(&login_from(&app, "bob", "pw-bob", sprayer).await, "logins");
    // Elsewhere, bob logs in.
    login_from(&app, "bob", "pw-bob", Some("192.0.2.1"))
        .await
        .expect(200);
}

#[tokio::test]
async fn forwarded_addresses_are_ignored_unless_trusted() {
    let app = spawn_app().await;
    for i in 0..10 {
        login_from(
            &app,
            &format!("user{i}"),
            "x",
            Some(&format!("198.51.100.{i}")),
        )
        .await
        .expect(400);
    }
    // Every attempt came from the peer address, whatever the header claimed.
    throttled(
        &login_from(&app, "user10", "x", Some("192.0.2.99")).await,
        "logins",
    );
}

#[tokio::test]
async fn a_successful_login_forgets_the_failures_of_the_username() {
    let app = spawn_app().await;
    app.user("alice").await;
    for _ in 0..9 {
        login_from(&app, "alice", "typo", None).await.expect(400);
    }
    login_from(&app, "alice", "pw-alice", None)
        .await
        .expect(200);
    for _ in 0..9 {
        login_from(&app, "alice", "typo", None).await.expect(400);
    }
    login_from(&app, "alice", "pw-alice", None)
        .await
        .expect(200);
}

#[tokio::test]
async fn concurrent_guesses_cannot_pass_the_limit_together() {
    let app = spawn_app().await;
    app.user("alice").await;
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let rb = app.http.post(app.url("/v1/auth/login/")).form(&[
                ("username", "alice"),
                ("password", format!("guess{i}").as_str()),
            ]);
            tokio::spawn(send(rb))
        })
        .collect();
    let mut checked = 0;
    let mut refused = 0;
    for g in guesses {
        let res = g.await.expect("guess");
        match res.status {
            400 => checked += 1,
            429 => refused += 1,
            other => panic!("unexpected {other}: {}", res.text),
        }
    }
    assert_eq!(checked + refused, 30);
    assert!(checked <= 10, "{checked} passwords were checked");
    throttled(&login_from(&app, "alice", "pw-alice", None).await, "logins");
}

#[tokio::test]
async fn thirty_wrong_builder_keys_bring_429_and_then_the_right_one_is_refused() {
    let w = world().await;
    let body = json!({"receive_user": "owner", "receive_repo": "demo"});
    let hook = |key: String| {
        send(
            w.app
                .http
                .post(w.app.url("/v1/hooks/config"))
                .header("X-Deis-Builder-Auth", key)
                .json(&body),
        )
    };
    let mut statuses = Vec::new();
    for i in 0..30 {
        let res = hook(format!("guess-{i}")).await;
        if res.status == 429 {
            throttled(&res, "builder keys");
        } else {
            res.is(401, unauthenticated());
        }
        statuses.push(res.status);
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10..], [429; 20]);
    throttled(&hook(BUILDER_KEY.to_owned()).await, "builder keys");
    // Logins are counted apart.
    login_from(&w.app, "owner", "pw-owner", None)
        .await
        .expect(200);
}

#[tokio::test]
async fn builder_keys_are_counted_per_address() {
    let mut settings = api_settings();
    settings.trust_forwarded_for = true;
    let app = spawn_app_with(settings).await;
    let hook = |key: &str, from: &str| {
        send(
            app.http
                .post(app.url("/v1/hooks/push"))
                .header("X-Deis-Builder-Auth", key)
                .header("X-Forwarded-For", from)
                .json(&json!({})),
        )
    };
    for _ in 0..10 {
        hook("wrong", "198.51.100.1").await.expect(401);
    }
    throttled(&hook("wrong", "198.51.100.1").await, "builder keys");
    // The builder at another address goes on (its body is checked: 400, not 401/429).
    let res = hook(BUILDER_KEY, "192.0.2.10").await;
    assert_eq!(res.status, 400, "{}", res.text);
}

fn forge(user_id: i64, exp_offset: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user_id.to_string(), "generation": 0, "iat": now - 100, "exp": now + exp_offset}),
        &jsonwebtoken::EncodingKey::from_secret(api_settings().secret_key.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test]
async fn expired_tokens_are_refused_without_leeway() {
    let app = spawn_app().await;
    app.user("a").await;
    let id = app.store.user_by_name("a").await.expect("user").id;
    let invalid = json!({"detail": "Invalid token"});
    // Within jsonwebtoken's default leeway of 60 seconds, and at the very second.
    for offset in [-30, -1, 0] {
        send(app.req(Method::GET, "/v1/", &forge(id, offset)))
            .await
            .is(401, invalid.clone());
    }
    // A token seen (and cached) while valid is refused as soon as it expires.
    let short = forge(id, 2);
    send(app.req(Method::GET, "/v1/", &short))
        .await
        .is(200, json!({}));
    let expiry = time::OffsetDateTime::now_utc().unix_timestamp() + 2;
    while time::OffsetDateTime::now_utc().unix_timestamp() < expiry {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res: Value = send(app.req(Method::GET, "/v1/", &short)).await.expect(401);
    assert_eq!(res, invalid);
}
