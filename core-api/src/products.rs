//! The product catalog: seeded by migration, read once at start and served from memory (it is on
//! the benchmark path). It never writes the catalog; orders price themselves from it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use sqlx::AnyPool;

use crate::AppState;

/// One product as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Product {
    /// UUID string.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Price in the currency's minor unit.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// The whole catalog, with its JSON answer rendered once.
#[derive(Clone, Debug)]
pub struct Catalog {
    products: Arc<[Product]>,
    rendered: Bytes,
}

#[derive(Serialize)]
struct ProductList<'a> {
    products: &'a [Product],
}

impl Catalog {
    /// A catalog of these products, in this order.
    pub fn new(products: Vec<Product>) -> Self {
        let rendered = serde_json::to_vec(&ProductList {
            products: &products,
        })
        .expect("a list of strings and integers always serialises");
        Catalog {
            products: products.into(),
            rendered: Bytes::from(rendered),
        }
    }

    /// Reads the catalog from the store.
    pub async fn load(pool: &AnyPool) -> Result<Self, sqlx::Error> {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT id, name, price_cents, currency FROM products ORDER BY name, id",
        )
        .fetch_all(pool)
        .await?;
        let products = rows
            .into_iter()
            .map(|(id, name, price_cents, currency)| Product {
                id,
                name,
                price_cents,
                currency,
            })
            .collect();
        Ok(Catalog::new(products))
    }

    /// The product with this id, if the catalog has it.
    pub fn find(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|product| product.id == id)
    }

    /// All products.
    pub fn products(&self) -> &[Product] {
        &self.products
    }
}

/// `GET /api/products` → `{"products":[…]}`, pre-rendered at start.
pub async fn list_products(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.catalog.rendered.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mug() -> Product {
        Product {
            id: "p1".into(),
            name: "Mug".into(),
            price_cents: 1200,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn renders_the_wire_shape_once() {
        let catalog = Catalog::new(vec![mug()]);
        let json: serde_json::Value = serde_json::from_slice(&catalog.rendered).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"products":[{"id":"p1","name":"Mug","price_cents":1200,"currency":"EUR"}]})
        );
    }

    #[test]
    fn finds_products_by_exact_id_only() {
        let catalog = Catalog::new(vec![mug()]);
        assert_eq!(catalog.find("p1"), Some(&mug()));
        assert_eq!(catalog.find("P1"), None);
        assert_eq!(catalog.find(""), None);
    }
}
