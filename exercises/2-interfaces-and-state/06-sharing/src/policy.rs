//! The replication policy: which data classes a node copies to its peers. Part of it is yours.
//!
//! The book (*Designing for Scalability with Erlang/OTP*, chapter 13) names three ways for
//! the nodes of a cluster to hold state:
//!
//! | policy       | sessions          | carts             | a node dies, and ...                   |
//! |--------------|-------------------|-------------------|----------------------------------------|
//! | `nothing`    | on their node     | on their node     | its customers are logged out, carts gone |
//! | `something`  | copied to peers   | on their node     | its customers stay logged in, carts gone |
//! | `everything` | copied to peers   | copied to peers   | nothing is lost; every write costs a copy |
//!
//! Why sessions are the "something": a session is written once, at login, and read on every
//! request, so copying it costs one round trip per customer, while losing it logs every
//! customer of the dead node out at once. A cart is written on every click: copying it costs
//! a round trip per add, paid by the customer each time. Which loss is worth which cost is a
//! business decision per data class, and the policy is where it is written down.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::fmt;

/// How much a node shares with its peers, chosen by the node's `--share` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Every node keeps its own sessions and carts; a load balancer sends each customer back
    /// to the same node (sticky sessions).
    Nothing,
    /// Sessions are copied to every peer; carts stay on the node that took them.
    Something,
    /// Sessions and carts are copied to every peer.
    Everything,
}

/// The kinds of state a logic node holds. Each is copied, or not, as a whole class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataClass {
    /// Who is logged in: written at login, read on every request.
    Sessions,
    /// What is in each cart: written on every add.
    Carts,
}

impl Policy {
    /// Does this policy copy `class` to the peers? The node asks before every write (copy it
    /// or not) and every read (gather the peers' copies or not).
    pub fn shares(self, class: DataClass) -> bool {
        // Share nothing copies neither, share everything both, share something only the
        // sessions.
        todo!("Say which classes each policy copies to the peers (see the table above).")
    }
}

impl DataClass {
    /// The class's name in the internal copy routes: `/internal/copies/<name>/{key}`.
    pub fn name(self) -> &'static str {
        match self {
            DataClass::Sessions => "sessions",
            DataClass::Carts => "carts",
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
