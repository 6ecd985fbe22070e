//! The `products` and `shipping_zones` tables: a shop's catalog, replaced whole.

use crate::storage::Conn;

use crate::catalog::model::{Catalog, Product, Zone};
use crate::Result;

/// Replaces the shop's catalog and zones (in the caller's transaction).
pub async fn replace_in(conn: &mut Conn, shop: &str, c: &Catalog) -> Result<()> {
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    execute!(&mut *conn, "DELETE FROM products WHERE shop_uid = $1", shop)?;
    execute!(
        &mut *conn,
        "DELETE FROM shipping_zones WHERE shop_uid = $1",
        shop
    )?;
    for (n, p) in c.catalog.iter().enumerate() {
        execute!(
            &mut *conn,
            "INSERT INTO products (shop_uid, sku, name, aliases, price_minor, variants,
                                   deposit_minor, service, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            shop,
            &p.sku,
            &p.name,
            json(&p.aliases),
            p.price_cents,
            json(&p.variants),
            p.deposit_cents,
            p.service,
            i64::try_from(n).unwrap_or(i64::MAX)
        )?;
    }
    for (n, z) in c.shipping.iter().enumerate() {
        execute!(
            &mut *conn,
            "INSERT INTO shipping_zones (shop_uid, position, name, price_minor, cities, states,
                                         zip_prefixes, is_default)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            shop,
            i64::try_from(n).unwrap_or(i64::MAX),
            &z.zone,
            z.price_cents,
            json(&z.cities),
            json(&z.states),
            json(&z.zip_prefixes),
            z.default
        )?;
    }
    Ok(())
}

/// The shop's catalog and zones (inside the caller's transaction).
pub async fn load_in(conn: &mut Conn, shop: &str) -> Result<Catalog> {
    let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
    let products = query_as!(
        fetch_all,
        &mut *conn,
        ProductRow,
        r#"SELECT sku, name, aliases, price_minor, variants, deposit_minor,
                  service AS "service: bool"
           FROM products WHERE shop_uid = $1 ORDER BY position"#,
        shop
    )?;
    let zones = query_as!(
        fetch_all,
        &mut *conn,
        ZoneRow,
        r#"SELECT name, price_minor, cities, states, zip_prefixes, is_default AS "default: bool"
           FROM shipping_zones WHERE shop_uid = $1 ORDER BY position"#,
        shop
    )?;
    Ok(Catalog {
        catalog: products
            .into_iter()
            .map(|p| Product {
                aliases: list(&p.aliases),
                variants: list(&p.variants),
                sku: p.sku,
                name: p.name,
                price_cents: p.price_minor,
                deposit_cents: p.deposit_minor,
                service: p.service,
            })
            .collect(),
        shipping: zones
            .into_iter()
            .map(|z| Zone {
                cities: list(&z.cities),
                states: list(&z.states),
                zip_prefixes: list(&z.zip_prefixes),
                zone: z.name,
                price_cents: z.price_minor,
                default: z.default,
            })
            .collect(),
    })
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    sku: String,
    name: String,
    aliases: String,
    price_minor: i64,
    variants: String,
    deposit_minor: Option<i64>,
    service: bool,
}

#[derive(sqlx::FromRow)]
struct ZoneRow {
    name: String,
    price_minor: i64,
    cities: String,
    states: String,
    zip_prefixes: String,
    default: bool,
}
