//! ZiFlow's core: domain types, the event log and its projections, and the figures computed
//! from them. Both front doors — the relay (axum) and the desktop (Tauri) — call into this
//! crate; it knows neither.
//!
//! # Layout
//! - [`storage::db`]: opening the SQLite database (WAL, foreign keys on) and running
//!   migrations ([`Db`]).
//! - [`storage`]: all SQL, one module per table family.
//! - [`clock`]: time is passed in, never read ad hoc, so tests can move it.
//! - [`metrics`]: the owner's figures, computed from stored facts.
//! - [`crm`], [`notify`]: leads, automation rules and the notifications they send.
//! - [`template`]: customer message templates, checked while they are edited.
//! - [`webhook`]: provider signature checks over raw bodies; only a [`webhook::Verified`]
//!   body can be stored.
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
