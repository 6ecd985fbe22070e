//! Relay integration tests: the real server on a real port with a real SQLite file.

mod lifecycle;
mod support;
mod sync;
mod webhooks;
