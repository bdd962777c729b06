//! The harness (placeholder while it is built).
