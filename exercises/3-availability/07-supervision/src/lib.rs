//! Exercise 07, let it crash: a node is a supervision tree.
//!
//! The shop's logic node runs four services (sessions, carts, orders, the mailer). When one of
//! them crashes, the node does not try to patch it up where it fell: a supervisor starts it
//! again from a clean state, and the others go on serving. When a child keeps crashing, the
//! supervisor stops trying and escalates: the node exits, and whoever runs the node (the
//! harness here; docker, systemd or Kubernetes in production) sees it go.
//!
//! The map:
//! - [`supervisor`]: yours to write: [`to_restart`] (which children a crash restarts, per
//!   [`Strategy`]), [`RestartLog::allow`] (the intensity within its period) and
//!   [`Supervisor::restart`] (one step of the loop: give up, or stop the set and start it
//!   again). Given: child specs, starting and stopping a child, waiting for the next exit, the
//!   loop, the [`View`], the [`Clock`].
//! - [`worker`]: given. The services: small actors with mailboxes, found by name in a
//!   [`worker::Registry`], that answer calls and crash on demand.
//! - [`node`]: given. The node: its flags, the supervisor over the four services, the routes
//!   that show the generations and break the children, and the escalation to the node.
//! - `main.rs`: the node binary.

pub mod node;
pub mod supervisor;
pub mod worker;

pub use supervisor::{
    ChildSpec, ChildView, Clock, Escalation, Intensity, RestartLog, Strategy, Supervisor,
    SupervisorView, View, WallClock, to_restart,
};
pub use worker::Reply;
