//! Relay integration tests: the real server on a real port with a real SQLite file.
//!
//! Layout:
//! - `support`: a provisioned relay on port 0, signing helpers, waiting for the engine to
//!   settle on the injected clock; `fake_stripe`, `fake_graph`: stand-ins for what the real
//!   peers (localstripe, pywa) lack.
//! - `lifecycle`: start, health, shutdown. `hardening`: the public address read as an
//!   attacker would. `durability`: `kill -9` under load loses nothing acknowledged.
//! - `webhooks`: intake and its refusals. `sync`: pull, push, isolation, revocation.
//! - `payments`: pay links, expiry, refunds, subscriptions. `reminders`: the schedule on a
//!   moved clock. `notifications`: automation rules and their channels.
//! - `whatsapp`: the Cloud API channel. `agent`: the sales bot through the relay.

mod agent;
mod cluster;
mod crash;
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
