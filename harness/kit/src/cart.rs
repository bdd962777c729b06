//! The shop's cart API, defined once for every data node (exercise 03 on) so workloads,
//! checkers and demos are written once.
//!
//! | request                        | body                                  | answer                        |
//! |--------------------------------|---------------------------------------|-------------------------------|
//! | `POST /carts/{cart}/items`     | `{"request_id": "...", "item": "..."}` | 200 [`Cart`]: the add is acknowledged |
//! | `GET /carts/{cart}`            |                                       | 200 [`Cart`] (empty if unknown) |
//!
//! A 2xx on an add is an acknowledged write: the node promises the item is in the cart and
//! stays there. Anything else, a timeout included, promises nothing. `request_id` names the
//! add so a retried request can be recognised (exercise 05); `item` is what goes in the cart.
//! Cart ids, request ids and items are 1 to 64 characters of letters, digits, `-`, `_`, `.`
//! and `:`; anything else is a 400 with the JSON error shape.
//!
//! A node plugs its storage in by implementing [`CartService`] and serving [`routes`].

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Json};

/// The path of the add route, in axum's syntax.
pub const ADD_ITEM_PATH: &str = "/carts/{cart}/items";
/// The path of the read route, in axum's syntax.
pub const CART_PATH: &str = "/carts/{cart}";

/// One add: the body of `POST /carts/{cart}/items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    pub request_id: String,
    pub item: String,
}

/// A cart as a node answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub cart: String,
    /// Items in the order the node applied them; a duplicate add shows up twice.
    pub items: Vec<String>,
}

/// A node's cart storage. Futures must be `Send` because axum serves them on any thread.
pub trait CartService: Send + Sync + 'static {
    /// Applies an add; `Ok` means acknowledged (durable as far as this node promises).
    fn add(
        &self,
        cart: String,
        add: AddItem,
    ) -> impl Future<Output = Result<Cart, ApiError>> + Send;
    /// Reads a cart; an unknown cart is empty, not an error.
    fn get(&self, cart: String) -> impl Future<Output = Result<Cart, ApiError>> + Send;
}

/// The cart routes over `service`, with input validated before the service sees it.
pub fn routes<S: CartService>(service: S) -> Router {
    Router::new()
        .route(ADD_ITEM_PATH, post(add::<S>))
        .route(CART_PATH, get(read::<S>))
        .with_state(Arc::new(service))
}

async fn add<S: CartService>(
    State(service): State<Arc<S>>,
    Path(cart): Path<String>,
    Json(add): Json<AddItem>,
) -> Result<Json<Cart>, ApiError> {
    validate("cart id", &cart)?;
    validate("request_id", &add.request_id)?;
    validate("item", &add.item)?;
    service.add(cart, add).await.map(Json)
}

async fn read<S: CartService>(
    State(service): State<Arc<S>>,
    Path(cart): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    validate("cart id", &cart)?;
    service.get(cart).await.map(Json)
}

/// Checks an id or item: 1 to 64 of letters, digits, `-`, `_`, `.`, `:`.
pub fn validate(what: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} {value:?} is invalid: use 1 to 64 letters, digits, '-', '_', '.' or ':'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate("cart id", "42").is_ok());
        assert!(validate("item", "w3:17").is_ok());
        for bad in ["", "a b", "x/y", &"x".repeat(65)] {
            let err = validate("cart id", bad).unwrap_err();
            assert_eq!(err.status.as_u16(), 400);
            assert!(err.message.contains("cart id"), "{err}");
        }
    }

    #[test]
    fn add_rejects_unknown_fields() {
        let err = serde_json::from_str::<AddItem>(r#"{"request_id":"r","item":"i","x":1}"#);
        assert!(err.is_err());
    }
}
