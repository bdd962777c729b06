//! Exercise 08, two computers: primary-backup replication, acknowledged after W copies, with
//! a backup promoted on the failure detector's verdict and every message fenced by its epoch.
//!
//! The shop's carts must outlive the machine that holds them, so each cart lives on three
//! nodes. One of them, the primary, takes every write, sends it to the two backups, and
//! answers the customer once W copies exist. When the primary dies, a backup takes over in a
//! new epoch, and anything the old primary still says, with its old epoch, is refused.
//!
//! The map:
//! - [`ack`]: yours to write: [`ack_after_w`], counting the copies of a write until it may
//!   be acknowledged.
//! - [`view`]: yours to write: [`on_verdict`] (promote on the detector's verdict, with an
//!   epoch bump, the lowest live id only) and [`fence`] (refuse a stale epoch).
//! - [`node`]: given: the node that serves the kit's cart API on the primary (a backup
//!   redirects to it), replicates, promotes, and joins a view when it starts. It uses
//!   exercise 02's failure detector ([`failure_detection_solution::Monitor`]) as it is.
//! - `main.rs`: the node binary; W is `--w`, the detector's T `--tick-time-ms`, after `--`.

pub mod ack;
pub mod node;
pub mod view;

pub use ack::{Reply, Shortfall, ack_after_w};
pub use node::{Config, Role, STALE_EPOCH, StaleEpoch, Status};
pub use view::{Fence, View, fence, on_verdict};
