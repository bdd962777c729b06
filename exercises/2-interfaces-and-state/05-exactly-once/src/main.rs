//! The ledger node of exercise 05: `POST /payments/charge`, charged once per request id, and
//! its books under `GET /internal/ledger` (cluster cookie required). Its own flags, after
//! `--`: `--no-dedup` (the control) and `--processor-ms N`.

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags| async move { exactly_once::ledger::routes(&ctx, flags) })
}
