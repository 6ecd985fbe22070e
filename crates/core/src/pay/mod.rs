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

pub mod sandbox;
pub mod stripe;
pub mod work;

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

/// How often a subscription charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Every N days.
    Day,
    /// Every N weeks.
    Week,
    /// Every N months.
    Month,
}

impl Unit {
    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The stored and Stripe word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// A subscription's cadence and first charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// Days, weeks or months.
    pub unit: Unit,
    /// How many of them between charges.
    pub count: u32,
    /// Unix seconds of the first charge.
    pub first_charge_at: i64,
}

impl Recurrence {
    /// Checks a cadence against what Stripe accepts: at most one year between charges.
    pub fn new(unit: &str, count: u32, first_charge_at: i64, now: i64) -> crate::Result<Self> {
        let unit = Unit::parse(unit).ok_or_else(|| {
            crate::Error::InvalidInput(format!(
                "a subscription charges every N days, weeks or months, not {unit:?}"
            ))
        })?;
        let max = match unit {
            Unit::Day => 365,
            Unit::Week => 52,
            Unit::Month => 12,
        };
        if count == 0 || count > max {
            return Err(crate::Error::InvalidInput(format!(
                "a subscription charges every 1 to {max} {}s",
                unit.as_str()
            )));
        }
        if first_charge_at < now - 86_400 {
            return Err(crate::Error::InvalidInput(
                "the first charge date is in the past".into(),
            ));
        }
        Ok(Self {
            unit,
            count,
            first_charge_at,
        })
    }

    /// Whole days of free trial before the first charge (0: charge at checkout). Stripe's
    /// payment links take days; the job that sees the subscription created moves its trial
    /// end to `first_charge_at` exactly.
    pub fn trial_days(&self, now: i64) -> i64 {
        let secs = self.first_charge_at - now;
        if secs < 12 * 3600 {
            0
        } else {
            (secs + 43_200) / 86_400
        }
    }

    /// "every 14 days", "monthly", "every 2 weeks".
    pub fn describe(&self) -> String {
        match (self.unit, self.count) {
            (Unit::Day, 1) => "daily".into(),
            (Unit::Week, 1) => "weekly".into(),
            (Unit::Month, 1) => "monthly".into(),
            (u, n) => format!("every {n} {}s", u.as_str()),
        }
    }
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
