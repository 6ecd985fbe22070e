//! Relay integration tests: the real server on a real port with a real SQLite file.

mod durability;
mod lifecycle;
mod support;
mod sync;
mod webhooks;
