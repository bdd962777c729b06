//! A customer's session: who is logged in. Given.
//!
//! A session has one writer, its customer, who logs in (or in again) now and then: a
//! last-writer-wins register is the right merge for it. The later login is the session.
//! (Compare the cart, where two sides of a partition add to the same cart and last writer
//! wins would drop one side's adds: `crate::cart`.)

use serde::{Deserialize, Serialize};

use crate::cart::Stamp;

/// A session as a replica stores it and copies carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub user: String,
    /// When and where the login was taken: the later login wins a merge.
    pub at: Stamp,
}

impl Session {
    /// Of two copies of one session, the later login.
    pub fn merge(self, other: Session) -> Session {
        if other.at > self.at { other } else { self }
    }
}

/// The body of `PUT /sessions/{id}`: a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub user: String,
}

/// A session as the public API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub session: String,
    pub user: String,
}
