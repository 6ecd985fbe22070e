//! The catalog as CSV, for spreadsheets: a products file and a shipping-zones file, told apart
//! by their header (`sku,…` or `zone,…`). Lists (aliases, variants, cities, states, ZIP
//! prefixes) are separated by `|`; prices are written in the shop's currency ("28" or
//! "28.50", never floats inside). Column order is free; unknown columns are refused so a
//! typo is not silently dropped.
//!
//! Spreadsheet-safe: a text cell that would start with `=`, `+`, `-`, `@`, a tab or a carriage
//! return (a formula to Excel and LibreOffice) is exported with a leading `'`, which the
//! import takes off again, so names round-trip and an opened export runs nothing.

use super::{Catalog, Product, Zone};
use crate::{Error, Result};
use ziflow_protocol::Money;

/// The products file's columns, in export order.
pub const PRODUCT_COLUMNS: &[&str] = &[
    "sku", "name", "price", "variants", "aliases", "deposit", "service",
];

/// The shipping file's columns, in export order.
pub const ZONE_COLUMNS: &[&str] = &[
    "zone",
    "price",
    "cities",
    "states",
    "zip_prefixes",
    "default",
];

/// Which file a CSV is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Products (`sku` column).
    Products,
    /// Shipping zones (`zone` column).
    Zones,
}

/// What makes a spreadsheet read a cell as a formula.
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// `text` as a spreadsheet-safe cell (see the module docs).
pub fn safe_cell(text: &str) -> String {
    if text.starts_with(FORMULA_START) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// A cell as written by [`safe_cell`], back to its text.
fn unsafe_cell(cell: &str) -> &str {
    cell.strip_prefix('\'')
        .filter(|rest| rest.starts_with(FORMULA_START))
        .unwrap_or(cell)
}

fn list(cell: &str) -> Vec<String> {
    cell.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn yes(cell: &str, what: &str, line: usize) -> Result<bool> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "0" => Ok(false),
        "yes" | "true" | "1" | "x" => Ok(true),
        other => Err(Error::InvalidInput(format!(
            "line {line}: {what} is yes or no, got {other:?}"
        ))),
    }
}

fn price(cell: &str, currency: &str, what: &str, line: usize) -> Result<i64> {
    let text = cell.trim().trim_start_matches('$');
    Money::parse(text, currency).ok_or_else(|| {
        Error::InvalidInput(format!(
            "line {line}: {what} {cell:?} is not an amount in {currency} (like 28 or 28.50)"
        ))
    })
}

/// Reads a products or zones CSV into `base` (the part it holds is replaced, the other
/// kept). Returns which part it was. The whole file is refused on the first bad line.
pub fn import(text: &str, currency: &str, base: &Catalog) -> Result<(Catalog, Kind)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::InvalidInput(format!("the CSV header: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let kind = if headers.iter().any(|h| h == "sku") {
        Kind::Products
    } else if headers.iter().any(|h| h == "zone") {
        Kind::Zones
    } else {
        return Err(Error::InvalidInput(
            "the first line names the columns: a products file has sku,name,price,… and a \
             shipping file zone,price,…"
                .into(),
        ));
    };
    let known = match kind {
        Kind::Products => PRODUCT_COLUMNS,
        Kind::Zones => ZONE_COLUMNS,
    };
    if let Some(bad) = headers.iter().find(|h| !known.contains(&h.as_str())) {
        return Err(Error::InvalidInput(format!(
            "unknown column {bad:?}; the columns are {}",
            known.join(", ")
        )));
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut out = base.clone();
    match kind {
        Kind::Products => out.catalog.clear(),
        Kind::Zones => out.shipping.clear(),
    }
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| Error::InvalidInput(format!("line {line}: {e}")))?;
        let cell = |name: &str| {
            col(name)
                .and_then(|c| record.get(c))
                .map_or("", unsafe_cell)
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        match kind {
            Kind::Products => {
                let deposit = cell("deposit");
                out.catalog.push(Product {
                    sku: cell("sku").to_string(),
                    name: cell("name").to_string(),
                    aliases: list(cell("aliases")),
                    price_cents: price(cell("price"), currency, "price", line)?,
                    variants: list(cell("variants")),
                    deposit_cents: if deposit.is_empty() {
                        None
                    } else {
                        Some(price(deposit, currency, "deposit", line)?)
                    },
                    service: yes(cell("service"), "service", line)?,
                });
            }
            Kind::Zones => out.shipping.push(Zone {
                zone: cell("zone").to_string(),
                price_cents: price(cell("price"), currency, "price", line)?,
                cities: list(cell("cities")),
                states: list(cell("states")),
                zip_prefixes: list(cell("zip_prefixes")),
                default: yes(cell("default"), "default", line)?,
            }),
        }
    }
    out.check()?;
    Ok((out, kind))
}

fn amount(minor: i64, currency: &str) -> String {
    Money::new(minor, currency).plain()
}

/// The products file.
pub fn export_products(c: &Catalog, currency: &str) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::InvalidInput(format!("writing CSV: {e}"));
    w.write_record(PRODUCT_COLUMNS).map_err(fail)?;
    for p in &c.catalog {
        w.write_record([
            safe_cell(&p.sku),
            safe_cell(&p.name),
            amount(p.price_cents, currency),
            safe_cell(&p.variants.join("|")),
            safe_cell(&p.aliases.join("|")),
            p.deposit_cents
                .map(|d| amount(d, currency))
                .unwrap_or_default(),
            if p.service { "yes" } else { "" }.to_string(),
        ])
        .map_err(fail)?;
    }
    finish(w)
}

/// The shipping-zones file.
pub fn export_zones(c: &Catalog, currency: &str) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::InvalidInput(format!("writing CSV: {e}"));
    w.write_record(ZONE_COLUMNS).map_err(fail)?;
    for z in &c.shipping {
        w.write_record([
            safe_cell(&z.zone),
            amount(z.price_cents, currency),
            safe_cell(&z.cities.join("|")),
            safe_cell(&z.states.join("|")),
            safe_cell(&z.zip_prefixes.join("|")),
            if z.default { "yes" } else { "" }.to_string(),
        ])
        .map_err(fail)?;
    }
    finish(w)
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<String> {
    let bytes = w
        .into_inner()
        .map_err(|e| Error::InvalidInput(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::InvalidInput(format!("writing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_names_are_exported_inert_and_read_back_as_typed() {
        let mut c = samples();
        c.catalog[0].name = "=HYPERLINK(\"http://evil\",\"x\")".into();
        c.catalog[1].name = "-10% cream".into();
        c.catalog[2].aliases = vec!["@home".into()];
        let text = export_products(&c, "USD").unwrap();
        for line in text.lines().skip(1) {
            for cell in line.split(',') {
                let cell = cell.trim_start_matches('"');
                assert!(
                    !cell.starts_with(FORMULA_START),
                    "no cell starts a formula: {line}"
                );
            }
        }
        let (back, _) = import(&text, "USD", &c).unwrap();
        assert_eq!(back.catalog[0].name, c.catalog[0].name);
        assert_eq!(back.catalog[1].name, "-10% cream");
        assert_eq!(back.catalog[2].aliases, vec!["@home".to_string()]);
    }

    fn samples() -> Catalog {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/agent-samples.json"),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        Catalog::parse(&serde_json::json!({"catalog": v["catalog"], "shipping": v["shipping"]}))
            .unwrap()
    }

    #[test]
    fn export_then_import_gives_back_the_same_catalog() {
        let c = samples();
        let products = export_products(&c, "USD").unwrap();
        let zones = export_zones(&c, "USD").unwrap();
        let (half, kind) = import(&products, "USD", &Catalog::default()).unwrap();
        assert_eq!(kind, Kind::Products);
        let (back, kind) = import(&zones, "USD", &half).unwrap();
        assert_eq!(kind, Kind::Zones);
        assert_eq!(back, c);
    }

    #[test]
    fn spreadsheet_quirks_are_read_and_mistakes_refused_with_the_line() {
        let text = "\u{feff}Name,SKU,Price,Variants\n\"Linen shirt, white\",LS-1,$1,240.50,S|M|L\n";
        // A thousands comma inside an unquoted cell splits it: refused, not guessed.
        assert!(import(text, "USD", &Catalog::default()).is_err());
        let text = "Name,SKU,Price,Variants\n\"Linen shirt, white\",LS-1,\"1,240.50\",S | M |L\n\n";
        let (c, _) = import(text, "USD", &Catalog::default()).unwrap();
        assert_eq!(c.catalog[0].name, "Linen shirt, white");
        assert_eq!(c.catalog[0].price_cents, 124_050);
        assert_eq!(c.catalog[0].variants, ["S", "M", "L"]);
        let bad = "sku,name,price\nA,Cream,12.5.0\n";
        let e = import(bad, "USD", &Catalog::default()).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let dup = "sku,name,price\nA,Cream,12\nA,Gel,3\n";
        assert!(import(dup, "USD", &Catalog::default()).is_err());
        let typo = "sku,name,prise\nA,Cream,12\n";
        assert!(import(typo, "USD", &Catalog::default())
            .unwrap_err()
            .to_string()
            .contains("prise"));
    }
}
