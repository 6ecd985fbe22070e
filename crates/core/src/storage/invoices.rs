//! Invoices, their line items, and the fulfilment stage that feeds the "Ready to ship" board.
//!
//! Invariants: numbers are per shop and never reused; `total_minor` is the sum of the line
//! items plus shipping, computed here with checked arithmetic; an invoice becomes paid at
//! most once (`mark_paid_in` reports whether this call was the one that did it).

use sqlx::FromRow;

use crate::storage::Conn;

use crate::{Db, Error, InvoiceStatus, Result};

/// The first number a shop's invoices get.
pub const FIRST_NUMBER: i64 = 1001;

/// A line item to put on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LineItem {
    /// Catalog SKU.
    pub sku: String,
    /// Product name at the time of sale.
    pub name: String,
    /// Variant (size, colour), if the product has them.
    pub variant: Option<String>,
    /// Quantity, at least 1.
    pub qty: i64,
    /// Unit price in minor units.
    pub unit_minor: i64,
}

impl From<&ziflow_protocol::InvoiceItem> for LineItem {
    fn from(i: &ziflow_protocol::InvoiceItem) -> Self {
        Self {
            sku: i.sku.clone(),
            name: i.name.clone(),
            variant: i.variant.clone(),
            qty: i.qty,
            unit_minor: i.unit_minor,
        }
    }
}

impl From<&LineItem> for ziflow_protocol::InvoiceItem {
    fn from(i: &LineItem) -> Self {
        Self {
            sku: i.sku.clone(),
            name: i.name.clone(),
            variant: i.variant.clone(),
            qty: i.qty,
            unit_minor: i.unit_minor,
        }
    }
}

/// What a new invoice is made of.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    /// Customer phone, E.164.
    pub customer_phone: String,
    /// ISO 4217.
    pub currency: String,
    /// At least one item.
    pub items: Vec<LineItem>,
    /// Shipping in minor units (0 for bookings).
    pub shipping_minor: i64,
    /// Delivery address, if there is one.
    pub address: Option<String>,
    /// A subscription's cadence; `None` for a one-time invoice.
    pub recurrence: Option<crate::pay::recurrence::Recurrence>,
}

/// An invoice row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct InvoiceRow {
    /// Invoice id.
    pub id: i64,
    /// Per-shop number.
    pub number: i64,
    /// Customer phone.
    pub customer_phone: String,
    /// ISO 4217.
    pub currency: String,
    /// Shipping part of the total.
    pub shipping_minor: i64,
    /// Items plus shipping.
    pub total_minor: i64,
    /// Delivery address.
    pub address: Option<String>,
    /// Stored status word.
    pub status: String,
    /// `webhook` or `manual` once paid.
    pub paid_via: Option<String>,
    /// Board column once paid.
    pub fulfilment_stage: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub sent_at: Option<i64>,
    /// Unix seconds.
    pub paid_at: Option<i64>,
    /// Provider of the pay link (`sandbox`, `stripe`), once sent.
    pub pay_provider: Option<String>,
    /// The pay link the customer got.
    pub pay_link: Option<String>,
    /// Unix seconds when the link stops working.
    pub link_expires_at: Option<i64>,
    /// `one_time` or `subscription`.
    pub kind: String,
    /// A subscription's unit (`day`, `week`, `month`).
    pub every_unit: Option<String>,
    /// A subscription's count of units.
    pub every_count: Option<i64>,
    /// A subscription's first charge, Unix seconds.
    pub first_charge_at: Option<i64>,
    /// The provider's id of the pay link.
    pub link_ref: Option<String>,
    /// The provider's id of the payment.
    pub payment_ref: Option<String>,
    /// When a payment attempt failed.
    pub failed_at: Option<i64>,
    /// When the link expired unpaid.
    pub expired_at: Option<i64>,
    /// Refunded so far, minor units.
    pub refunded_minor: i64,
    /// The provider's subscription id (`sub_…`), once known.
    pub subscription_ref: Option<String>,
    /// Why the pay link could not be made, until it is.
    pub send_error: Option<String>,
    /// Payment reminders sent.
    pub reminders_sent: i64,
    /// When the last reminder passed unpaid.
    pub abandoned_at: Option<i64>,
    /// The customer is sent the invoice's message with its link (the bot's invoices).
    pub notify_customer: bool,
}

impl InvoiceRow {
    /// A subscription's cadence, if this is one.
    pub fn recurrence(&self) -> Option<crate::pay::recurrence::Recurrence> {
        Some(crate::pay::recurrence::Recurrence {
            unit: crate::pay::recurrence::Unit::parse(self.every_unit.as_deref()?)?,
            count: u32::try_from(self.every_count?).ok()?,
            first_charge_at: self.first_charge_at?,
        })
    }

    /// The status as a type. Unknown words cannot be stored (a CHECK constraint), so this
    /// falls back to `Draft` only for a corrupted file.
    pub fn status(&self) -> InvoiceStatus {
        InvoiceStatus::parse(&self.status).unwrap_or(InvoiceStatus::Draft)
    }
}

/// [`query_as!`] of [`InvoiceRow`]s: the invoice columns, then the rest of the statement and
/// its arguments.
macro_rules! query_invoices {
    ($fetch:ident, $conn:expr, $rest:literal $(, $arg:expr)* $(,)?) => {
        query_as!(
            $fetch,
            $conn,
            InvoiceRow,
            r#"SELECT id, number, customer_phone, currency, shipping_minor, total_minor,
                  address, status, paid_via, fulfilment_stage, created_at, sent_at, paid_at,
                  pay_provider, pay_link, link_expires_at, kind, every_unit, every_count,
                  first_charge_at, link_ref, payment_ref, failed_at, expired_at,
                  refunded_minor, subscription_ref, send_error, reminders_sent, abandoned_at,
                  notify_customer AS "notify_customer: bool"
               FROM invoices "# + $rest
            $(, $arg)*
        )
    };
}

/// Sum of the items plus shipping, refusing negative or overflowing amounts.
pub fn total_minor(items: &[LineItem], shipping_minor: i64) -> Result<i64> {
    if shipping_minor < 0 {
        return Err(Error::InvalidInput("shipping cannot be negative".into()));
    }
    items.iter().try_fold(shipping_minor, |acc, item| {
        if item.qty < 1 {
            return Err(Error::InvalidInput(format!(
                "quantity of {} must be at least 1",
                item.name
            )));
        }
        if item.unit_minor < 0 {
            return Err(Error::InvalidInput(format!(
                "price of {} cannot be negative",
                item.name
            )));
        }
        item.qty
            .checked_mul(item.unit_minor)
            .and_then(|line| acc.checked_add(line))
            .ok_or_else(|| Error::InvalidInput("invoice total is too large".into()))
    })
}

/// Checks a new invoice; returns its total in minor units.
pub fn check(new: &NewInvoice) -> Result<i64> {
    if new.items.is_empty() {
        return Err(Error::InvalidInput(
            "an invoice needs at least one item".into(),
        ));
    }
    if !super::conversations::is_e164(&new.customer_phone) {
        return Err(Error::InvalidInput(format!(
            "customer phone must be E.164 like +15125550123, got {:?}",
            new.customer_phone
        )));
    }
    if new.currency.len() != 3 || !new.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::InvalidInput(format!(
            "currency must be an ISO 4217 code like USD, got {:?}",
            new.currency
        )));
    }
    total_minor(&new.items, new.shipping_minor)
}

/// Creates a draft invoice with the next number of the shop, inside the caller's
/// transaction; returns the new id and number.
pub async fn create_in(
    conn: &mut Conn,
    shop: &str,
    new: &NewInvoice,
    now: i64,
) -> Result<(i64, i64)> {
    let total = check(new)?;
    let number: i64 = query_scalar!(
        fetch_one,
        &mut *conn,
        r#"SELECT COALESCE(MAX(number) + 1, $1) AS "n!: i64" FROM invoices WHERE shop_uid = $2"#,
        FIRST_NUMBER,
        shop
    )?;
    let id: i64 = query_scalar!(
        fetch_one,
        &mut *conn,
        r#"INSERT INTO invoices (shop_uid, number, customer_phone, currency, shipping_minor,
                               total_minor, address, created_at, kind, every_unit, every_count,
                               first_charge_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id AS "id!""#,
        shop,
        number,
        &new.customer_phone,
        &new.currency,
        new.shipping_minor,
        total,
        &new.address,
        now,
        kind_of(new),
        new.recurrence.map(|r| r.unit.as_str()),
        new.recurrence.map(|r| i64::from(r.count)),
        new.recurrence.map(|r| r.first_charge_at)
    )?;
    insert_items(conn, id, &new.items).await?;
    Ok((id, number))
}

/// Stores an invoice created on the relay under its relay id and number (a desk applying
/// `invoice.created`). Returns `false` if it is already stored.
pub async fn insert_replica_in(
    conn: &mut Conn,
    shop: &str,
    id: i64,
    number: i64,
    new: &NewInvoice,
    created_at: i64,
) -> Result<bool> {
    let total = check(new)?;
    let inserted = execute!(
        &mut *conn,
        "INSERT INTO invoices (id, shop_uid, number, customer_phone, currency, shipping_minor,
                               total_minor, address, created_at, kind, every_unit, every_count,
                               first_charge_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        id,
        shop,
        number,
        &new.customer_phone,
        &new.currency,
        new.shipping_minor,
        total,
        &new.address,
        created_at,
        kind_of(new),
        new.recurrence.map(|r| r.unit.as_str()),
        new.recurrence.map(|r| i64::from(r.count)),
        new.recurrence.map(|r| r.first_charge_at)
    )? == 1;
    if inserted {
        insert_items(conn, id, &new.items).await?;
    }
    Ok(inserted)
}

fn kind_of(new: &NewInvoice) -> &'static str {
    if new.recurrence.is_some() {
        "subscription"
    } else {
        "one_time"
    }
}

async fn insert_items(conn: &mut Conn, id: i64, items: &[LineItem]) -> Result<()> {
    for item in items {
        execute!(
            &mut *conn,
            "INSERT INTO invoice_items (invoice_id, sku, name, variant, qty, unit_minor)
             VALUES ($1, $2, $3, $4, $5, $6)",
            id,
            &item.sku,
            &item.name,
            &item.variant,
            item.qty,
            item.unit_minor
        )?;
    }
    Ok(())
}

/// The invoice with this id in this shop.
pub async fn get(db: &Db, shop: &str, id: i64) -> Result<InvoiceRow> {
    query_invoices!(
        fetch_optional,
        &mut db.acquire().await?,
        "WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )?
    .ok_or_else(|| Error::NotFound(format!("invoice {id}")))
}

/// The invoice with this id in this shop, inside the caller's transaction; `None` if absent.
pub async fn get_in(conn: &mut Conn, shop: &str, id: i64) -> Result<Option<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_optional,
        &mut *conn,
        "WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )?)
}

/// The invoice whose sandbox pay page has this token, with its shop.
pub async fn by_pay_token(db: &Db, token: &str) -> Result<Option<(String, InvoiceRow)>> {
    let shop: Option<String> = query_scalar!(
        fetch_optional,
        &mut db.acquire().await?,
        "SELECT shop_uid FROM invoices WHERE pay_token = $1",
        token
    )?;
    let Some(shop) = shop else {
        return Ok(None);
    };
    let row = query_invoices!(
        fetch_optional,
        &mut db.acquire().await?,
        "WHERE pay_token = $1",
        token
    )?;
    Ok(row.map(|r| (shop, r)))
}

/// The shop's invoices whose `provider` link can still take a payment (sent or failed, not
/// paid or expired).
pub async fn open_links_in(conn: &mut Conn, shop: &str, provider: &str) -> Result<Vec<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_all,
        &mut *conn,
        "WHERE shop_uid = $1 AND pay_provider = $2 AND status IN ('sent', 'failed') ORDER BY id",
        shop,
        provider
    )?)
}

/// A pay link an invoice is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayLink {
    /// `sandbox`, `stripe`, …
    pub provider: String,
    /// The URL the customer opens.
    pub url: String,
    /// The sandbox page's token, if the link is a sandbox one.
    pub token: Option<String>,
    /// The provider's id of the link (to deactivate it).
    pub reference: Option<String>,
    /// Unix seconds when it expires.
    pub expires_at: i64,
}

/// Marks a draft invoice sent with `link`. Returns `false` (and changes nothing) if it was
/// not a draft: an invoice gets one link, ever.
pub async fn send_in(
    conn: &mut Conn,
    shop: &str,
    id: i64,
    link: &PayLink,
    now: i64,
) -> Result<bool> {
    let done = execute!(
        &mut *conn,
        "UPDATE invoices SET sent_at = $1, pay_provider = $2, pay_link = $3,
                             pay_token = $4, link_ref = $5, link_expires_at = $6, send_error = NULL
         WHERE shop_uid = $7 AND id = $8 AND pay_link IS NULL",
        now,
        &link.provider,
        &link.url,
        &link.token,
        &link.reference,
        link.expires_at,
        shop,
        id
    )?;
    settle_in(conn, shop, id).await?;
    Ok(done == 1)
}

/// The invoice whose payment has this provider id (`pi_…`).
pub async fn by_payment_ref_in(
    conn: &mut Conn,
    shop: &str,
    payment_ref: &str,
) -> Result<Option<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_optional,
        &mut *conn,
        "WHERE shop_uid = $1 AND payment_ref = $2",
        shop,
        payment_ref
    )?)
}

/// The invoice whose provider subscription is `subscription_ref`.
pub async fn by_subscription_ref_in(
    conn: &mut Conn,
    shop: &str,
    subscription_ref: &str,
) -> Result<Option<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_optional,
        &mut *conn,
        "WHERE shop_uid = $1 AND subscription_ref = $2",
        shop,
        subscription_ref
    )?)
}

/// Links the invoice to its provider subscription. Returns `true` if this call did (it was
/// not linked before).
pub async fn bind_subscription_in(
    conn: &mut Conn,
    id: i64,
    subscription_ref: &str,
) -> Result<bool> {
    Ok(execute!(
        &mut *conn,
        "UPDATE invoices SET subscription_ref = $1 WHERE id = $2 AND subscription_ref IS NULL",
        subscription_ref,
        id
    )? == 1)
}

/// Records why the invoice's pay link could not be made (kept until a link is).
pub async fn send_failed_in(conn: &mut Conn, shop: &str, id: i64, reason: &str) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE invoices SET send_error = $1 WHERE shop_uid = $2 AND id = $3 AND pay_link IS NULL",
        reason,
        shop,
        id
    )?;
    Ok(())
}

/// How an invoice came to be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidVia {
    /// A verified provider event.
    Webhook,
    /// A person marked it paid (a manual reconciliation).
    Manual,
}

/// Marks the invoice paid and puts it on the board, inside the caller's transaction.
/// Returns `true` only for the call that changed it; an invoice already paid (or refunded)
/// is left as it is.
pub async fn mark_paid_in(
    conn: &mut Conn,
    shop: &str,
    id: i64,
    via: PaidVia,
    at: i64,
) -> Result<bool> {
    let settled = record_fact_in(
        conn,
        shop,
        id,
        &Fact::Paid {
            via,
            payment_ref: None,
        },
        at,
    )
    .await?
    .ok_or_else(|| Error::NotFound(format!("invoice {id}")))?;
    Ok(settled.newly_paid)
}

/// Something that happened to an invoice's payment. An invoice's status is computed from
/// all the facts recorded so far, never from the order they came in: paid (and how much of
/// it was refunded) wins over expired, which wins over failed, which wins over sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Money arrived (or a person says it did).
    Paid {
        /// A provider event or a person.
        via: PaidVia,
        /// The provider's payment id, if the event named one.
        payment_ref: Option<String>,
    },
    /// A payment attempt failed (the customer may try again while the link works).
    Failed,
    /// The link expired unpaid.
    Expired,
    /// Refunds reached `cumulative_minor` in total. A refund implies the payment.
    Refunded {
        /// Total refunded so far (Stripe's `amount_refunded`); the largest seen counts.
        cumulative_minor: i64,
        /// The provider's payment id, if the event named one.
        payment_ref: Option<String>,
    },
}

/// What recording a fact changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Status before.
    pub before: InvoiceStatus,
    /// Status after.
    pub after: InvoiceStatus,
    /// This fact was the first payment of the invoice.
    pub newly_paid: bool,
    /// The refunded total grew (to this many minor units).
    pub refunded_to: Option<i64>,
}

/// Records `fact` for the invoice and recomputes its status. `None` if there is no such
/// invoice in the shop. Recording the same fact again changes nothing.
pub async fn record_fact_in(
    conn: &mut Conn,
    shop: &str,
    id: i64,
    fact: &Fact,
    at: i64,
) -> Result<Option<Settled>> {
    let Some(before) = get_in(conn, shop, id).await? else {
        return Ok(None);
    };
    match fact {
        Fact::Paid { via, payment_ref } => {
            set_paid_in(conn, id, *via, payment_ref.as_deref(), at).await?;
        }
        Fact::Refunded {
            cumulative_minor,
            payment_ref,
        } => {
            set_paid_in(conn, id, PaidVia::Webhook, payment_ref.as_deref(), at).await?;
            execute!(
                &mut *conn,
                sqlite: "UPDATE invoices SET refunded_minor = MAX(refunded_minor, $1) WHERE id = $2",
                postgres: "UPDATE invoices SET refunded_minor = GREATEST(refunded_minor, $1) WHERE id = $2",
                cumulative_minor.max(&0),
                id
            )?;
        }
        Fact::Failed => {
            execute!(
                &mut *conn,
                "UPDATE invoices SET failed_at = COALESCE(failed_at, $1) WHERE id = $2",
                at,
                id
            )?;
        }
        Fact::Expired => {
            execute!(
                &mut *conn,
                "UPDATE invoices SET expired_at = COALESCE(expired_at, $1) WHERE id = $2",
                at,
                id
            )?;
        }
    }
    settle_in(conn, shop, id).await?;
    let after = get_in(conn, shop, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("invoice {id}")))?;
    Ok(Some(Settled {
        before: before.status(),
        after: after.status(),
        newly_paid: before.paid_at.is_none() && after.paid_at.is_some(),
        refunded_to: (after.refunded_minor > before.refunded_minor).then_some(after.refunded_minor),
    }))
}

/// Marks the invoice paid (the first payment's time, way and reference stay) and puts it on
/// the board.
async fn set_paid_in(
    conn: &mut Conn,
    id: i64,
    via: PaidVia,
    payment_ref: Option<&str>,
    at: i64,
) -> Result<()> {
    execute!(
        conn,
        "UPDATE invoices SET paid_at = COALESCE(paid_at, $1),
                paid_via = COALESCE(paid_via, $2),
                payment_ref = COALESCE(payment_ref, $3),
                fulfilment_stage = COALESCE(fulfilment_stage, 'ready_to_ship')
         WHERE id = $4",
        at,
        match via {
            PaidVia::Webhook => "webhook",
            PaidVia::Manual => "manual",
        },
        payment_ref,
        id
    )?;
    Ok(())
}

/// Recomputes the stored status from the facts.
async fn settle_in(conn: &mut Conn, shop: &str, id: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE invoices SET status = CASE
            WHEN paid_at IS NOT NULL AND refunded_minor > 0 AND refunded_minor >= total_minor
                THEN 'refunded'
            WHEN paid_at IS NOT NULL AND refunded_minor > 0 THEN 'partially_refunded'
            WHEN paid_at IS NOT NULL THEN 'paid'
            WHEN expired_at IS NOT NULL THEN 'expired'
            WHEN failed_at IS NOT NULL THEN 'failed'
            WHEN sent_at IS NOT NULL THEN 'sent'
            ELSE 'draft' END
         WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )?;
    Ok(())
}

/// The shop's invoices, newest first.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_all,
        &mut db.acquire().await?,
        "WHERE shop_uid = $1 ORDER BY created_at DESC, id DESC",
        shop
    )?)
}

/// The line items of an invoice, in the order they were added.
pub async fn items(db: &Db, invoice_id: i64) -> Result<Vec<LineItem>> {
    let mut conn = db.acquire().await?;
    items_in(&mut conn, invoice_id).await
}

#[derive(sqlx::FromRow)]
struct ItemOf {
    invoice_id: i64,
    sku: String,
    name: String,
    variant: Option<String>,
    qty: i64,
    unit_minor: i64,
}

/// The line items of every invoice of `shop` (only the orders on the board with
/// `board_only`), by invoice id, in one query: what a list shows beside each row.
pub async fn items_by_invoice(
    db: &Db,
    shop: &str,
    board_only: bool,
) -> Result<std::collections::HashMap<i64, Vec<LineItem>>> {
    let rows = query_as!(
        fetch_all,
        &mut db.acquire().await?,
        ItemOf,
        "SELECT ii.invoice_id, ii.sku, ii.name, ii.variant, ii.qty, ii.unit_minor
         FROM invoice_items ii JOIN invoices i ON i.id = ii.invoice_id
         WHERE i.shop_uid = $1 AND (NOT $2 OR i.fulfilment_stage IS NOT NULL)
         ORDER BY ii.invoice_id, ii.id",
        shop,
        board_only
    )?;
    let mut by_invoice: std::collections::HashMap<i64, Vec<LineItem>> =
        std::collections::HashMap::new();
    for r in rows {
        by_invoice.entry(r.invoice_id).or_default().push(LineItem {
            sku: r.sku,
            name: r.name,
            variant: r.variant,
            qty: r.qty,
            unit_minor: r.unit_minor,
        });
    }
    Ok(by_invoice)
}

/// [`items`] inside the caller's transaction.
pub async fn items_in(conn: &mut Conn, invoice_id: i64) -> Result<Vec<LineItem>> {
    Ok(query_as!(
        fetch_all,
        &mut *conn,
        LineItem,
        "SELECT sku, name, variant, qty, unit_minor FROM invoice_items WHERE invoice_id = $1
         ORDER BY id",
        invoice_id
    )?)
}

/// Paid invoices on the fulfilment board (any column), oldest payment first.
pub async fn on_board(db: &Db, shop: &str) -> Result<Vec<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_all,
        &mut db.acquire().await?,
        "WHERE shop_uid = $1 AND fulfilment_stage IS NOT NULL AND status != 'refunded'
          ORDER BY paid_at, id",
        shop
    )?)
}

/// Reminder `reminder` of invoice `id` went out (`invoice.reminded`); the count never goes
/// back.
pub async fn reminded_in(conn: &mut Conn, shop: &str, id: i64, reminder: i64) -> Result<()> {
    execute!(
        &mut *conn,
        sqlite: "UPDATE invoices SET reminders_sent = MAX(reminders_sent, $1) WHERE shop_uid = $2 AND id = $3",
        postgres: "UPDATE invoices SET reminders_sent = GREATEST(reminders_sent, $1) WHERE shop_uid = $2 AND id = $3",
        reminder,
        shop,
        id)?;
    Ok(())
}

/// The last reminder of invoice `id` passed unpaid at `at` (`invoice.abandoned`; the first
/// time counts).
pub async fn abandoned_in(conn: &mut Conn, shop: &str, id: i64, at: i64) -> Result<()> {
    execute!(&mut *conn, "UPDATE invoices SET abandoned_at = COALESCE(abandoned_at, $1) WHERE shop_uid = $2 AND id = $3",
        at,
        shop,
        id)?;
    Ok(())
}

/// Moves the paid order of invoice `id` to `stage` on the board (`order.stage_changed`); an
/// invoice not on the board stays off it.
pub async fn move_on_board_in(conn: &mut Conn, shop: &str, id: i64, stage: &str) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE invoices SET fulfilment_stage = $1
         WHERE shop_uid = $2 AND id = $3 AND fulfilment_stage IS NOT NULL",
        stage,
        shop,
        id
    )?;
    Ok(())
}

/// The customer is sent invoice `id`'s message with its link (the bot's invoices).
pub async fn notify_customer_set_in(conn: &mut Conn, id: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE invoices SET notify_customer = TRUE WHERE id = $1",
        id
    )?;
    Ok(())
}

/// The customer's newest invoice, if any.
pub async fn latest_of(db: &Db, shop: &str, phone: &str) -> Result<Option<InvoiceRow>> {
    Ok(query_invoices!(
        fetch_optional,
        &mut db.acquire().await?,
        "WHERE shop_uid = $1 AND customer_phone = $2 ORDER BY id DESC LIMIT 1",
        shop,
        phone
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(qty: i64, unit: i64) -> LineItem {
        LineItem {
            sku: "HC-1".into(),
            name: "Hydrating cream".into(),
            variant: None,
            qty,
            unit_minor: unit,
        }
    }

    #[test]
    fn total_is_items_plus_shipping_in_minor_units() {
        assert_eq!(
            total_minor(&[item(1, 12_000)], 800).unwrap(),
            12_800,
            "$120 + $8"
        );
        assert_eq!(
            total_minor(&[item(2, 6_400), item(1, 2_800)], 600).unwrap(),
            16_200
        );
    }

    #[test]
    fn total_refuses_bad_amounts_instead_of_wrapping() {
        assert!(total_minor(&[item(0, 100)], 0).is_err(), "zero quantity");
        assert!(total_minor(&[item(1, -5)], 0).is_err(), "negative price");
        assert!(total_minor(&[item(1, 5)], -1).is_err(), "negative shipping");
        assert!(
            total_minor(&[item(i64::MAX, 2)], 0).is_err(),
            "overflow is an error"
        );
    }
}
