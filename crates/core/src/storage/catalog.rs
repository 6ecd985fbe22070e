//! The `products` and `shipping_zones` tables: a shop's catalog, replaced whole.

use sqlx::SqliteConnection;

use crate::catalog::model::{Catalog, Product, Zone};
use crate::Result;

/// Replaces the shop's catalog and zones (in the caller's transaction).
pub async fn replace_in(conn: &mut SqliteConnection, shop: &str, c: &Catalog) -> Result<()> {
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    sqlx::query("DELETE FROM products WHERE shop_uid = ?")
        .bind(shop)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM shipping_zones WHERE shop_uid = ?")
        .bind(shop)
        .execute(&mut *conn)
        .await?;
    for (n, p) in c.catalog.iter().enumerate() {
        sqlx::query(
            "INSERT INTO products (shop_uid, sku, name, aliases, price_minor, variants,
                                   deposit_minor, service, position)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(shop)
        .bind(&p.sku)
        .bind(&p.name)
        .bind(json(&p.aliases))
        .bind(p.price_cents)
        .bind(json(&p.variants))
        .bind(p.deposit_cents)
        .bind(p.service)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
    }
    for (n, z) in c.shipping.iter().enumerate() {
        sqlx::query(
            "INSERT INTO shipping_zones (shop_uid, position, name, price_minor, cities, states,
                                         zip_prefixes, is_default)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(shop)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .bind(&z.zone)
        .bind(z.price_cents)
        .bind(json(&z.cities))
        .bind(json(&z.states))
        .bind(json(&z.zip_prefixes))
        .bind(z.default)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The shop's catalog and zones (inside the caller's transaction).
pub async fn load_in(conn: &mut SqliteConnection, shop: &str) -> Result<Catalog> {
    type ProductRow = (String, String, String, i64, String, Option<i64>, bool);
    let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
    let products: Vec<ProductRow> = sqlx::query_as(
        "SELECT sku, name, aliases, price_minor, variants, deposit_minor, service
         FROM products WHERE shop_uid = ? ORDER BY position",
    )
    .bind(shop)
    .fetch_all(&mut *conn)
    .await?;
    type ZoneRow = (String, i64, String, String, String, bool);
    let zones: Vec<ZoneRow> = sqlx::query_as(
        "SELECT name, price_minor, cities, states, zip_prefixes, is_default
         FROM shipping_zones WHERE shop_uid = ? ORDER BY position",
    )
    .bind(shop)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Catalog {
        catalog: products
            .into_iter()
            .map(
                |(sku, name, aliases, price, variants, deposit, service)| Product {
                    sku,
                    name,
                    aliases: list(&aliases),
                    price_cents: price,
                    variants: list(&variants),
                    deposit_cents: deposit,
                    service,
                },
            )
            .collect(),
        shipping: zones
            .into_iter()
            .map(|(zone, price, cities, states, zips, default)| Zone {
                zone,
                price_cents: price,
                cities: list(&cities),
                states: list(&states),
                zip_prefixes: list(&zips),
                default,
            })
            .collect(),
    })
}
