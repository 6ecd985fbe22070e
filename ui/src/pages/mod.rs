//! One module per screen.

pub mod agent;
pub mod board;
pub mod inbox;
pub mod invoices;
pub mod metrics;
pub mod payments;
pub mod settings;
