//! Relay integration tests: the real server on a real port with a real SQLite file.

mod agent;
mod durability;
mod fake_graph;
mod fake_stripe;
mod hardening;
mod lifecycle;
mod notifications;
mod payments;
mod reminders;
mod support;
mod sync;
mod webhooks;
mod whatsapp;
