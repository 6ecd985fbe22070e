//! The payment jobs: what is enqueued, with the exact request fixed at that moment. The
//! relay's job runner makes the provider call outside any transaction; what its answer
//! records is in [`super::steps`].

use crate::storage::Conn;
use serde::{Deserialize, Serialize};

use super::{step_key, LinkRequest, RefundRequest};
use crate::storage::jobs;
use crate::Result;

/// A job's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// Make the invoice's pay link, then record `invoice.sent`.
    CreateLink {
        /// Which provider.
        provider: String,
        /// The request, fixed when the invoice was sent.
        request: LinkRequest,
    },
    /// The link's 48 hours are up: deactivate it and record `invoice.expired`, unless paid.
    ExpireLink {
        /// Which provider.
        provider: String,
        /// The invoice.
        invoice_id: i64,
        /// The provider's id of the link.
        reference: String,
    },
    /// Move a new subscription's first charge to the date the invoice says.
    AlignFirstCharge {
        /// Which provider.
        provider: String,
        /// The invoice.
        invoice_id: i64,
        /// The provider's subscription id.
        subscription_ref: String,
        /// Unix seconds.
        first_charge_at: i64,
    },
    /// Refund through the provider; the state follows its `charge.refunded` event.
    Refund {
        /// Which provider.
        provider: String,
        /// The refund.
        request: RefundRequest,
    },
}

impl Work {
    /// The job kind stored with it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateLink { .. } => "pay.create_link",
            Self::ExpireLink { .. } => "pay.expire_link",
            Self::AlignFirstCharge { .. } => "pay.align_first_charge",
            Self::Refund { .. } => "pay.refund",
        }
    }

    /// The provider it goes to.
    pub fn provider(&self) -> &str {
        match self {
            Self::CreateLink { provider, .. }
            | Self::ExpireLink { provider, .. }
            | Self::AlignFirstCharge { provider, .. }
            | Self::Refund { provider, .. } => provider,
        }
    }

    /// The invoice it is for.
    pub fn invoice_id(&self) -> i64 {
        match self {
            Self::CreateLink { request, .. } => request.invoice_id,
            Self::ExpireLink { invoice_id, .. } | Self::AlignFirstCharge { invoice_id, .. } => {
                *invoice_id
            }
            Self::Refund { request, .. } => request.invoice_id,
        }
    }
}

/// Enqueues `work` for `shop`, due at `run_at`, under the step key of its invoice. Enqueueing
/// the same step again is a no-op. Returns the job id.
pub async fn enqueue_in(
    conn: &mut Conn,
    shop: &str,
    work: &Work,
    step: &str,
    run_at: i64,
    now: i64,
) -> Result<i64> {
    let key = step_key(shop, work.invoice_id(), step);
    let payload = serde_json::to_value(work)
        .map_err(|e| crate::Error::InvalidInput(format!("job payload: {e}")))?;
    jobs::enqueue_in(conn, shop, work.kind(), &key, &payload, run_at, now).await
}
