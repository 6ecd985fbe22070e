//! The sandbox provider: pay links open a page on the relay (`/sandbox/pay/{token}`), and
//! what happens there — or a refund — comes back as a Stripe-format event signed with the
//! shop's webhook secret, through the same verification path as Stripe's own. No money
//! moves; nothing outside this machine is called.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{BoxFuture, CreatedLink, LinkRequest, PaymentProvider, ProviderError, RefundRequest};

/// Hands a Stripe-format event (`type`, `data.object`) for a shop to the relay's webhook
/// path, signed. Injected by the relay.
pub type Deliver = Arc<
    dyn Fn(String, &'static str, Value) -> BoxFuture<'static, Result<(), String>> + Send + Sync,
>;

/// The sandbox provider of one relay.
pub struct Sandbox {
    deliver: Deliver,
}

impl Sandbox {
    /// A sandbox whose events go through `deliver`.
    pub fn new(deliver: Deliver) -> Self {
        Self { deliver }
    }
}

/// The `metadata` every sandbox object carries, as on a Stripe link.
pub fn metadata(shop: &str, invoice_id: i64) -> Value {
    json!({ "ziflow_shop": shop, "ziflow_invoice": invoice_id.to_string() })
}

/// The sandbox's payment id of an invoice (stands in for Stripe's `pi_…`).
pub fn payment_ref(invoice_id: i64) -> String {
    format!("pi_sandbox_{invoice_id}")
}

impl PaymentProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    /// The link exists once the job that asked for it commits it: a retry after a failure
    /// makes a fresh token for a link nobody has seen.
    fn create_link<'a>(
        &'a self,
        req: &'a LinkRequest,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<CreatedLink, ProviderError>> {
        Box::pin(async move {
            let token = crate::secrets::new_token("pay")
                .map_err(|e| ProviderError::Retry(format!("no randomness for a link: {e}")))?;
            Ok(CreatedLink {
                url: format!(
                    "{}/sandbox/pay/{token}",
                    req.public_url.trim_end_matches('/')
                ),
                reference: token,
            })
        })
    }

    /// The pay page refuses an expired invoice by itself.
    fn deactivate_link<'a>(
        &'a self,
        _reference: &'a str,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }

    /// The sandbox charges nothing later.
    fn align_first_charge<'a>(
        &'a self,
        _subscription_ref: &'a str,
        _at: i64,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }

    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let object = json!({
                "object": "charge",
                "id": format!("ch_sandbox_{}", req.invoice_id),
                "amount": req.total_minor,
                "amount_refunded": req.refunded_before + req.amount_minor,
                "currency": req.currency.to_ascii_lowercase(),
                "payment_intent": req.payment_ref.clone().unwrap_or_else(|| payment_ref(req.invoice_id)),
                "refunded": req.refunded_before + req.amount_minor >= req.total_minor,
                "metadata": metadata(&req.shop, req.invoice_id),
            });
            (self.deliver)(req.shop.clone(), "charge.refunded", object)
                .await
                .map_err(ProviderError::Retry)
        })
    }
}
