//! A logic node refuses what it cannot use with a 4xx and the JSON error shape, and takes
//! nothing from it; its copy routes need the cluster cookie.

mod common;

use common::{Shop, start};
use harness::block_on;
use reqwest::Method;
use serde_json::json;

#[test]
fn the_logic_node_refuses_bad_input_with_a_json_4xx() {
    let cluster = start("everything", "union");
    block_on(async {
        let shop = Shop::new(&cluster);
        let login = shop.login("n1", "s-ada", "ada").await;
        assert_eq!(login.value.user, "ada");
        let n1 = shop.node("n1");

        let refusals = [
            (Method::PUT, "/sessions/s-bob", "{not json", 400),
            (
                Method::PUT,
                "/sessions/s-bob",
                r#"{"user":"bob","admin":true}"#,
                422,
            ),
            (
                Method::PUT,
                "/sessions/s-bob",
                r#"{"user":"bob smith"}"#,
                400,
            ),
            (Method::PUT, "/sessions/s%20bob", r#"{"user":"bob"}"#, 400),
            (Method::GET, "/sessions/nobody", "", 404),
            (
                Method::PUT,
                "/internal/copies/carts/c1",
                r#"{"adds":{"r 1":{"at":{"at_ms":1,"node":"n2"},"item":"x"}}}"#,
                400,
            ),
            (
                Method::PUT,
                "/internal/copies/carts/c1",
                r#"{"adds":{},"extra":1}"#,
                422,
            ),
            (
                Method::PUT,
                "/internal/copies/sessions/s-bob",
                r#"{"user":"bob"}"#,
                422,
            ),
        ];
        for (method, path, body, status) in refusals {
            let answer = n1
                .request(method.clone(), path)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let response = cluster
                .expect_answer(answer, &format!("{method} {path}"))
                .await;
            assert_eq!(
                response.status().as_u16(),
                status,
                "{method} {path} with {body:?}"
            );
            let error: serde_json::Value = response.json().await.unwrap_or_default();
            assert!(
                error["error"].is_string() && error["message"].is_string(),
                "{method} {path}: the answer must be the JSON error shape, got {error}"
            );
        }

        // Without the cookie, no one outside the cluster can plant a copy.
        let forged = reqwest::Client::new()
            .put(n1.url("/internal/copies/sessions/s-ada"))
            .json(&json!({"user": "mallory", "at": {"at_ms": u64::MAX, "node": "n9"}}))
            .send()
            .await
            .expect("n1 answers");
        assert_eq!(forged.status().as_u16(), 403, "a copy without the cookie");

        // Nothing refused was taken.
        assert_eq!(shop.session("n2", "s-bob").await, None);
        assert_eq!(
            shop.session("n1", "s-ada").await.map(|s| s.user).as_deref(),
            Some("ada")
        );
        assert!(shop.own_copy("n1", "c1").await.is_empty());
    });
}
