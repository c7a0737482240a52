//! Orders: a caller places, lists and reads only their own. Ownership is part of every query
//! (`WHERE user_id = <token's sub>`), so another user's order answers exactly like a missing one.
//! Prices come from the catalog at the moment of ordering, never from the request.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use uuid::Uuid;

use crate::caller::AuthenticatedUser;
use crate::error::ApiError;
use crate::products::Catalog;
use crate::AppState;

/// The fewest items one order may hold.
pub const MIN_QUANTITY: i64 = 1;
/// The most items one order may hold.
pub const MAX_QUANTITY: i64 = 100;

/// `POST /api/orders` body as sent.
#[derive(Debug, Deserialize)]
pub struct RawOrder {
    product_id: String,
    quantity: i64,
}

/// An order that satisfies every rule, priced from the catalog.
#[derive(Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Canonical (lower-case hyphenated) product id.
    pub product_id: String,
    /// 1–100.
    pub quantity: i64,
    /// price × quantity.
    pub total_cents: i64,
}

impl NewOrder {
    /// Checks the quantity range and the product, and prices the order.
    pub fn parse(raw: RawOrder, catalog: &Catalog) -> Result<NewOrder, ApiError> {
        if !(MIN_QUANTITY..=MAX_QUANTITY).contains(&raw.quantity) {
            return Err(ApiError::Validation(format!(
                "quantity must be between {MIN_QUANTITY} and {MAX_QUANTITY}."
            )));
        }
        let product_id = Uuid::parse_str(&raw.product_id)
            .map(|id| id.hyphenated().to_string())
            .map_err(|_| ApiError::UnknownProduct)?;
        let product = catalog.find(&product_id).ok_or(ApiError::UnknownProduct)?;
        let total_cents = product
            .price_cents
            .checked_mul(raw.quantity)
            .ok_or_else(|| ApiError::Validation("the order total is too large.".into()))?;
        Ok(NewOrder {
            product_id,
            quantity: raw.quantity,
            total_cents,
        })
    }
}

/// An order as stored and as clients see it (times RFC 3339 on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// UUID string.
    pub id: String,
    /// The ordered product.
    pub product_id: String,
    /// How many.
    pub quantity: i64,
    /// Price at ordering × quantity, in the product's minor unit.
    pub total_cents: i64,
    /// `placed`.
    pub status: String,
    /// When it was placed.
    #[serde(serialize_with = "as_rfc3339")]
    pub created_at: i64,
}

fn as_rfc3339<S: serde::Serializer>(millis: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&service_kit::timefmt::rfc3339_millis(*millis))
}

/// `{"orders":[…]}`.
#[derive(Debug, Serialize)]
pub struct OrderList {
    /// The caller's orders, newest first.
    pub orders: Vec<Order>,
}

type OrderRow = (String, String, i64, i64, String, i64);

fn order_from_row((id, product_id, quantity, total_cents, status, created_at): OrderRow) -> Order {
    Order {
        id,
        product_id,
        quantity,
        total_cents,
        status,
        created_at,
    }
}

/// Stores a new order for `user_id`.
pub async fn place(
    pool: &AnyPool,
    user_id: &str,
    order: NewOrder,
    now_ms: i64,
) -> Result<Order, sqlx::Error> {
    let id = Uuid::new_v4().hyphenated().to_string();
    let row: OrderRow = sqlx::query_as(
        "INSERT INTO orders (id, user_id, product_id, quantity, total_cents, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'placed', $6) \
         RETURNING id, product_id, quantity, total_cents, status, created_at",
    )
    .bind(&id)
    .bind(user_id)
    .bind(&order.product_id)
    .bind(order.quantity)
    .bind(order.total_cents)
    .bind(now_ms)
    .fetch_one(pool)
    .await?;
    Ok(order_from_row(row))
}

/// `user_id`'s orders, newest first.
pub async fn list_for(pool: &AnyPool, user_id: &str) -> Result<Vec<Order>, sqlx::Error> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, product_id, quantity, total_cents, status, created_at FROM orders \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(order_from_row).collect())
}

/// The order `id` if it belongs to `user_id`; `None` whether it is someone else's or missing.
pub async fn find_for(
    pool: &AnyPool,
    user_id: &str,
    id: &str,
) -> Result<Option<Order>, sqlx::Error> {
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT id, product_id, quantity, total_cents, status, created_at FROM orders \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(order_from_row))
}

/// `POST /api/orders` → `201` with the order and its `Location`.
pub async fn create_order(
    State(state): State<AppState>,
    caller: AuthenticatedUser,
    body: Result<Json<RawOrder>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(raw) = body?;
    let new_order = NewOrder::parse(raw, &state.catalog)?;
    let order = place(
        &state.db.pool,
        caller.user_id(),
        new_order,
        state.clock.now_millis(),
    )
    .await?;
    let location = format!("/api/orders/{}", order.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(order),
    )
        .into_response())
}

/// `GET /api/orders` → the caller's orders, newest first.
pub async fn list_orders(
    State(state): State<AppState>,
    caller: AuthenticatedUser,
) -> Result<Json<OrderList>, ApiError> {
    let orders = list_for(&state.db.pool, caller.user_id()).await?;
    Ok(Json(OrderList { orders }))
}

/// `GET /api/orders/{id}` → the order, or `404` unless it is the caller's.
pub async fn show_order(
    State(state): State<AppState>,
    caller: AuthenticatedUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Order>, ApiError> {
    let Path(id) = id?;
    let id = parse_order_id(&id)?;
    find_for(&state.db.pool, caller.user_id(), &id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// An order id as stored (lower-case hyphenated UUID); anything else is a malformed id.
pub fn parse_order_id(text: &str) -> Result<String, ApiError> {
    Uuid::parse_str(text)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::InvalidId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::Product;

    const MUG: &str = "0b7e5b52-3a4c-4f5e-9d6a-1f2e3d4c5b60";

    fn catalog() -> Catalog {
        Catalog::new(vec![Product {
            id: MUG.into(),
            name: "Mug".into(),
            price_cents: 1200,
            currency: "EUR".into(),
        }])
    }

    fn raw(product_id: &str, quantity: i64) -> RawOrder {
        RawOrder {
            product_id: product_id.into(),
            quantity,
        }
    }

    #[test]
    fn prices_an_order_from_the_catalog() {
        let order = NewOrder::parse(raw(MUG, 3), &catalog()).unwrap();
        assert_eq!(
            order,
            NewOrder {
                product_id: MUG.into(),
                quantity: 3,
                total_cents: 3600
            }
        );
    }

    #[test]
    fn quantity_must_be_between_1_and_100() {
        for quantity in [0, -1, 101, i64::MAX, i64::MIN] {
            let error = NewOrder::parse(raw(MUG, quantity), &catalog()).unwrap_err();
            assert_eq!(error.code(), "VALIDATION_ERROR", "{quantity}");
        }
        for quantity in [1, 100] {
            assert!(
                NewOrder::parse(raw(MUG, quantity), &catalog()).is_ok(),
                "{quantity}"
            );
        }
    }

    #[test]
    fn an_unknown_or_malformed_product_is_unknown() {
        for product in [
            "c4d3e2f1-0a9b-4c8d-a7e6-4b5c6d7e8f91",
            "mug",
            "",
            "' OR 1=1 --",
        ] {
            let error = NewOrder::parse(raw(product, 1), &catalog()).unwrap_err();
            assert_eq!(error.code(), "UNKNOWN_PRODUCT", "{product}");
        }
    }

    #[test]
    fn product_ids_are_matched_in_canonical_form() {
        let order = NewOrder::parse(raw(&MUG.to_uppercase(), 1), &catalog()).unwrap();
        assert_eq!(order.product_id, MUG);
    }

    #[test]
    fn order_ids_must_be_uuids() {
        assert_eq!(parse_order_id(&MUG.to_uppercase()).unwrap(), MUG);
        for bad in [
            "",
            "1",
            "../etc/passwd",
            "0b7e5b52-3a4c-4f5e-9d6a-1f2e3d4c5b6",
        ] {
            assert_eq!(
                parse_order_id(bad).unwrap_err().code(),
                "INVALID_ID",
                "{bad}"
            );
        }
    }
}
