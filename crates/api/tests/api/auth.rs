//! §4.1: registration, login, tokens, password change, account cancellation, API root.

use deis_api::Registration;
use deis_testkit::{api_settings, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn register(app: &deis_testkit::TestApp, form: &[(&str, &str)]) -> Reply {
    send(app.http.post(app.url("/v1/auth/register")).form(form)).await
}

async fn login(app: &deis_testkit::TestApp, path: &str, user: &str, password: &str) -> Reply {
    send(
        app.http
            .post(app.url(path))
            .form(&[("username", user), ("password", password)]),
    )
    .await
}

#[tokio::test]
async fn the_first_registered_user_is_admin_and_the_user_object_has_the_spec_shape() {
    let app = spawn_app().await;
    let res = register(
        &app,
        &[
            ("username", "alice"),
            ("password", "s3cret"),
            ("email", "  Alice@Example.COM "),
            ("first_name", "Alice"),
            ("last_name", "Liddell"),
        ],
    )
    .await;
    let user = res.expect(201);
    has_keys(
        &user,
        &[
            "id",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
            "groups",
            "user_permissions",
        ],
    );
    assert_eq!(user["username"], "alice");
    assert_eq!(
        user["email"], "Alice@example.com",
        "domain lower-cased, trimmed"
    );
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["last_name"], "Liddell");
    assert_eq!(user["is_superuser"], true);
    assert_eq!(user["is_staff"], true);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["groups"], json!([]));
    assert_eq!(user["user_permissions"], json!([]));
    assert!(user["id"].is_i64());
    let joined = user["date_joined"].as_str().expect("date_joined");
    assert!(joined.ends_with('Z') && joined.contains('T'), "{joined}");
    assert!(
        !res.text.contains("s3cret"),
        "the password never comes back"
    );
    assert!(res.header("Location").is_none());

    let second = register(&app, &[("username", "bob"), ("password", "pw")])
        .await
        .expect(201);
    assert_eq!(second["is_superuser"], false);
    assert_eq!(second["is_staff"], false);
    assert_eq!(second["email"], "");
}

#[tokio::test]
async fn registration_accepts_json_and_multipart_and_ignores_read_only_flags() {
    let app = spawn_app().await;
    app.user("admin").await;
    let res = send(app.http.post(app.url("/v1/auth/register/")).json(&json!({
        "username": "j.son+x@y_z-1",
        "password": "pw",
        "is_superuser": true,
        "is_staff": true,
        "is_active": false,
        "id": 999,
        "groups": [1],
    })))
    .await;
    let user = res.expect(201);
    assert_eq!(user["username"], "j.son+x@y_z-1");
    assert_eq!(user["is_superuser"], false);
    assert_eq!(user["is_staff"], false);
    assert_ne!(user["id"], 999);
    assert_eq!(user["is_active"], true, "is_active is forced to true");

    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nmulti\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\npw\r\n--XyZ--\r\n";
    let res = send(
        app.http
            .post(app.url("/v1/auth/register"))
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(body),
    )
    .await;
    assert_eq!(res.expect(201)["username"], "multi");
    login(&app, "/v1/auth/login/", "multi", "pw")
        .await
        .expect(200);
}

#[tokio::test]
async fn registration_validates_every_field_with_the_spec_messages() {
    let app = spawn_app().await;
    register(&app, &[]).await.is(
        400,
        json!({"username": ["This field is required."], "password": ["This field is required."]}),
    );
    let long = "a".repeat(31);
    register(&app, &[("username", &long), ("password", "pw")])
        .await
        .is(
            400,
            field(
                "username",
                "Ensure this value has at most 30 characters (it has 31).",
            ),
        );
    register(&app, &[("username", "bad name"), ("password", "pw")])
        .await
        .is(400, field("username", "Enter a valid username."));
    register(&app, &[("username", "ünï"), ("password", "pw")])
        .await
        .is(400, field("username", "Enter a valid username."));
    register(
        &app,
        &[("username", "x"), ("password", "pw"), ("email", "nope")],
    )
    .await
    .is(400, field("email", "Enter a valid email address."));
    let long_pw = "p".repeat(129);
    register(&app, &[("username", "x"), ("password", &long_pw)])
        .await
        .is(
            400,
            field(
                "password",
                "Ensure this value has at most 128 characters (it has 129).",
            ),
        );
    register(
        &app,
        &[("username", "x"), ("password", "pw"), ("first_name", &long)],
    )
    .await
    .is(
        400,
        field(
            "first_name",
            "Ensure this value has at most 30 characters (it has 31).",
        ),
    );
    register(
        &app,
        &[("username", "x"), ("password", "pw"), ("last_name", &long)],
    )
    .await
    .is(
        400,
        field(
            "last_name",
            "Ensure this value has at most 30 characters (it has 31).",
        ),
    );
    register(&app, &[("username", "x"), ("password", "pw")])
        .await
        .expect(201);
    register(&app, &[("username", "x"), ("password", "other")])
        .await
        .is(
            400,
            field("username", "User with this Username already exists."),
        );
}

#[tokio::test]
async fn registration_with_mistyped_json_fields_is_400() {
    let app = spawn_app().await;
    for body in [
        json!({"username": ["a"], "password": "pw"}),
        json!({"username": {"a": 1}, "password": "pw"}),
        json!({"username": true, "password": "pw"}),
        json!({"username": "u", "password": ["pw"]}),
        json!({"username": "u", "password": "pw", "email": 5}),
        json!({"username": "u", "password": "pw", "email": ["a@b.co"]}),
        json!({"username": "u", "password": "pw", "first_name": {}}),
    ] {
        let res = send(app.http.post(app.url("/v1/auth/register")).json(&body)).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.json().is_object(), "{}", res.text);
    }
    for body in [json!([]), json!("u"), json!(null), json!(1)] {
        let res = send(app.http.post(app.url("/v1/auth/register")).json(&body)).await;
        assert_eq!(res.status, 400, "{body}");
        assert!(
            res.json()["detail"]
                .as_str()
                .expect("detail")
                .starts_with("JSON parse error - "),
            "{}",
            res.text
        );
    }
}

#[tokio::test]
async fn registration_ignores_the_authorization_header() {
    let app = spawn_app().await;
    let res = send(
        app.http
            .post(app.url("/v1/auth/register"))
            .header("Authorization", "token not-a-token")
            .form(&[("username", "a"), ("password", "pw")]),
    )
    .await;
    assert_eq!(res.expect(201)["username"], "a");
}

#[tokio::test]
async fn disabled_registration_is_403() {
    let mut settings = api_settings();
    settings.registration = Registration::Disabled;
    let app = spawn_app_with(settings).await;
    register(&app, &[("username", "a"), ("password", "pw")])
        .await
        .is(403, forbidden());
    assert!(matches!(
        app.store.user_by_name("a").await,
        Err(deis_domain::StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn admin_only_registration_lets_the_first_user_and_then_only_admins_register() {
    let mut settings = api_settings();
    settings.registration = Registration::AdminOnly;
    let app = spawn_app_with(settings).await;
    let admin = app.user("root").await;
    register(&app, &[("username", "b"), ("password", "pw")])
        .await
        .is(403, forbidden());
    let res = send(
        app.http
            .post(app.url("/v1/auth/register"))
            .header("Authorization", format!("token {admin}"))
            .form(&[("username", "b"), ("password", "pw")]),
    )
    .await;
    assert_eq!(res.expect(201)["is_superuser"], false);
    let b = login(&app, "/v1/auth/login/", "b", "pw").await.expect(200);
    let b = b["token"].as_str().expect("token").to_owned();
    let res = send(
        app.http
            .post(app.url("/v1/auth/register"))
            .header("Authorization", format!("token {b}"))
            .form(&[("username", "c"), ("password", "pw")]),
    )
    .await;
    res.is(403, forbidden());
}

#[tokio::test]
async fn login_works_with_and_without_the_trailing_slash_and_returns_a_token() {
    let app = spawn_app().await;
    register(&app, &[("username", "a"), ("password", "pw")])
        .await
        .expect(201);
    for path in ["/v1/auth/login/", "/v1/auth/login"] {
        let body = login(&app, path, "a", "pw").await.expect(200);
        has_keys(&body, &["token"]);
        let token = body["token"].as_str().expect("token");
        send(app.req(Method::GET, "/v1/apps", token))
            .await
            .expect(200);
    }
    let res = send(
        app.http
            .post(app.url("/v1/auth/login/"))
            .json(&json!({"username": "a", "password": "pw"})),
    )
    .await;
    assert!(res.expect(200)["token"].is_string());
}

#[tokio::test]
async fn login_errors_use_the_field_error_shape() {
    let app = spawn_app().await;
    register(&app, &[("username", "a"), ("password", "pw")])
        .await
        .expect(201);
    send(
        app.http
            .post(app.url("/v1/auth/login/"))
            .form(&[("x", "y")]),
    )
    .await
    .is(
        400,
        json!({"username": ["This field is required."], "password": ["This field is required."]}),
    );
    send(
        app.http
            .post(app.url("/v1/auth/login/"))
            .form(&[("username", "a"), ("password", "")]),
    )
    .await
    .is(400, field("password", "This field is required."));
    let bad = json!({"non_field_errors": ["Unable to log in with provided credentials."]});
    login(&app, "/v1/auth/login/", "a", "wrong")
        .await
        .is(400, bad.clone());
    login(&app, "/v1/auth/login/", "nobody", "pw")
        .await
        .is(400, bad);
    for body in [
        json!({"username": ["a"], "password": "pw"}),
        json!({"username": "a", "password": {"p": 1}}),
        json!([1, 2]),
    ] {
        let res = send(app.http.post(app.url("/v1/auth/login/")).json(&body)).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
    }
}

#[tokio::test]
async fn login_with_a_bad_authorization_header_is_401_and_other_methods_are_405() {
    let app = spawn_app().await;
    register(&app, &[("username", "a"), ("password", "pw")])
        .await
        .expect(201);
    let res = send(
        app.http
            .post(app.url("/v1/auth/login/"))
            .header("Authorization", "token garbage")
            .form(&[("username", "a"), ("password", "pw")]),
    )
    .await;
    res.is(401, json!({"detail": "Invalid token"}));
    assert_eq!(res.header("WWW-Authenticate").as_deref(), Some("Token"));
    send(app.http.get(app.url("/v1/auth/login/")))
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
    send(app.http.get(app.url("/v1/auth/register")))
        .await
        .is(405, json!({"detail": "Method 'GET' not allowed."}));
}

#[tokio::test]
async fn tokens_are_accepted_in_token_and_bearer_schemes_and_bad_headers_are_401() {
    let app = spawn_app().await;
    let token = app.user("a").await;
    for header in [
        format!("token {token}"),
        format!("Token {token}"),
        format!("Bearer {token}"),
        format!("bearer {token}"),
    ] {
        send(
            app.http
                .get(app.url("/v1/apps"))
                .header("Authorization", header),
        )
        .await
        .expect(200);
    }
    let cases = [
        ("token", "Invalid token header. No credentials provided."),
        ("token ", "Invalid token header. No credentials provided."),
        (
            "token a b",
            "Invalid token header. Token string should not contain spaces.",
        ),
        ("token abc", "Invalid token"),
        ("Bearer e30.e30.e30", "Invalid token"),
    ];
    for (header, detail) in cases {
        let res = send(
            app.http
                .get(app.url("/v1/apps"))
                .header("Authorization", header),
        )
        .await;
        res.is(401, json!({ "detail": detail }));
        assert_eq!(res.header("WWW-Authenticate").as_deref(), Some("Token"));
    }
    let res = send(
        app.http
            .get(app.url("/v1/apps"))
            .header("Authorization", "Basic YTpi"),
    )
    .await;
    res.is(401, unauthenticated());
    let res = send(app.http.get(app.url("/v1/apps"))).await;
    res.is(401, unauthenticated());
    assert_eq!(res.header("WWW-Authenticate").as_deref(), Some("Token"));
}

fn forge(secret: &str, sub: &str, generation: i64, exp_offset: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "generation": generation, "iat": now, "exp": now + exp_offset}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let token = app.user("a").await;
    let id = app.store.user_by_name("a").await.expect("user").id;
    // A token the test secret signs for the right user and generation works ...
    let good = forge("test-secret", &id.to_string(), 0, 3600);
    send(app.req(Method::GET, "/v1/", &good))
        .await
        .is(200, json!({}));
    // ... but not one signed with another key, expired, of another generation, or naming nobody.
    for bad in [
        forge("other-secret", &id.to_string(), 0, 3600),
        forge("test-secret", &id.to_string(), 0, -7200),
        forge("test-secret", &id.to_string(), 1, 3600),
        forge("test-secret", "9999", 0, 3600),
        forge("test-secret", "not-a-number", 0, 3600),
    ] {
        send(app.req(Method::GET, "/v1/", &bad))
            .await
            .is(401, json!({"detail": "Invalid token"}));
    }
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    send(app.req(Method::GET, "/v1/", &tampered))
        .await
        .is(401, json!({"detail": "Invalid token"}));
}

#[tokio::test]
async fn changing_the_password_revokes_earlier_tokens() {
    let app = spawn_app().await;
    let old = app.user("a").await;
    let res = send(
        app.req(Method::POST, "/v1/auth/passwd", &old)
            .json(&json!({"password": "wrong", "new_password": "n"})),
    )
    .await;
    res.is(400, json!("Current password did not match"));
    send(app.req(Method::GET, "/v1/", &old)).await.expect(200);

    send(
        app.req(Method::POST, "/v1/auth/passwd/", &old)
            .json(&json!({"password": "pw-a", "new_password": "new-pw"})),
    )
    .await
    .is(200, json!({"status": "password set"}));
    send(app.req(Method::GET, "/v1/", &old))
        .await
        .is(401, json!({"detail": "Invalid token"}));
    login(&app, "/v1/auth/login/", "a", "pw-a").await.is(
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    );
    let fresh = login(&app, "/v1/auth/login/", "a", "new-pw")
        .await
        .expect(200);
    let fresh = fresh["token"].as_str().expect("token");
    send(app.req(Method::GET, "/v1/", fresh))
        .await
        .is(200, json!({}));
}

#[tokio::test]
async fn password_change_validates_its_fields() {
    let app = spawn_app().await;
    let token = app.user("a").await;
    let post = |body: Value| send(app.req(Method::POST, "/v1/auth/passwd", &token).json(&body));
    post(json!({})).await.is(
        400,
        json!({"password": ["This field is required."], "new_password": ["This field is required."]}),
    );
    post(json!({"password": "pw-a"}))
        .await
        .is(400, field("new_password", "This field is required."));
    post(json!({"new_password": "x"}))
        .await
        .is(400, field("password", "This field is required."));
    let res = post(json!({"password": ["pw-a"], "new_password": "x"})).await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = post(json!({"password": "pw-a", "new_password": {"x": 1}})).await;
    assert_eq!(res.status, 400, "{}", res.text);
    post(json!("pw")).await.expect(400);
    // An empty new password is not validated (§4.1).
    post(json!({"password": "pw-a", "new_password": ""}))
        .await
        .is(200, json!({"status": "password set"}));
    send(
        app.http
            .post(app.url("/v1/auth/passwd"))
            .json(&json!({"password": "x", "new_password": "y"})),
    )
    .await
    .is(401, unauthenticated());
}

#[tokio::test]
async fn cancelling_the_account_deletes_the_user_and_revokes_tokens() {
    let app = spawn_app().await;
    app.user("admin").await;
    let token = app.user("a").await;
    send(app.http.delete(app.url("/v1/auth/cancel")))
        .await
        .is(401, unauthenticated());
    send(app.req(Method::DELETE, "/v1/auth/cancel", &token))
        .await
        .empty(204);
    send(app.req(Method::GET, "/v1/apps", &token))
        .await
        .is(401, json!({"detail": "Invalid token"}));
    login(&app, "/v1/auth/login/", "a", "pw-a").await.is(
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    );
    // The name is free again, and the old token does not work for the new account.
    let again = register(&app, &[("username", "a"), ("password", "pw")])
        .await
        .expect(201);
    assert_eq!(again["is_superuser"], false);
    send(app.req(Method::GET, "/v1/apps", &token))
        .await
        .is(401, json!({"detail": "Invalid token"}));
    send(app.req(Method::POST, "/v1/auth/cancel", &token))
        .await
        .expect(401);
}

#[tokio::test]
async fn the_api_root_answers_an_empty_object_to_authenticated_callers() {
    let app = spawn_app().await;
    let token = app.user("a").await;
    send(app.req(Method::GET, "/v1/", &token))
        .await
        .is(200, json!({}));
    send(app.req(Method::GET, "/v1", &token))
        .await
        .is(200, json!({}));
    send(app.http.get(app.url("/v1/")))
        .await
        .is(401, unauthenticated());
}
