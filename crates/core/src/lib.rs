//! ZiFlow's core: domain types, the event log and its projections, and the figures computed
//! from them. Both front doors — the relay (axum) and the desktop (Tauri) — call into this
//! crate; it knows neither.
//!
//! # Layout
//! The log and what reads it:
//! - [`log`]: the one primitive — record an event, apply it, enqueue the work it calls for.
//! - [`projection`]: how each event changes the tables the screens read (relay and desktop
//!   run the same code).
//! - [`command`]: a device's command against the shop's state, by domain; it records events
//!   through [`log`].
//! - [`task`]: every kind of durable job, typed, for the relay's runner.
//! - [`redact`]: what a rep's device may see of the log.
//!
//! The domains:
//! - [`agent`]: the sales bot (reads a message, decides the answer, EN/ES).
//! - [`catalog`]: products, variants and shipping zones.
//! - [`scenario`]: the payment scenario (auto-invoice, link wording, delivery cut-off).
//! - [`template`]: customer message templates, checked while they are edited.
//! - [`channel`]: the customer channel (WhatsApp sends, the sandbox chat).
//! - [`pay`]: payment providers (Stripe, the sandbox) and the pay job's steps.
//! - [`reminders`]: payment reminders on the shop's schedule.
//! - [`crm`], [`notify`]: leads, automation rules and the notifications they send.
//! - [`metrics`]: the owner's figures and periods, computed from stored facts.
//!
//! Plumbing:
//! - [`storage`]: all SQL, one module per table family, one text per statement for SQLite and
//!   (with the `postgres` feature) PostgreSQL; [`storage::db`] opens either database and runs
//!   its migrations ([`Db`], and [`storage::Conn`] for a caller's transaction);
//!   `storage::push` and `storage::send_slots` are what relays sharing a PostgreSQL database
//!   coordinate through, `storage::copy` moves a SQLite relay there.
//! - [`webhook`]: provider signature checks over raw bodies; only a [`webhook::Verified`]
//!   body can be stored.
//! - [`secrets`]: sealed secrets at rest and bearer tokens.
//! - [`net`]: which outbound addresses ZiFlow may call (no private networks on a hosted
//!   relay).
//! - [`clock`]: time is passed in, never read ad hoc, so tests can move it.
//! - `error`: the one [`Error`] type, mapped to a transport's shape at each front door.
//!
//! # Invariants
//! - Money is `i64` minor units plus an ISO 4217 code ([`Money`]); never a float.
//! - Bad input gets an [`Error::InvalidInput`] and changes nothing (checks run before writes,
//!   writes that belong together share one transaction).
#![deny(missing_docs)]

pub mod agent;
pub mod catalog;
pub mod channel;
pub mod clock;
pub mod command;
pub mod crm;
pub mod log;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod pay;
pub mod projection;
pub mod redact;
pub mod reminders;
pub mod scenario;
pub mod secrets;
pub mod storage;
pub mod task;
pub mod template;
pub mod webhook;

mod error;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use storage::db::Db;
pub use ziflow_protocol::{InvoiceStatus, Money};
