//! All SQL lives here, one module per table family. Other modules call these functions and
//! never write SQL themselves, so a second backend (PostgreSQL) is an addition, not a rewrite.
//!
//! Functions take the [`Db`](crate::Db) handle; functions that must be part of a larger
//! transaction take a `&mut SqliteConnection` instead.

pub mod command_results;
pub mod conversations;
pub mod devices;
pub mod engine;
pub mod events;
pub mod invoices;
pub mod payments;
pub mod settings;
pub mod shop_secrets;
pub mod shops;
