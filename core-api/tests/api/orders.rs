//! Placing, listing and reading orders: each caller sees only their own.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{json_of, stores, TestApp, User};
use crate::products::{KEY, MUG};

#[tokio::test]
async fn an_order_is_created_located_read_back_and_listed_newest_first() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();

        let response = app
            .post_json(
                &user,
                "/api/orders",
                &json!({"product_id": MUG, "quantity": 3}),
            )
            .await;
        assert_eq!(response.status(), 201, "{store:?}");
        let location = response.headers()["location"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let first = json_of(response).await;
        assert_eq!(
            location,
            format!("/api/orders/{}", first["id"].as_str().expect("an id"))
        );
        assert_eq!(first["product_id"], MUG);
        assert_eq!(first["quantity"], 3);
        assert_eq!(first["total_cents"], 3600);
        assert_eq!(first["status"], "placed");
        assert!(first["created_at"].as_str().expect("a date").ends_with('Z'));
        assert_eq!(first.as_object().expect("an object").len(), 6, "{first}");

        let fetched = app.get(&user, &location).await;
        assert_eq!(fetched.status(), 200, "{store:?}");
        assert_eq!(json_of(fetched).await, first);

        app.clock.advance(Duration::from_secs(1));
        let second = app.place_order(&user, KEY, 1).await;
        app.clock.advance(Duration::from_secs(1));
        let third = app.place_order(&user, MUG, 100).await;
        assert_eq!(third["total_cents"], 120_000);

        let listed = app.get(&user, "/api/orders").await;
        assert_eq!(listed.status(), 200, "{store:?}");
        let orders = json_of(listed).await["orders"].clone();
        assert_eq!(orders, json!([third, second, first]), "{store:?}");
    }
}

#[tokio::test]
async fn another_users_order_is_not_found_exactly_like_a_missing_one() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let (alice, bob) = (User::new(), User::new());
        let order = app.place_order(&alice, MUG, 1).await;
        let path = format!("/api/orders/{}", order["id"].as_str().expect("an id"));

        let theirs = app.get(&bob, &path).await;
        assert_eq!(theirs.status(), 404, "{store:?}");
        let theirs = json_of(theirs).await;
        assert_eq!(theirs["code"], "NOT_FOUND");

        let missing = app
            .get(&bob, &format!("/api/orders/{}", uuid::Uuid::new_v4()))
            .await;
        assert_eq!(missing.status(), 404);
        assert_eq!(json_of(missing).await, theirs);

        let bobs_list = json_of(app.get(&bob, "/api/orders").await).await;
        assert_eq!(bobs_list, json!({"orders": []}), "{store:?}");
    }
}

#[tokio::test]
async fn an_x_user_id_header_does_not_change_whose_orders_are_read() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let (alice, bob) = (User::new(), User::new());
        app.place_order(&alice, MUG, 2).await;
        let token = app.token(&bob, "GET", "/api/orders");
        let response = app
            .http
            .get(app.url("/api/orders"))
            .bearer_auth(token)
            .header("X-User-ID", &alice.id)
            .send()
            .await
            .expect("core-api answers");
        assert_eq!(response.status(), 200);
        assert_eq!(json_of(response).await, json!({"orders": []}), "{store:?}");
    }
}

#[tokio::test]
async fn bad_order_input_is_refused_with_a_4xx_and_a_code() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        let cases = [
            (
                json!({"product_id": MUG, "quantity": 0}),
                422,
                "VALIDATION_ERROR",
            ),
            (
                json!({"product_id": MUG, "quantity": 101}),
                422,
                "VALIDATION_ERROR",
            ),
            (
                json!({"product_id": MUG, "quantity": -5}),
                422,
                "VALIDATION_ERROR",
            ),
            (
                json!({"product_id": MUG, "quantity": 1.5}),
                422,
                "VALIDATION_ERROR",
            ),
            (
                json!({"product_id": MUG, "quantity": 1e30}),
                422,
                "VALIDATION_ERROR",
            ),
            (json!({"product_id": MUG}), 422, "VALIDATION_ERROR"),
            (json!([1, 2]), 422, "VALIDATION_ERROR"),
            (
                json!({"product_id": uuid::Uuid::new_v4(), "quantity": 1}),
                422,
                "UNKNOWN_PRODUCT",
            ),
            (
                json!({"product_id": "mug", "quantity": 1}),
                422,
                "UNKNOWN_PRODUCT",
            ),
        ];
        for (body, status, code) in cases {
            let response = app.post_json(&user, "/api/orders", &body).await;
            assert_eq!(response.status(), status, "{store:?} {body}");
            let error = json_of(response).await;
            assert_eq!(error["code"], code, "{store:?} {body}");
            assert!(error["message"].is_string(), "{error}");
        }
        assert_eq!(
            json_of(app.get(&user, "/api/orders").await).await,
            json!({"orders": []})
        );
    }
}

#[tokio::test]
async fn malformed_bodies_get_400_415_or_413_never_500() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        let post = |content_type: &'static str, body: Vec<u8>| {
            let token = app.token(&user, "POST", "/api/orders");
            app.http
                .post(app.url("/api/orders"))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
        };

        let syntax = post("application/json", b"{\"product_id\": ".to_vec())
            .await
            .expect("answers");
        assert_eq!(syntax.status(), 400, "{store:?}");
        assert_eq!(json_of(syntax).await["code"], "BAD_REQUEST");

        let text = post("text/plain", br#"{"product_id":"x","quantity":1}"#.to_vec())
            .await
            .expect("answers");
        assert_eq!(text.status(), 415);
        assert_eq!(json_of(text).await["code"], "UNSUPPORTED_MEDIA_TYPE");

        let mut huge = br#"{"product_id":""#.to_vec();
        huge.extend(std::iter::repeat_n(b'a', 70 * 1024));
        huge.extend(br#"","quantity":1}"#);
        let too_large = post("application/json", huge).await.expect("answers");
        assert_eq!(too_large.status(), 413);
        assert_eq!(json_of(too_large).await["code"], "PAYLOAD_TOO_LARGE");
    }
}

#[tokio::test]
async fn a_malformed_order_id_is_a_400_with_a_code() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        for path in [
            "/api/orders/not-a-uuid",
            "/api/orders/123",
            "/api/orders/%FF%FE",
        ] {
            let response = app.get(&user, path).await;
            assert_eq!(response.status(), 400, "{store:?} {path}");
            assert_eq!(json_of(response).await["code"], "INVALID_ID", "{path}");
        }
    }
}
