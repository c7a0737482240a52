//! The whole path: sign up, sign in, and proxied calls that core-api answers for the right user.

use serde_json::{json, Value};

use crate::support::{unique_email, Store, TestStack, PASSWORD};

async fn a_user_signs_up_signs_in_and_uses_the_api(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let alice = stack.browser();
    let email = unique_email("alice");

    let signed_up = alice.sign_up("Alice", &email, PASSWORD).await;
    assert_eq!(signed_up.status(), 200);
    let body: Value = signed_up.json().await.unwrap();
    assert_eq!(body["user"]["email"], email.as_str());
    let first_token = alice
        .session_token()
        .expect("sign-up sets the session cookie");
    assert_ne!(
        body["token"].as_str(),
        Some(first_token.as_str()),
        "the secret never reaches JSON"
    );

    let signed_in = alice.sign_in(&email, PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    let body: Value = signed_in.json().await.unwrap();
    let user_id = body["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["redirect"], false);

    let profile = alice.get("/api/profile").await;
    assert_eq!(profile.status(), 200);
    let profile: Value = profile.json().await.unwrap();
    assert_eq!(profile["user_id"], user_id.as_str());
    assert_eq!(profile["email"], email.as_str());
    assert_eq!(profile["email_verified"], false);

    let session: Value = alice
        .get("/api/auth/get-session")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["id"], user_id.as_str());
    assert_eq!(profile["session_id"], session["session"]["id"]);

    let products: Value = alice.get("/api/products").await.json().await.unwrap();
    let product = &products["products"][0];
    let product_id = product["id"].as_str().unwrap();
    let price = product["price_cents"].as_i64().unwrap();

    let placed = alice
        .post_json(
            "/api/orders",
            json!({"product_id": product_id, "quantity": 3}),
        )
        .await;
    assert_eq!(placed.status(), 201);
    let location = placed.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["total_cents"].as_i64(), Some(price * 3));
    assert_eq!(
        location,
        format!("/api/orders/{}", order["id"].as_str().unwrap())
    );

    let fetched: Value = alice.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, order);
    let second = alice
        .post_json(
            "/api/orders",
            json!({"product_id": product_id, "quantity": 1}),
        )
        .await;
    let second: Value = second.json().await.unwrap();
    let listed: Value = alice.get("/api/orders").await.json().await.unwrap();
    assert_eq!(
        listed["orders"],
        json!([second, order]),
        "the caller's orders, newest first"
    );

    let bob = stack.signed_in("Bob").await;
    assert_eq!(
        bob.get(&location).await.status(),
        404,
        "someone else's order does not exist for Bob"
    );
    let bobs: Value = bob.get("/api/orders").await.json().await.unwrap();
    assert_eq!(bobs["orders"], json!([]));
}

#[tokio::test]
async fn a_user_signs_up_signs_in_and_uses_the_api_on_sqlite() {
    a_user_signs_up_signs_in_and_uses_the_api(Store::Sqlite).await;
}

#[tokio::test]
async fn a_user_signs_up_signs_in_and_uses_the_api_on_postgres() {
    a_user_signs_up_signs_in_and_uses_the_api(Store::Postgres).await;
}

#[tokio::test]
async fn a_call_without_a_session_cookie_is_unauthorized() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let response = stack.browser().get("/api/profile").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let email = unique_email("carol");
    assert_eq!(
        stack
            .browser()
            .sign_up("Carol", &email, PASSWORD)
            .await
            .status(),
        200
    );

    let wrong_password = stack.browser().sign_in(&email, "not the password").await;
    let unknown_email = stack
        .browser()
        .sign_in(&unique_email("nobody"), PASSWORD)
        .await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), wrong_password.status());
    let wrong_password: Value = wrong_password.json().await.unwrap();
    let unknown_email: Value = unknown_email.json().await.unwrap();
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password["code"], "INVALID_EMAIL_OR_PASSWORD");
}
