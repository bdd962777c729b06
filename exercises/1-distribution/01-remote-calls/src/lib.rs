//! Exercise 01, remote calls: a call to another node is not a function call.
//!
//! The front-end of the shop calls a logic node ("what is in cart 42?") over one long-lived,
//! framed connection, the way Erlang distribution carries every message between two nodes
//! over one TCP connection. Many calls share that connection at once, replies come back in
//! any order, and the other node can be slow, hung or dead.
//!
//! The map:
//! - this file: the frames on the wire, a call and its reply, each carrying the call's
//!   correlation id;
//! - [`client`]: the caller's side, yours to write: a pending-call table, `call` with a
//!   timeout, routing each reply to its caller, failing every call when the link drops;
//! - [`callee`]: the node's side, given: it answers each call after the delay the call asks
//!   for, so the tests can make replies slow, late and out of order;
//! - `main.rs`: the node binary (the kit does the rest: flags, ready line, the link upgrade).

pub mod callee;
pub mod client;

pub use client::{CallError, Client};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a caller asks. The callee echoes `body` back as the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub body: Value,
    /// How long the callee works before it answers: the tests' way to make a node slow.
    /// A real logic node would take as long as the work takes.
    #[serde(default)]
    pub work_ms: u64,
}

impl Request {
    /// A request the callee answers at once.
    pub fn new(body: Value) -> Request {
        Request { body, work_ms: 0 }
    }

    /// The same request, answered only after `work`.
    pub fn taking(self, work: Duration) -> Request {
        Request {
            work_ms: work.as_millis() as u64,
            ..self
        }
    }
}

/// Caller to callee: one call. `id` is unique on its link, so the reply can name its call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallFrame {
    pub id: u64,
    pub request: Request,
}

/// Callee to caller: the reply to the call with the same `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyFrame {
    pub id: u64,
    pub reply: Value,
}
