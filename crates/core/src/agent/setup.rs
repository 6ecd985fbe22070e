//! The shop's setup as the agent uses it, read from storage in the caller's transaction:
//! catalog and zones, currency, local city, own reply wordings, quantity limit, whether the
//! bot invoices by itself. The engine, bot tests and the desktop's previews share it.

use crate::storage::Conn;

use super::{Replies, Shop};
use crate::{catalog, Result};

/// What the agent answers a shop's customers with: its catalog and zones, currency, local
/// city, own wording of replies and quantity limit — as stored now.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Products and zones.
    pub catalog: catalog::Catalog,
    /// ISO 4217.
    pub currency: String,
    /// The first zone's first city.
    pub city: String,
    /// The shop's own reply wordings.
    pub replies: Replies,
    /// Above this quantity of one item the bot checks first.
    pub max_qty: i64,
    /// A confirmed order is invoiced by the bot (else handed to a person).
    pub auto_invoice: bool,
}

impl Setup {
    /// Reads the shop's setup inside the caller's transaction.
    pub async fn load_in(conn: &mut Conn, shop_uid: &str) -> Result<Self> {
        let catalog = catalog::load_in(conn, shop_uid).await?;
        let currency = crate::storage::shops::currency_in(conn, shop_uid).await?;
        let city = catalog
            .shipping
            .first()
            .map(|z| z.cities.first().cloned().unwrap_or_else(|| z.zone.clone()))
            .unwrap_or_default();
        let own = crate::storage::settings::own_replies_in(conn, shop_uid).await?;
        let scenario = crate::scenario::load_in(conn, shop_uid).await?;
        Ok(Self {
            catalog,
            currency,
            city,
            replies: own.into_iter().collect(),
            max_qty: scenario
                .max_quantity
                .map_or(super::safety::DEFAULT_MAX_QTY, i64::from),
            auto_invoice: scenario.auto_invoice,
        })
    }

    /// The agent's view of it.
    pub fn shop(&self) -> Shop<'_> {
        Shop {
            city: &self.city,
            currency: &self.currency,
            catalog: &self.catalog,
            replies: Some(&self.replies),
            max_qty: self.max_qty,
        }
    }
}
