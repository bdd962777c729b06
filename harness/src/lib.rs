//! The harness (placeholder while it is built).

pub mod proxy;
pub use proxy::{Proxy, ProxyStats};
