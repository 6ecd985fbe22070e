//! The shop's catalog (products with sku, aliases, price, variants, a deposit for services)
//! and shipping zones (matched by city, state or ZIP prefix, with a default). The JSON form is
//! the one of `shared/fixtures/agent-samples.json` (`catalog` and `shipping`).
//!
//! Invariants: skus are unique and non-empty, prices are integer minor units, at most one
//! zone is the default; a catalog that breaks them is refused whole.

pub mod csv_form;
pub mod model;

pub use model::{Catalog, Product, Zone};

use std::collections::HashSet;

use crate::storage::Conn;

use crate::{Db, Error, Result};

impl Catalog {
    /// Reads and checks a catalog in its JSON form.
    pub fn parse(json: &serde_json::Value) -> Result<Self> {
        let c: Catalog = serde_json::from_value(json.clone())
            .map_err(|e| Error::InvalidInput(format!("the catalog: {e}")))?;
        c.check()?;
        Ok(c)
    }

    /// Checks the invariants.
    pub fn check(&self) -> Result<()> {
        let mut skus = HashSet::new();
        for p in &self.catalog {
            if p.sku.trim().is_empty() || p.name.trim().is_empty() {
                return Err(Error::InvalidInput(
                    "every product needs a sku and a name".into(),
                ));
            }
            if !skus.insert(p.sku.as_str()) {
                return Err(Error::InvalidInput(format!("sku {} appears twice", p.sku)));
            }
            if p.price_cents < 0 || p.deposit_cents.is_some_and(|d| d < 0) {
                return Err(Error::InvalidInput(format!(
                    "{} has a negative price",
                    p.sku
                )));
            }
        }
        for z in &self.shipping {
            if z.zone.trim().is_empty() || z.price_cents < 0 {
                return Err(Error::InvalidInput(
                    "every shipping zone needs a name and a price of 0 or more".into(),
                ));
            }
        }
        if self.shipping.iter().filter(|z| z.default).count() > 1 {
            return Err(Error::InvalidInput(
                "only one shipping zone can be the default".into(),
            ));
        }
        Ok(())
    }
}

impl Catalog {
    /// The line items of `(sku, variant, qty)` picks, with names and prices from the
    /// catalog. An unknown sku, a missing or unknown variant, or a quantity under 1 is
    /// refused with what to fix.
    pub fn line_items(
        &self,
        picks: &[(String, Option<String>, i64)],
    ) -> Result<Vec<crate::storage::invoices::LineItem>> {
        picks
            .iter()
            .map(|(sku, variant, qty)| {
                let p =
                    self.catalog.iter().find(|p| &p.sku == sku).ok_or_else(|| {
                        Error::InvalidInput(format!("{sku} is not in the catalog"))
                    })?;
                let variant = match (p.variants.is_empty(), variant) {
                    (true, _) => None,
                    (false, Some(v)) if p.variants.contains(v) => Some(v.clone()),
                    (false, Some(v)) => {
                        return Err(Error::InvalidInput(format!(
                            "{} comes in {}, not {v}",
                            p.name,
                            p.variants.join(", ")
                        )))
                    }
                    (false, None) => {
                        return Err(Error::InvalidInput(format!(
                            "choose which {} ({})",
                            p.name,
                            p.variants.join(", ")
                        )))
                    }
                };
                if *qty < 1 {
                    return Err(Error::InvalidInput(format!(
                        "the quantity of {} is at least 1",
                        p.name
                    )));
                }
                Ok(crate::storage::invoices::LineItem {
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    variant,
                    qty: *qty,
                    unit_minor: p.price_cents,
                })
            })
            .collect()
    }
}

/// Replaces the shop's catalog and zones (in the caller's transaction).
pub async fn replace_in(conn: &mut Conn, shop: &str, c: &Catalog) -> Result<()> {
    crate::storage::catalog::replace_in(conn, shop, c).await
}

/// The shop's catalog and zones.
pub async fn load(db: &Db, shop: &str) -> Result<Catalog> {
    let mut conn = db.acquire().await?;
    load_in(&mut conn, shop).await
}

/// [`load`] inside the caller's transaction.
pub async fn load_in(conn: &mut Conn, shop: &str) -> Result<Catalog> {
    crate::storage::catalog::load_in(conn, shop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixture_format_and_refuses_broken_catalogs() {
        // A copy of shared/fixtures/agent-samples.json kept in the repository.
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../tests/fixtures/agent-samples.json"
        ))
        .unwrap();
        let c = Catalog::parse(&serde_json::json!({
            "catalog": fixture["catalog"], "shipping": fixture["shipping"]
        }))
        .unwrap();
        assert_eq!(c.catalog[0].sku, "SRM-VITC");
        assert_eq!(c.catalog[0].variants, ["30ml", "50ml"]);
        let facial = c.catalog.iter().find(|p| p.service).unwrap();
        assert_eq!(facial.deposit_cents, Some(3000));
        assert_eq!(c.shipping[0].zip_prefixes, ["802"]);
        assert!(c.shipping[2].default);

        let dup = serde_json::json!({"catalog": [
            {"sku": "A", "name": "x", "price_cents": 1}, {"sku": "A", "name": "y", "price_cents": 2}]});
        assert!(Catalog::parse(&dup)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let float = serde_json::json!({"catalog": [{"sku": "A", "name": "x", "price_cents": 1.5}]});
        assert!(
            Catalog::parse(&float).is_err(),
            "prices are integer minor units"
        );
    }
}
