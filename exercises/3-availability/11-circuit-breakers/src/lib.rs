//! Exercise 11, circuit breakers and bulkheads: a dependency that hangs must cost its callers
//! a fast "no", not a timeout each, and must take only its own share of the front-end.
//!
//! The shop's front-end calls two dependencies: the payment service (exercise 04's) for
//! checkout, the catalog for product pages. When the payment service hangs, every checkout
//! waits out its timeout, each one holding a worker the product pages need too. A fuse per
//! dependency stops calling a dependency that keeps failing and answers at once instead,
//! letting one probe through now and then to find out when it is back; a bulkhead per
//! dependency caps the workers it may hold, so the product pages keep theirs.
//!
//! The map:
//! - [`fuse`]: the circuit breaker after Erlang's `fuse`; yours to write: [`Fuse::ask`] and
//!   [`Fuse::melt`]. [`Fuse::heal`], the statistics and a [`ManualClock`] for the tests are
//!   given.
//! - [`bulkhead`]: a fixed number of workers per dependency, refused at once when all are
//!   busy; yours to write: [`Bulkhead::try_acquire`].
//! - [`dependency`]: given. One dependency and how a call to it is guarded: ask the fuse,
//!   take a worker, call within the timeout, melt or heal; the naive control's shared pool.
//! - [`front_end`]: given. The front-end's routes (`POST /checkout`, `GET /products/{item}`)
//!   and `GET`/`PUT /internal/guards`, which shows and switches the guards.
//! - [`catalog`]: given. The catalog service.
//! - `main.rs`: the node binary: front-end, payment service and catalog on every node.

pub mod bulkhead;
pub mod catalog;
pub mod dependency;
pub mod front_end;
pub mod fuse;

pub use bulkhead::{Bulkhead, BulkheadStats, Worker};
pub use dependency::{CallError, CallStats, DependencyReport, Guards};
pub use front_end::{FrontEndFlags, GuardsReport};
pub use fuse::{Ask, Fuse, FuseStats, ManualClock, Policy};
pub use retries_solution::{Clock, WallClock};
