//! The catalog seeded by migration.

use crate::helpers::{json_of, stores, TestApp, User};

pub const MUG: &str = "0b7e5b52-3a4c-4f5e-9d6a-1f2e3d4c5b60";
pub const KEY: &str = "5d1c2b3a-6e7f-4a8b-9c0d-2e3f4a5b6c70";

#[tokio::test]
async fn products_are_listed_from_the_seeded_catalog() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let response = app.get(&User::new(), "/api/products").await;
        assert_eq!(response.status(), 200, "{store:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let products = json_of(response).await["products"]
            .as_array()
            .cloned()
            .expect("a list");
        assert_eq!(products.len(), 4, "{store:?}");
        let mug = products
            .iter()
            .find(|p| p["id"] == MUG)
            .expect("the mug is seeded");
        assert_eq!(
            *mug,
            serde_json::json!({"id": MUG, "name": "Gatehouse mug", "price_cents": 1200, "currency": "EUR"})
        );
        for product in &products {
            let keys: Vec<_> = product
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
            assert_eq!(keys.len(), 4, "{product}");
        }
    }
}
