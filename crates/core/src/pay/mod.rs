//! Payment providers: what the engine asks of one (a pay link for an invoice, deactivating
//! it when it expires, a refund) and the two that ship — [`stripe::Stripe`] (Stripe's HTTP
//! API) and [`sandbox::Sandbox`] (a pay page on the relay that emits Stripe-format events).
//!
//! The engine and the job runner talk only to [`PaymentProvider`]; a third provider (a local
//! processor) is one more implementation, chosen in the relay's provider lookup.
//!
//! Invariants: every call carries an idempotency key that is the same on every retry of the
//! same step, so a retry after a timeout or a crash never charges, refunds or creates a link
//! twice; errors say whether retrying can help ([`ProviderError::Retry`]) or not
//! ([`ProviderError::Refused`], with the provider's own words).

pub mod recurrence;
pub mod sandbox;
pub mod steps;
pub mod stripe;
pub mod work;

pub use recurrence::{Recurrence, Unit};

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::storage::invoices::LineItem;

/// A boxed future, so providers can be chosen at run time (`dyn PaymentProvider`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a provider call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying later: a timeout, a connection error, 429 or 5xx.
    #[error("{0} (will retry)")]
    Retry(String),
    /// The provider said no; retrying the same request gets the same answer.
    #[error("{0}")]
    Refused(String),
}

/// One line of a pay link, as the customer sees it at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkLine {
    /// Product name with its variant ("Linen shirt (M)").
    pub name: String,
    /// Quantity.
    pub qty: i64,
    /// Unit price in minor units.
    pub unit_minor: i64,
}

/// What a pay link is for. Built once when the invoice is sent and stored in the job, so
/// every retry sends exactly the same request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    /// The shop's uid (metadata `ziflow_shop`).
    pub shop: String,
    /// The invoice id (metadata `ziflow_invoice`).
    pub invoice_id: i64,
    /// The invoice's number, for the customer.
    pub number: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// The items.
    pub lines: Vec<LinkLine>,
    /// Shipping in minor units (a line of its own when not 0).
    pub shipping_minor: i64,
    /// Unix seconds when the link stops working.
    pub expires_at: i64,
    /// Unix seconds when the request was built.
    pub created_at: i64,
    /// For a subscription.
    pub recurrence: Option<Recurrence>,
    /// The relay's public address (the sandbox's pay page lives there).
    pub public_url: String,
}

impl LinkRequest {
    /// The lines of an invoice's items.
    pub fn lines_of(items: &[LineItem]) -> Vec<LinkLine> {
        items
            .iter()
            .map(|i| LinkLine {
                name: match &i.variant {
                    Some(v) => format!("{} ({v})", i.name),
                    None => i.name.clone(),
                },
                qty: i.qty,
                unit_minor: i.unit_minor,
            })
            .collect()
    }
}

/// The provider a shop's new pay links come from: Stripe once it is connected, else the
/// sandbox where the relay runs one, else none (no link can be made). The one rule the
/// relay's commands and the agent both follow.
pub fn link_provider(stripe_connected: bool, sandbox_on: bool) -> Option<&'static str> {
    if stripe_connected {
        Some("stripe")
    } else if sandbox_on {
        Some("sandbox")
    } else {
        None
    }
}

/// A pay link the provider made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedLink {
    /// The URL the customer opens.
    pub url: String,
    /// The provider's id for it (to deactivate it), or the sandbox page's token.
    pub reference: String,
}

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The shop.
    pub shop: String,
    /// The invoice.
    pub invoice_id: i64,
    /// The provider's payment id (`pi_…`), if the payment event carried one.
    pub payment_ref: Option<String>,
    /// How much.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Refunded before this one (the sandbox reports the new cumulative total).
    pub refunded_before: i64,
    /// The invoice's total.
    pub total_minor: i64,
}

/// A payment provider.
pub trait PaymentProvider: Send + Sync {
    /// `stripe`, `sandbox`, …
    fn name(&self) -> &'static str;

    /// Creates the pay link for an invoice. Called again with the same `key` after a
    /// failure; must then return the link made the first time, never a second one.
    fn create_link<'a>(
        &'a self,
        req: &'a LinkRequest,
        key: &'a str,
    ) -> BoxFuture<'a, Result<CreatedLink, ProviderError>>;

    /// Stops a link from taking payments (it expired).
    fn deactivate_link<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;

    /// Moves a subscription's first charge to `at` exactly (Unix seconds): a payment link
    /// can only give whole trial days counted from checkout.
    fn align_first_charge<'a>(
        &'a self,
        subscription_ref: &'a str,
        at: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;

    /// Refunds (part of) a payment. The invoice's state follows the provider's event.
    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
}

/// The idempotency key of one step of an invoice's outbound work: the same on every retry,
/// different for every shop, invoice and step.
pub fn step_key(shop: &str, invoice_id: i64, step: &str) -> String {
    format!("ziflow-{shop}-inv{invoice_id}-{step}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadences_within_stripe_limits() {
        let now = 1_700_000_000;
        let r = Recurrence::new("day", 14, now + 3 * 86_400, now).unwrap();
        assert_eq!(r.describe(), "every 14 days");
        assert_eq!(r.trial_days(now), 3);
        assert_eq!(
            Recurrence::new("month", 1, now, now).unwrap().describe(),
            "monthly"
        );
        assert_eq!(
            Recurrence::new("month", 1, now, now)
                .unwrap()
                .trial_days(now),
            0
        );
        assert!(
            Recurrence::new("day", 366, now, now).is_err(),
            "over a year"
        );
        assert!(Recurrence::new("week", 0, now, now).is_err());
        assert!(Recurrence::new("fortnight", 1, now, now).is_err());
        assert!(
            Recurrence::new("week", 2, now - 3 * 86_400, now).is_err(),
            "past"
        );
    }

    #[test]
    fn step_keys_differ_by_shop_invoice_and_step() {
        assert_eq!(step_key("s1", 7, "link"), "ziflow-s1-inv7-link");
        assert_ne!(step_key("s1", 7, "link"), step_key("s2", 7, "link"));
        assert_ne!(step_key("s1", 7, "link"), step_key("s1", 7, "expire"));
    }
}
