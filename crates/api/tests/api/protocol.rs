//! §1: routing, methods, bodies, the version header, pagination and error shapes.

use deis_domain::{PlatformSettings, Quotas};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn unknown_routes_are_404_with_a_json_detail() {
    let w = world().await;
    for path in [
        "/",
        "/v2/apps",
        "/v1/nope",
        "/v1/appsXYZ",
        "/v1/apps/demo/limits",
        "/v1/apps/demo/limits/",
        "/v1/apps/demo/config/xyz",
        "/v1/apps/demo/releases/v1/extra",
        "/v1/apps/demo/containers/web/1/extra",
        "/v1/users",
        "/v1/auth",
        "/v1/hooks",
        "/v1/hooks/unknown",
        "/v1/admin",
        "/v1/apps/demo/calculate",
    ] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let res = send(w.req(method.clone(), path, &w.owner)).await;
            assert_eq!(res.status, 404, "{method} {path}: {}", res.text);
            assert_eq!(res.json(), not_found(), "{method} {path}");
            assert_eq!(
                res.header("Content-Type").as_deref(),
                Some("application/json"),
                "{path}"
            );
            let res = send(w.anon(method.clone(), path)).await;
            assert_eq!(res.status, 404, "anonymous {method} {path}: {}", res.text);
        }
    }
}

#[tokio::test]
async fn every_route_answers_with_and_without_one_trailing_slash() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    w.post(
        "/v1/keys",
        &w.owner,
        json!({"id": "k", "public": public_key("k", "")}),
    )
    .await
    .expect(201);
    let build = results(&w.get("/v1/apps/demo/builds", &w.owner).await.expect(200))[0]["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let gets = [
        "/v1",
        "/v1/apps",
        "/v1/apps/demo",
        "/v1/apps/demo/config",
        "/v1/apps/demo/builds",
        &format!("/v1/apps/demo/builds/{build}"),
        "/v1/apps/demo/releases",
        "/v1/apps/demo/releases/v2",
        "/v1/apps/demo/containers",
        "/v1/apps/demo/containers/web",
        "/v1/apps/demo/containers/web/1",
        "/v1/apps/demo/domains",
        "/v1/apps/demo/logs",
        "/v1/apps/demo/perms",
        "/v1/keys",
        "/v1/keys/k",
    ];
    for path in gets {
        let plain = w.get(path, &w.owner).await;
        assert_eq!(plain.status, 200, "{path}: {}", plain.text);
        let slashed = w.get(&format!("{path}/"), &w.owner).await;
        assert_eq!(slashed.status, 200, "{path}/: {}", slashed.text);
        if !path.ends_with("logs") {
            assert_eq!(plain.json(), slashed.json(), "{path}");
        }
    }
    let admin = w.get("/v1/admin/perms/", &w.admin).await;
    assert_eq!(admin.expect(200)["count"], 1);
    // Two trailing slashes are not one.
    let res = w.get("/v1/apps/demo//", &w.owner).await;
    assert_ne!(res.status, 500, "{}", res.text);
}

#[tokio::test]
async fn methods_a_route_does_not_serve_are_405_after_authentication() {
    let w = world().await;
    let cases = [
        (Method::PUT, "/v1/apps"),
        (Method::DELETE, "/v1/apps"),
        (Method::PATCH, "/v1/apps/demo"),
        (Method::DELETE, "/v1/apps/demo/config"),
        (Method::POST, "/v1/apps/demo/releases"),
        (Method::GET, "/v1/apps/demo/scale"),
        (Method::PUT, "/v1/apps/demo/perms/collab"),
        (Method::POST, "/v1/apps/demo/perms/collab"),
        (Method::GET, "/v1/auth/cancel"),
        (Method::GET, "/v1/auth/passwd"),
        (Method::DELETE, "/v1/keys"),
        (Method::POST, "/v1"),
    ];
    for (method, path) in cases {
        send(w.req(method.clone(), path, &w.owner)).await.is(
            405,
            json!({ "detail": format!("Method '{method}' not allowed.") }),
        );
        send(w.anon(method.clone(), path))
            .await
            .is(401, unauthenticated());
        send(
            w.anon(method.clone(), path)
                .header("Authorization", "token broken"),
        )
        .await
        .is(401, json!({"detail": "Invalid token"}));
    }
    // Admin routes check the role before the method.
    send(w.req(Method::PUT, "/v1/admin/perms", &w.owner))
        .await
        .is(403, forbidden());
    send(w.req(Method::PUT, "/v1/admin/perms", &w.admin))
        .await
        .is(405, json!({"detail": "Method 'PUT' not allowed."}));
    // Open routes need nothing before the method check.
    send(w.app.http.put(w.app.url("/v1/auth/login/")))
        .await
        .is(405, json!({"detail": "Method 'PUT' not allowed."}));
    send(w.app.http.delete(w.app.url("/v1/auth/register")))
        .await
        .is(405, json!({"detail": "Method 'DELETE' not allowed."}));
    send(
        w.app
            .http
            .delete(w.app.url("/v1/auth/register"))
            .header("Authorization", "token broken"),
    )
    .await
    .is(405, json!({"detail": "Method 'DELETE' not allowed."}));
}

#[tokio::test]
async fn head_is_served_like_get_without_a_body() {
    let w = world().await;
    let res = send(w.req(Method::HEAD, "/v1/apps/demo", &w.owner)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text, "");
    let res = send(w.req(Method::HEAD, "/v1/apps/demo", &w.other)).await;
    assert_eq!(res.status, 404);
    let res = send(w.anon(Method::HEAD, "/v1/apps")).await;
    assert_eq!(res.status, 401);
}

#[tokio::test]
async fn the_version_header_must_match_before_anything_else() {
    let w = world().await;
    let mismatch = |v: &str| json!({"error": format!("Client and server versions do not match. Client version: {v} Server version: 1.0")});
    for (method, path) in [
        (Method::GET, "/v1/apps"),
        (Method::POST, "/v1/apps"),
        (Method::GET, "/v1/nope"),
        (Method::POST, "/v1/auth/login/"),
        (Method::PUT, "/v1/apps/demo"),
    ] {
        for version in ["2.0", "1.0.1", "1", ""] {
            let res = send(
                w.app
                    .http
                    .request(method.clone(), w.app.url(path))
                    .header("X-Deis-Version", version),
            )
            .await;
            res.is(405, mismatch(version));
            assert_eq!(
                res.header("Content-Type").as_deref(),
                Some("application/json")
            );
            let res = send(
                w.app
                    .http
                    .request(method.clone(), w.app.url(path))
                    .header("Authorization", format!("token {}", w.owner))
                    .header("X-Deis-Version", version),
            )
            .await;
            res.is(405, mismatch(version));
        }
    }
    // Matching or absent headers pass; the server sends no version header back.
    let res = w.get("/v1/apps", &w.owner).await;
    assert_eq!(res.status, 200);
    assert!(res.headers.keys().all(|k| !k.as_str().contains("version")));
    let res = send(
        w.app
            .http
            .get(w.app.url("/v1/apps"))
            .header("Authorization", format!("token {}", w.owner)),
    )
    .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn bodies_of_unsupported_types_are_415() {
    let w = world().await;
    for ct in ["text/plain", "application/xml", "image/png"] {
        let res = send(
            w.req(Method::POST, "/v1/apps", &w.owner)
                .header("Content-Type", ct)
                .body("{\"id\": \"x\"}"),
        )
        .await;
        res.is(
            415,
            json!({ "detail": format!("Unsupported media type '{ct}' in request.") }),
        );
    }
    w.get("/v1/apps/x", &w.owner).await.is(404, not_found());
    // Anonymous callers learn nothing about the body.
    send(
        w.anon(Method::POST, "/v1/apps")
            .header("Content-Type", "text/plain")
            .body("x"),
    )
    .await
    .is(401, unauthenticated());
    // JSON with a charset is JSON.
    let res = send(
        w.req(Method::POST, "/v1/apps", &w.owner)
            .header("Content-Type", "application/json; charset=utf-8")
            .body("{\"id\": \"charset\"}"),
    )
    .await;
    assert_eq!(res.expect(201)["id"], "charset");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let w = world().await;
    let huge = json!({"values": {"BIG": "x".repeat(200_000)}});
    let res = w.post("/v1/apps/demo/config", &w.owner, huge).await;
    assert_eq!(res.status, 413, "{}", res.text);
    assert!(res.json()["detail"].is_string());
    assert_eq!(w.releases("demo").await.len(), 1);
    // Chunked bodies without a length are cut off too.
    let chunk = format!("1000\r\n{}\r\n", " ".repeat(4096));
    let request = format!(
        "POST /v1/apps HTTP/1.1\r\nHost: test\r\nAuthorization: token {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{}0\r\n\r\n",
        w.owner,
        chunk.repeat(100)
    );
    let response = raw_http(&w.app.base, request).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"detail\""), "{response}");
    assert_eq!(
        results(&w.get("/v1/apps", &w.owner).await.expect(200)).len(),
        1
    );
}

#[tokio::test]
async fn malformed_and_non_object_json_is_400() {
    let w = world().await;
    let raw = |path: &str, body: &str| {
        send(
            w.req(Method::POST, path, &w.owner)
                .header("Content-Type", "application/json")
                .body(body.to_owned()),
        )
    };
    for body in [
        "{",
        "{\"id\": }",
        "nul",
        "{\"a\": 1,}",
        "\u{0}",
        "{'id': 'x'}",
    ] {
        let res = raw("/v1/apps", body).await;
        assert_eq!(res.status, 400, "{body:?}: {}", res.text);
        let detail = res.json()["detail"].as_str().expect("detail").to_owned();
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
    }
    let invalid_utf8 = send(
        w.req(Method::POST, "/v1/apps", &w.owner)
            .header("Content-Type", "application/json")
            .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
    )
    .await;
    assert_eq!(invalid_utf8.status, 400, "{}", invalid_utf8.text);
    let deep = "[".repeat(10_000);
    let res = raw("/v1/apps", &deep).await;
    assert_eq!(res.status, 400, "{}", res.text);
    let deep_object = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
    let res = raw("/v1/apps/demo/config", &deep_object).await;
    assert_eq!(res.status, 400, "{}", res.text);

    let paths = [
        "/v1/apps",
        "/v1/apps/demo/config",
        "/v1/apps/demo/builds",
        "/v1/apps/demo/releases/rollback",
        "/v1/apps/demo/domains",
        "/v1/apps/demo/run",
        "/v1/apps/demo/perms",
        "/v1/keys",
        "/v1/auth/passwd",
        "/v1/admin/perms",
    ];
    for path in paths {
        for body in ["[]", "[1, 2]", "\"text\"", "42", "true", "null"] {
            let token = if path.starts_with("/v1/admin") {
                &w.admin
            } else {
                &w.owner
            };
            let res = send(
                w.req(Method::POST, path, token)
                    .header("Content-Type", "application/json")
                    .body(body.to_owned()),
            )
            .await;
            assert_eq!(res.status, 400, "{path} {body}: {}", res.text);
            assert!(
                res.json()["detail"].is_string(),
                "{path} {body}: {}",
                res.text
            );
        }
    }
    // An empty body or a missing content type is an empty object.
    let res = send(
        w.req(Method::POST, "/v1/apps", &w.owner)
            .header("Content-Type", "application/json"),
    )
    .await;
    assert!(res.expect(201)["id"].is_string());
    let res = send(
        w.req(Method::POST, "/v1/apps", &w.owner)
            .body("{\"id\": \"ignored\"}"),
    )
    .await;
    assert_ne!(res.expect(201)["id"], "ignored");
}

#[tokio::test]
async fn authentication_comes_before_the_body() {
    let w = world().await;
    let gone = w.app.user("gone").await;
    send(w.req(Method::DELETE, "/v1/auth/cancel", &gone))
        .await
        .empty(204);
    for (ct, body) in [
        ("application/json", "{not json"),
        ("text/plain", "x"),
        ("application/json", "[]"),
    ] {
        for token in [gone.as_str(), "garbage"] {
            let res = send(
                w.req(Method::POST, "/v1/apps", token)
                    .header("Content-Type", ct)
                    .body(body),
            )
            .await;
            res.is(401, json!({"detail": "Invalid token"}));
        }
        let res = send(
            w.anon(Method::POST, "/v1/apps/demo/config")
                .header("Content-Type", ct)
                .body(body),
        )
        .await;
        res.is(401, unauthenticated());
    }
}

#[tokio::test]
async fn odd_inputs_never_crash_the_server() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let odd = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.0e300),
        json!(""),
        json!("ü🚀\u{0}"),
        json!("x".repeat(10_000)),
        json!([]),
        json!([null]),
        json!({}),
        json!({"nested": {"deep": [1, {"x": null}]}}),
    ];
    let posts: Vec<(&str, Vec<&str>)> = vec![
        ("/v1/apps", vec!["id", "structure"]),
        (
            "/v1/apps/demo/config",
            vec!["values", "memory", "cpu", "tags"],
        ),
        (
            "/v1/apps/demo/builds",
            vec!["image", "sha", "procfile", "dockerfile"],
        ),
        ("/v1/apps/demo/releases/rollback", vec!["version"]),
        ("/v1/apps/demo/domains", vec!["domain"]),
        ("/v1/apps/demo/scale", vec!["web", "worker", "cmd"]),
        ("/v1/apps/demo/run", vec!["command"]),
        ("/v1/apps/demo/perms", vec!["username"]),
        ("/v1/keys", vec!["id", "public"]),
        ("/v1/auth/passwd", vec!["password", "new_password"]),
        ("/v1/admin/perms", vec!["username"]),
    ];
    for (path, fields) in &posts {
        for name in fields {
            for value in &odd {
                let token = if path.starts_with("/v1/admin") {
                    &w.admin
                } else {
                    &w.owner
                };
                let res = w.post(path, token, json!({ *name: value })).await;
                assert!(
                    res.status < 500,
                    "{path} {name}={value}: {} {}",
                    res.status,
                    res.text
                );
                let body = res.json();
                assert!(
                    res.status < 300 || body.is_object() || body.is_string() || body.is_null(),
                    "{path}: error shape {body}"
                );
            }
        }
    }
    for (path, fields) in [
        (
            "/v1/auth/register",
            vec!["username", "password", "email", "first_name", "last_name"],
        ),
        ("/v1/auth/login/", vec!["username", "password"]),
    ] {
        for name in fields {
            for value in &odd {
                let res = send(
                    w.app
                        .http
                        .post(w.app.url(path))
                        .json(&json!({ name: value, "password": "pw", "username": "oddity" })),
                )
                .await;
                assert!(res.status < 500, "{path} {name}={value}: {}", res.text);
            }
        }
    }
    let hook_fields = [
        "receive_user",
        "receive_repo",
        "image",
        "sha",
        "procfile",
        "dockerfile",
        "fingerprint",
        "ssh_connection",
        "ssh_original_command",
    ];
    for path in ["/v1/hooks/push", "/v1/hooks/build", "/v1/hooks/config"] {
        for name in hook_fields {
            for value in &odd {
                let mut body =
                    json!({"receive_user": "owner", "receive_repo": "demo", "image": "img"});
                body[name] = value.clone();
                let res = w.hook(path, body).await;
                assert!(res.status < 500, "{path} {name}={value}: {}", res.text);
            }
        }
    }
    // Odd paths and queries.
    for path in [
        "/v1/apps/%00",
        "/v1/apps/%F0%9F%9A%80",
        "/v1/apps/demo/releases/v%00",
        "/v1/apps/demo/containers/%FF/1",
        "/v1/keys/%00",
        "/v1/keys/a/b/c",
        "/v1/apps?page=%00",
        "/v1/apps?page=1&page=2",
        "/v1/apps?page[]=1",
        &format!("/v1/apps/{}", "a".repeat(5000)),
    ] {
        let res = w.get(path, &w.owner).await;
        assert!(res.status < 500, "{path}: {} {}", res.status, res.text);
    }
    // The server is still healthy.
    w.get("/v1/apps/demo", &w.owner).await.expect(200);
    assert_eq!(w.ps("demo").await.len(), w.engine().len());
}

// ---- pagination -------------------------------------------------------------------------

#[tokio::test]
async fn lists_are_paginated_by_100_with_absolute_links() {
    // More apps than the default per-user quota allows.
    let w = world_with(PlatformSettings {
        quotas: Quotas {
            apps_per_user: 200,
            ..Quotas::default()
        },
        ..PlatformSettings::default()
    })
    .await;
    for i in 0..104 {
        w.create_app(&w.owner, &format!("app-{i:03}")).await;
    }
    let base = w.app.base.clone();
    let first = w.get("/v1/apps", &w.owner).await.expect(200);
    assert_eq!(first["count"], 105);
    assert_eq!(first["results"].as_array().expect("results").len(), 100);
    assert_eq!(first["next"], json!(format!("{base}/v1/apps?page=2")));
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(first["results"][0]["id"], "demo");
    assert_eq!(first["results"][99]["id"], "app-098");

    let second = w.get("/v1/apps?page=2", &w.owner).await.expect(200);
    assert_eq!(second["count"], 105);
    assert_eq!(
        pluck(second["results"].as_array().expect("results"), "id"),
        (99..104)
            .map(|i| json!(format!("app-{i:03}")))
            .collect::<Vec<_>>()
    );
    assert_eq!(second["next"], Value::Null);
    assert_eq!(second["previous"], json!(format!("{base}/v1/apps?page=1")));
    assert_eq!(
        w.get("/v1/apps?page=last", &w.owner).await.expect(200),
        second
    );
    assert_eq!(w.get("/v1/apps/?page=1", &w.owner).await.expect(200), first);

    for page in [
        "3",
        "0",
        "-1",
        "abc",
        "",
        "1.5",
        "last2",
        "99999999999999999999999",
        "18446744073709551615",
    ] {
        w.get(&format!("/v1/apps?page={page}"), &w.owner)
            .await
            .is(404, not_found());
    }
    // Other query parameters are kept; the scheme follows X-Forwarded-Proto.
    let res = send(
        w.req(Method::GET, "/v1/apps?page=2&x=y", &w.owner)
            .header("X-Forwarded-Proto", "https"),
    )
    .await
    .expect(200);
    let previous = res["previous"].as_str().expect("previous");
    assert!(previous.starts_with("https://"), "{previous}");
    assert!(previous.ends_with("/v1/apps?x=y&page=1"), "{previous}");

    // Page 1 and page=last of an empty list are valid.
    let empty = json!({"count": 0, "next": null, "previous": null, "results": []});
    w.get("/v1/keys", &w.owner).await.is(200, empty.clone());
    w.get("/v1/keys?page=last", &w.owner)
        .await
        .is(200, empty.clone());
    w.get("/v1/keys?page=2", &w.owner)
        .await
        .is(404, not_found());
    for path in [
        "/v1/apps/demo/builds",
        "/v1/apps/demo/containers",
        "/v1/apps/demo/containers/web",
        "/v1/apps/demo/domains",
        "/v1/admin/perms",
        "/v1/apps/demo/releases",
    ] {
        let token = if path.starts_with("/v1/admin") {
            &w.admin
        } else {
            &w.owner
        };
        w.get(&format!("{path}?page=2"), token)
            .await
            .is(404, not_found());
        w.get(&format!("{path}?page=abc"), token)
            .await
            .is(404, not_found());
        w.get(&format!("{path}?page=last"), token).await.expect(200);
    }
}

#[tokio::test]
async fn releases_paginate_newest_first_across_pages() {
    let w = world().await;
    for i in 0..100 {
        w.set(&w.owner, "demo", json!({ "N": i })).await;
    }
    let first = w.get("/v1/apps/demo/releases", &w.owner).await.expect(200);
    assert_eq!(first["count"], 101);
    assert_eq!(first["results"][0]["version"], 101);
    assert_eq!(first["results"][99]["version"], 2);
    let last = w
        .get("/v1/apps/demo/releases?page=last", &w.owner)
        .await
        .expect(200);
    assert_eq!(
        pluck(last["results"].as_array().expect("results"), "version"),
        vec![json!(1)]
    );
    assert_eq!(
        last["previous"],
        json!(format!("{}/v1/apps/demo/releases?page=1", w.app.base))
    );
}

#[tokio::test]
async fn nul_characters_are_refused_in_bodies_and_paths() {
    let w = world().await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let refused = json!({"detail": "Null characters are not allowed."});
    let cases = [
        ("/v1/apps/demo/config", json!({"values": {"A": "x\u{0}y"}})),
        ("/v1/apps/demo/config", json!({"values": {"A\u{0}": "x"}})),
        ("/v1/apps/demo/run", json!({"command": "ls\u{0}"})),
        (
            "/v1/keys",
            json!({"id": "k\u{0}", "public": public_key("k", "")}),
        ),
        ("/v1/apps/demo/builds", json!({"image": "img\u{0}"})),
        ("/v1/apps/demo/perms", json!({"username": "other\u{0}"})),
        ("/v1/apps", json!({"id": "x", "structure": {"w\u{0}": 1}})),
        ("/v1/apps/demo/domains", json!({"domain": ["a\u{0}.com"]})),
    ];
    for (path, body) in cases {
        w.post(path, &w.owner, body).await.is(400, refused.clone());
    }
    let res = send(
        w.app
            .http
            .post(w.app.url("/v1/auth/register"))
            .form(&[("username", "nul\u{0}"), ("password", "pw")]),
    )
    .await;
    res.is(400, refused);
    for (method, path) in [
        (Method::GET, "/v1/keys/%00"),
        (Method::DELETE, "/v1/keys/a%00b"),
        (Method::DELETE, "/v1/apps/demo/perms/other%00"),
        (Method::DELETE, "/v1/apps/demo/domains/x%00.com"),
        (Method::DELETE, "/v1/admin/perms/%00"),
        (Method::GET, "/v1/apps/demo/containers/web%00"),
        (Method::GET, "/v1/apps/demo%00"),
    ] {
        send(w.req(method, path, &w.owner))
            .await
            .is(404, not_found());
    }
    assert_eq!(w.releases("demo").await.len(), 2);
    assert!(w.app.scheduler.engine().runs.is_empty());
}

#[tokio::test]
async fn only_build_and_config_creation_send_the_release_header() {
    let w = world().await;
    let build = send(
        w.req(Method::POST, "/v1/apps/demo/builds", &w.owner)
            .json(&json!({"image": "img"})),
    )
    .await;
    assert_eq!(build.header("X-Deis-Release").as_deref(), Some("2"));
    let rollback = w
        .post("/v1/apps/demo/releases/rollback", &w.owner, json!({}))
        .await;
    rollback.is(201, json!({"version": 3}));
    assert_eq!(rollback.header("X-Deis-Release"), None);
    for res in [
        w.get("/v1/apps/demo", &w.owner).await,
        w.get("/v1/apps/demo/releases", &w.owner).await,
        w.get("/v1/apps/demo/config", &w.owner).await,
        w.post("/v1/apps", &w.owner, json!({})).await,
        w.hook(
            "/v1/hooks/build",
            json!({"receive_user": "owner", "receive_repo": "demo", "image": "img"}),
        )
        .await,
    ] {
        assert!(res.status < 300, "{}", res.text);
        assert_eq!(res.header("X-Deis-Release"), None, "{}", res.text);
        assert_eq!(
            res.header("Content-Type").as_deref(),
            Some("application/json")
        );
    }
}

#[tokio::test]
async fn malformed_forms_and_multipart_bodies_are_400() {
    let w = world().await;
    let post = |ct: &str, body: Vec<u8>| {
        send(
            w.app
                .http
                .post(w.app.url("/v1/auth/register"))
                .header("Content-Type", ct.to_owned())
                .body(body),
        )
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("multipart/form-data", b"--x\r\n\r\n".to_vec()),
        ("multipart/form-data; boundary=", b"----\r\n".to_vec()),
        (
            "multipart/form-data; boundary=XX",
            b"--XX\r\nno headers end".to_vec(),
        ),
        (
            "multipart/form-data; boundary=XX",
            b"--XX\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XX--".to_vec(),
        ),
        (
            "multipart/form-data; boundary=XX",
            vec![0xff, 0xfe, 0x00, 0x80],
        ),
        (
            "application/x-www-form-urlencoded",
            b"username=%zz&password=%".to_vec(),
        ),
        ("application/x-www-form-urlencoded", vec![0xff, b'=', 0xfe]),
        ("application/x-www-form-urlencoded", b"&&&===".to_vec()),
        (
            "application/json; charset=latin1",
            b"{\"username\": \"\xe9\"}".to_vec(),
        ),
        ("application/json", b"\xef\xbb\xbf{}".to_vec()),
        ("APPLICATION/JSON", b"{\"username\": 1}".to_vec()),
        ("multipart/mixed", b"x".to_vec()),
        (";;;", b"x".to_vec()),
    ];
    for (ct, body) in cases {
        let res = post(ct, body.clone()).await;
        assert!(
            [400, 415].contains(&res.status),
            "{ct} {:?}: {} {}",
            String::from_utf8_lossy(&body),
            res.status,
            res.text
        );
        assert!(res.json().is_object(), "{}", res.text);
    }
    // A well-formed multipart body with a quoted boundary and extra headers is fine.
    let body = "--b-1\r\nContent-Disposition: form-data; name=\"username\"\r\n\
                Content-Type: text/plain\r\n\r\nquoted\r\n--b-1\r\n\
                Content-Disposition: form-data; name=\"password\"\r\n\r\npw\r\n--b-1--\r\n";
    let res = post(
        "multipart/form-data; boundary=\"b-1\"",
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(res.expect(201)["username"], "quoted");
}
