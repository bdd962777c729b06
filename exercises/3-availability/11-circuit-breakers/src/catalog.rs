//! The catalog service, given: the dependency that keeps working while the payment service
//! hangs.
//!
//! ```text
//! GET /catalog/{item}   200 {"item", "name", "price_cents"}    400 on an invalid item id
//! ```
//!
//! Every valid item id exists, with a name and a price made up from the id. (A real catalog
//! reads a database; this one answers at once, so any latency a product page shows is the
//! front-end's own.)

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use node_kit::cart::validate;
use node_kit::{ApiError, Json, Routes};
use serde::{Deserialize, Serialize};

/// One product, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub item: String,
    pub name: String,
    pub price_cents: u64,
}

/// `routes` with the catalog's added.
pub fn add_to(routes: Routes) -> Routes {
    routes.public(Router::new().route("/catalog/{item}", get(product)))
}

async fn product(Path(item): Path<String>) -> Result<Json<Product>, ApiError> {
    validate("item", &item)?;
    let price_cents = 100 + item.bytes().map(u64::from).sum::<u64>() * 7 % 9_900;
    Ok(Json(Product {
        name: format!("Product {item}"),
        item,
        price_cents,
    }))
}
