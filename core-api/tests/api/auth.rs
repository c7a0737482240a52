//! The only way into /api is a token verified for this very request.

use serde_json::json;

use crate::helpers::{json_of, stores, TestApp, User, AUDIENCE};

#[tokio::test]
async fn no_authorization_is_refused_with_a_bare_bearer_challenge() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        for path in ["/api/profile", "/api/products", "/api/orders"] {
            let response = app.http.get(app.url(path)).send().await.expect("answers");
            assert_eq!(response.status(), 401, "{store:?} {path}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            assert_eq!(json_of(response).await["code"], "UNAUTHORIZED");
        }
        let post = app
            .http
            .post(app.url("/api/orders"))
            .json(&json!({"product_id": crate::products::MUG, "quantity": 1}))
            .send()
            .await
            .expect("answers");
        assert_eq!(post.status(), 401);
    }
}

#[tokio::test]
async fn an_x_user_id_header_with_a_garbage_bearer_is_refused() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let victim = User::new();
        app.place_order(&victim, crate::products::MUG, 1).await;
        for path in ["/api/orders", "/api/profile"] {
            let response = app
                .http
                .get(app.url(path))
                .header("X-User-ID", &victim.id)
                .bearer_auth("internal-api-key")
                .send()
                .await
                .expect("answers");
            assert_eq!(response.status(), 401, "{store:?} {path}");
            assert_eq!(
                response.headers()["www-authenticate"],
                r#"Bearer error="invalid_token""#
            );
            assert_eq!(json_of(response).await["code"], "INVALID_TOKEN");
        }
        let header_only = app
            .http
            .get(app.url("/api/orders"))
            .header("X-User-ID", &victim.id)
            .send()
            .await;
        assert_eq!(header_only.expect("answers").status(), 401);
    }
}

#[tokio::test]
async fn a_token_minted_for_another_request_is_refused() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        let for_products = app.token(&user, "GET", "/api/products");
        let other_path = app
            .http
            .get(app.url("/api/orders"))
            .bearer_auth(&for_products)
            .send()
            .await;
        let other_path = other_path.expect("answers");
        assert_eq!(other_path.status(), 401, "{store:?}");
        assert_eq!(json_of(other_path).await["code"], "INVALID_TOKEN");

        let for_listing = app.token(&user, "GET", "/api/orders");
        let other_method = app
            .http
            .post(app.url("/api/orders"))
            .bearer_auth(&for_listing)
            .json(&json!({"product_id": crate::products::MUG, "quantity": 1}))
            .send()
            .await
            .expect("answers");
        assert_eq!(other_method.status(), 401, "{store:?}");
        assert_eq!(
            json_of(app.get(&user, "/api/orders").await).await,
            json!({"orders": []})
        );
    }
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_or_key_is_refused() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        let mut other_audience = app.claims(&user, "GET", "/api/profile");
        other_audience["aud"] = json!("billing-api");
        let mut other_issuer = app.claims(&user, "GET", "/api/profile");
        other_issuer["iss"] = json!("http://evil.test");
        let mut expired = app.claims(&user, "GET", "/api/profile");
        expired["exp"] = json!(expired["iat"].as_i64().expect("iat") - 30);
        let stranger = TestApp::spawn(&store).await; // signs with a key this app does not know
        let tokens = [
            app.sign(&other_audience),
            app.sign(&other_issuer),
            app.sign(&expired),
            stranger.token(&user, "GET", "/api/profile"),
        ];
        for token in tokens {
            let response = app
                .http
                .get(app.url("/api/profile"))
                .bearer_auth(token)
                .send()
                .await;
            let response = response.expect("answers");
            assert_eq!(response.status(), 401, "{store:?}");
            assert_eq!(json_of(response).await["code"], "INVALID_TOKEN");
        }
        let mut many = app.claims(&user, "GET", "/api/profile");
        many["aud"] = json!(["billing-api", AUDIENCE]);
        let accepted = app
            .http
            .get(app.url("/api/profile"))
            .bearer_auth(app.sign(&many))
            .send()
            .await;
        assert_eq!(
            accepted.expect("answers").status(),
            200,
            "an audience list naming core-api is fine"
        );
    }
}

#[tokio::test]
async fn an_unknown_api_route_is_404_with_a_token_and_401_without() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        for path in ["/api/nope", "/api/orders/1/items", "/api", "/api/"] {
            let with_token = app.get(&user, path).await;
            assert_eq!(with_token.status(), 404, "{store:?} {path}");
            assert_eq!(json_of(with_token).await["code"], "NOT_FOUND");

            let without = app.http.get(app.url(path)).send().await.expect("answers");
            assert_eq!(without.status(), 401, "{store:?} {path}");
        }
        let delete_token = app.token(&user, "DELETE", "/api/products");
        let wrong_method = app
            .http
            .delete(app.url("/api/products"))
            .bearer_auth(delete_token)
            .send()
            .await;
        let wrong_method = wrong_method.expect("answers");
        assert_eq!(wrong_method.status(), 405);
        assert_eq!(json_of(wrong_method).await["code"], "METHOD_NOT_ALLOWED");
        let unauthenticated = app
            .http
            .delete(app.url("/api/products"))
            .send()
            .await
            .expect("answers");
        assert_eq!(unauthenticated.status(), 401);
    }
}

#[tokio::test]
async fn any_other_unknown_path_is_404() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        for path in ["/", "/nope", "/apix", "/healthz/x"] {
            let response = app.http.get(app.url(path)).send().await.expect("answers");
            assert_eq!(response.status(), 404, "{store:?} {path}");
            assert_eq!(json_of(response).await["code"], "NOT_FOUND");
        }
    }
}
