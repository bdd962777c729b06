//! The payment service node of exercise 04: `POST /payments/{operation}`, and what it received
//! under `GET /internal/arrivals` (cluster cookie required).

fn main() -> std::process::ExitCode {
    node_kit::run(|ctx| async move { Ok(retries_solution::service::routes(&ctx)) })
}
