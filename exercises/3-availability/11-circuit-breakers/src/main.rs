//! The node of exercise 11: the shop's front-end (`POST /checkout`, `GET /products/{item}`,
//! `GET`/`PUT /internal/guards`), exercise 04's payment service (`POST /payments/{operation}`,
//! `GET /internal/arrivals`) and the catalog (`GET /catalog/{item}`), all on one node; a
//! cluster uses n1 as the front-end, n2 as the payment service and n3 as the catalog.

use circuit_breakers::{FrontEndFlags, catalog, front_end};

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags: FrontEndFlags| async move {
        let routes = retries_solution::service::routes(&ctx);
        let routes = catalog::add_to(routes);
        Ok(front_end::add_to(routes, &ctx, flags))
    })
}
