//! The cart node of exercise 03: any node takes any cart request and routes it to the cart's
//! owner on the ring, or to the next node of its preference list when the owner is down.

fn main() -> std::process::ExitCode {
    node_kit::run(|ctx| async move { Ok(consistent_hashing_solution::node::routes(&ctx)) })
}
