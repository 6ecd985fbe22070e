//! One module per screen.

pub mod agent;
pub mod board;
pub mod crm;
pub mod housekeeping;
pub mod inbox;
pub mod invoices;
pub mod metrics;
pub mod notifications;
pub mod payments;
pub mod settings;
