//! The catalog's data: products, shipping zones and the two together, in the JSON form of
//! `shared/fixtures/agent-samples.json`. Reading and checking it is the catalog module's;
//! storing it is `storage::catalog`'s.

use serde::{Deserialize, Serialize};

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Stock keeping unit, unique in the shop.
    pub sku: String,
    /// Name as customers read it.
    pub name: String,
    /// Other words customers use for it.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Unit price in minor units.
    pub price_cents: i64,
    /// Sizes, colours… (empty: none).
    #[serde(default)]
    pub variants: Vec<String>,
    /// A service's deposit, taken when booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit_cents: Option<i64>,
    /// A service (booked, not shipped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service: bool,
}

/// A shipping zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    /// Its name ("Austin").
    pub zone: String,
    /// Shipping price in minor units.
    pub price_cents: i64,
    /// Cities it covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cities: Vec<String>,
    /// States it covers (two letters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    /// ZIP prefixes it covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zip_prefixes: Vec<String>,
    /// Used when no other zone matches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// Products and shipping zones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Products, in the shop's order.
    #[serde(default)]
    pub catalog: Vec<Product>,
    /// Shipping zones, first match wins.
    #[serde(default)]
    pub shipping: Vec<Zone>,
}
