//! Bounded runs and the streaming extensions: followed logs and the attachable run.

use deis_testkit::platform_settings;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn run_output_is_cut_at_the_limit_and_the_answer_says_so() {
    let w = world_with(deis_domain::PlatformSettings {
        run_output_limit: 8,
        ..platform_settings()
    })
    .await;
    w.deploy(&w.owner, "demo", "img:1").await;
    let body = w
        .post(
            "/v1/apps/demo/run",
            &w.owner,
            json!({"command": "echo a long line"}),
        )
        .await
        .expect(200);
    assert_eq!(
        body,
        json!([
            0,
            "ran echo\n[deis: output cut after 8 bytes (run_output_limit)]\n"
        ])
    );
    let body = w
        .post("/v1/apps/demo/run", &w.owner, json!({"command": "ls"}))
        .await
        .expect(200);
    assert_eq!(
        body,
        json!([0, "ran ls\n"]),
        "output within the limit is whole"
    );
}
