//! Projections: how each event changes the tables the screens read. The relay applies them in
//! the same transaction that appends the event; the desktop applies the same code to the
//! events it pulls, so its replica equals the relay's tables for its shop.
//!
//! Invariants: applying is deterministic (time comes from the event, never the clock) and
//! tolerant — an event whose payload this version cannot read is kept in the log and left
//! unprojected (logged), never a reason to refuse the transaction.

use serde_json::Value;
use sqlx::SqliteConnection;

use crate::storage::conversations::{self, Direction};
use crate::storage::events::Event;
use crate::storage::invoices::{self, Fact, PaidVia};
use crate::storage::payments;
use crate::{Error, InvoiceStatus, Money, Result};

/// What applying an event did that someone may want to be told about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// A payment outcome that was recorded.
    pub payment: Option<PaymentApplied>,
    /// Invoice changes a provider event caused, as events to record (`invoice.paid` at most
    /// once per invoice, `invoice.failed`, `invoice.expired`, `invoice.refunded`). The relay's
    /// engine appends them to the log; applying them again changes nothing.
    pub derived: Vec<(&'static str, Value)>,
    /// Outbound work the event calls for (the relay enqueues it under the step name; a
    /// step already enqueued is not enqueued again). Desks ignore it.
    pub work: Vec<(&'static str, crate::pay::work::Work)>,
    /// Messages to post and reads to mark on the WhatsApp channel (the relay enqueues them,
    /// once per message). Desks ignore them.
    pub sends: Vec<crate::channel::ChannelWork>,
    /// Jobs the CRM's rules call for (notifications, messages, hand-offs; the relay enqueues
    /// them under their keys, so once). Desks ignore them.
    pub jobs: Vec<crate::crm::JobSpec>,
    /// Desktop notifications the CRM's rules call for (desks show them).
    pub notes: Vec<crate::notify::DesktopNote>,
}

/// A recorded payment outcome (for the desktop's OS notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentApplied {
    /// `succeeded`, `failed` or `refunded`; or, for an event that was kept but not applied,
    /// `mismatch` (amount or currency differ from the invoice's), `wrong_provider` (not the
    /// provider that made the invoice's link) or `test_mode` (a test event for a live shop).
    pub outcome: &'static str,
    /// The amount.
    pub amount: Money,
    /// The matched invoice's number and customer phone, if matched.
    pub invoice: Option<(i64, String)>,
    /// The matched invoice's total, if matched.
    pub expected: Option<Money>,
}

/// Applies `event` to the projection tables inside the caller's transaction.
pub async fn apply(conn: &mut SqliteConnection, event: &Event) -> Result<Applied> {
    let mut applier = Applier::new(conn);
    let applied = applier.apply(event).await?;
    applier.finish().await?;
    Ok(applied)
}

/// [`apply`] for a replica: an event whose failure is lasting (see [`Error::lasting`]) is
/// undone and skipped (`Ok(None)`), so one such event never stops the rest of the log; other
/// failures are returned. The relay's engine quarantines the same events.
pub async fn apply_or_skip(conn: &mut SqliteConnection, event: &Event) -> Result<Option<Applied>> {
    crate::storage::savepoint_in(conn).await?;
    match apply(conn, event).await {
        Ok(applied) => {
            crate::storage::release_in(conn).await?;
            Ok(Some(applied))
        }
        Err(e) => {
            crate::storage::rollback_to_in(conn).await?;
            if e.lasting() {
                tracing::error!(id = event.id, kind = %event.kind, "event not applied, skipped: {e}");
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Applies many events in log order inside the caller's transaction. Plain inserts nothing
/// else reads back while applying (payments) are held and written as one multi-row statement
/// before the next statement of any other kind, and at [`Applier::finish`] — the tables end
/// up exactly as with one [`apply`] per event, with far fewer round trips to SQLite.
pub struct Applier<'c> {
    conn: &'c mut SqliteConnection,
    payments: Vec<payments::Payment>,
}

impl<'c> Applier<'c> {
    /// An applier writing through `conn`.
    pub fn new(conn: &'c mut SqliteConnection) -> Self {
        Self {
            conn,
            payments: Vec::new(),
        }
    }

    /// Applies one event (the next in log order).
    pub async fn apply(&mut self, event: &Event) -> Result<Applied> {
        let payload: Value = match serde_json::from_str(&event.payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(id = event.id, kind = %event.kind, "event payload unreadable: {e}");
                return Ok(Applied::default());
            }
        };
        let result = match event.kind.as_str() {
            "whatsapp.message" => inbound_message(self.conn().await?, event, &payload).await,
            "invoice.paid" => invoice_paid(self.conn().await?, event, &payload).await,
            "settings.changed" => settings_changed(self.conn().await?, event, &payload).await,
            "invoice.created" => invoice_created(self.conn().await?, event, &payload).await,
            "invoice.sent" => invoice_sent(self.conn().await?, event, &payload).await,
            "catalog.replaced" => catalog_replaced(self.conn().await?, event, &payload).await,
            "billing.connected" | "billing.disconnected" => {
                billing(self.conn().await?, event, &payload).await
            }
            "invoice.send_failed" => send_failed(self.conn().await?, event, &payload).await,
            "message.sent" => message_sent(self.conn().await?, event, &payload).await,
            "message.delivery" => message_delivery(self.conn().await?, event, &payload).await,
            "whatsapp.status" => message_status(self.conn().await?, event, &payload).await,
            "conversation.opted_out" => opted_out(self.conn().await?, event, &payload).await,
            "scenario.changed" => scenario_changed(self.conn().await?, event, &payload).await,
            "agent_test.saved" | "agent_test.deleted" => {
                agent_test(self.conn().await?, event, &payload).await
            }
            "llm.changed" => llm_changed(self.conn().await?, event, &payload).await,
            "order.stage_changed" => order_moved(self.conn().await?, event, &payload).await,
            "invoice.reminded" | "invoice.abandoned" | "reminders.changed" => {
                reminder_fact(self.conn().await?, event, &payload).await
            }
            "channel.connected" | "channel.disconnected" => {
                channel_changed(self.conn().await?, event, &payload).await
            }
            "conversation.handoff" => handoff(self.conn().await?, event, &payload).await,
            "notification.result" => notification_result(self.conn().await?, event, &payload).await,
            "conversation.bot_set" => bot_set(self.conn().await?, event, &payload).await,
            "invoice.failed" | "invoice.expired" | "invoice.refunded" => {
                invoice_fact(self.conn().await?, event, &payload).await
            }
            kind if kind.starts_with("stripe.") || kind.starts_with("sandbox.") => {
                stripe_event(self, event, &payload).await
            }
            _ => Ok(Applied::default()),
        };
        let mut result = match result {
            Err(Error::InvalidInput(why)) => {
                tracing::warn!(id = event.id, kind = %event.kind, "event left unprojected: {why}");
                return Ok(Applied::default());
            }
            other => other?,
        };
        // The CRM's rules follow every event they listen to (leads are projections too).
        if crate::crm::listens_to(&event.kind) {
            match crate::crm::apply(self.conn().await?, event, &payload).await {
                Ok(effects) => {
                    result.jobs = effects.jobs;
                    result.notes = effects.notes;
                }
                Err(Error::InvalidInput(why)) => {
                    tracing::warn!(id = event.id, kind = %event.kind, "the CRM skipped it: {why}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(result)
    }

    /// Writes what is held. Must be called before the transaction commits.
    pub async fn finish(mut self) -> Result<()> {
        self.flush().await
    }

    /// The connection, with everything held written first (so reads see it).
    pub async fn conn(&mut self) -> Result<&mut SqliteConnection> {
        self.flush().await?;
        Ok(&mut *self.conn)
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.payments.is_empty() {
            payments::record_many_in(self.conn, &self.payments).await?;
            self.payments.clear();
        }
        Ok(())
    }
}

async fn inbound_message(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let from = p["from"].as_str().unwrap_or_default();
    let phone = format!("+{from}");
    let msg = &p["message"];
    let kind = msg["type"].as_str().unwrap_or("unknown");
    let body = match kind {
        "text" => msg["text"]["body"].as_str().unwrap_or_default().to_string(),
        "interactive" => msg["interactive"]["button_reply"]["title"]
            .as_str()
            .or_else(|| msg["interactive"]["list_reply"]["title"].as_str())
            .unwrap_or("[interactive reply]")
            .to_string(),
        "button" => msg["button"]["text"]
            .as_str()
            .unwrap_or("[button]")
            .to_string(),
        "location" => "[location]".to_string(),
        "image" | "audio" => format!("[{kind}]"),
        other => format!("[unsupported message: {other}]"),
    };
    let at = msg["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(event.created_at);
    let wamid = msg["id"].as_str();
    conversations::record_message_in(
        conn,
        &event.shop_uid,
        &phone,
        p["profile_name"].as_str(),
        Direction::Inbound,
        &body,
        at,
        &conversations::MessageMeta {
            event_id: Some(event.id),
            wamid,
            author: None,
        },
    )
    .await?;
    let mut applied = Applied::default();
    if let Some(wamid) = wamid {
        if crate::channel::is_whatsapp_in(conn, &event.shop_uid).await? {
            applied.sends.push(crate::channel::ChannelWork::MarkRead {
                wamid: wamid.to_string(),
            });
        }
    }
    Ok(applied)
}

async fn invoice_created(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let field = |k: &str| {
        p[k].as_i64()
            .ok_or_else(|| Error::InvalidInput(format!("invoice.created without {k}")))
    };
    let items: Vec<ziflow_protocol::InvoiceItem> = serde_json::from_value(p["items"].clone())
        .map_err(|e| Error::InvalidInput(format!("invoice.created items: {e}")))?;
    let new = invoices::NewInvoice {
        customer_phone: p["customer_phone"].as_str().unwrap_or_default().to_string(),
        currency: p["currency"].as_str().unwrap_or_default().to_string(),
        items: items.iter().map(invoices::LineItem::from).collect(),
        shipping_minor: field("shipping_minor")?,
        address: p["address"].as_str().map(str::to_string),
        recurrence: match p.get("subscription").filter(|v| !v.is_null()) {
            Some(sub) => {
                let sub: ziflow_protocol::Subscription = serde_json::from_value(sub.clone())
                    .map_err(|e| {
                        Error::InvalidInput(format!("invoice.created subscription: {e}"))
                    })?;
                Some(crate::pay::Recurrence {
                    unit: crate::pay::Unit::parse(&sub.unit).ok_or_else(|| {
                        Error::InvalidInput(format!("subscription unit {:?}", sub.unit))
                    })?,
                    count: sub.count,
                    first_charge_at: sub.first_charge_at,
                })
            }
            None => None,
        },
    };
    invoices::insert_replica_in(
        conn,
        &event.shop_uid,
        field("invoice_id")?,
        field("number")?,
        &new,
        event.created_at,
    )
    .await?;
    Ok(Applied::default())
}

async fn invoice_sent(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let (Some(id), Some(url), Some(expires_at)) = (
        p["invoice_id"].as_i64(),
        p["link"].as_str(),
        p["expires_at"].as_i64(),
    ) else {
        return Err(Error::InvalidInput(
            "invoice.sent without invoice_id, link and expires_at".into(),
        ));
    };
    let link = invoices::PayLink {
        provider: p["provider"].as_str().unwrap_or("sandbox").to_string(),
        url: url.to_string(),
        token: p["token"].as_str().map(str::to_string),
        reference: p["reference"].as_str().map(str::to_string),
        expires_at,
    };
    invoices::send_in(conn, &event.shop_uid, id, &link, event.created_at).await?;
    Ok(Applied::default())
}

/// The shop's payment provider changed: the Billing screen reads these settings. The key
/// itself is never in the log, only its hint.
///
/// Links of the provider the shop left stop working at once: connecting Stripe expires the
/// open sandbox links (a customer can no longer "pay" with the sandbox), disconnecting it
/// expires the open Stripe links (the relay deactivated them at Stripe first and no longer
/// holds the secret that would verify their payments). Customers ask for a new link.
async fn billing(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    let left = if event.kind == "billing.connected" {
        set_in(
            conn,
            shop,
            "billing.provider",
            p["provider"].as_str().unwrap_or("stripe"),
        )
        .await?;
        set_in(
            conn,
            shop,
            "billing.mode",
            p["mode"].as_str().unwrap_or_default(),
        )
        .await?;
        set_in(
            conn,
            shop,
            "billing.key_hint",
            p["key_hint"].as_str().unwrap_or_default(),
        )
        .await?;
        "sandbox"
    } else {
        set_in(
            conn,
            shop,
            "billing.provider",
            p["provider"].as_str().unwrap_or("sandbox"),
        )
        .await?;
        set_in(conn, shop, "billing.mode", "").await?;
        set_in(conn, shop, "billing.key_hint", "").await?;
        set_in(conn, shop, "billing.webhook_secret_hint", "").await?;
        "stripe"
    };
    for inv in invoices::open_links_in(conn, shop, left).await? {
        invoices::record_fact_in(conn, shop, inv.id, &Fact::Expired, event.created_at).await?;
    }
    Ok(Applied::default())
}

async fn catalog_replaced(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Applied> {
    let catalog = crate::catalog::Catalog::parse(p)?;
    crate::catalog::replace_in(conn, &event.shop_uid, &catalog).await?;
    Ok(Applied::default())
}

/// A message the shop sent (the bot or a rep): the conversation's thread shows it.
async fn message_sent(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let (Some(to), Some(text)) = (p["to"].as_str(), p["text"].as_str()) else {
        return Err(Error::InvalidInput(
            "message.sent without to and text".into(),
        ));
    };
    conversations::record_message_in(
        conn,
        &event.shop_uid,
        to,
        None,
        Direction::Outbound,
        text,
        event.created_at,
        &conversations::MessageMeta {
            event_id: Some(event.id),
            wamid: None,
            author: Some(p["by"].as_str().unwrap_or("rep")),
        },
    )
    .await?;
    let mut applied = Applied::default();
    if crate::channel::is_whatsapp_in(conn, &event.shop_uid).await? {
        applied
            .sends
            .push(crate::channel::ChannelWork::Send { event_id: event.id });
    }
    Ok(applied)
}

/// What became of a sent message: WhatsApp's id (status `accepted`) or why it did not go.
async fn message_delivery(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Applied> {
    let Some(event_id) = p["event_id"].as_i64() else {
        return Err(Error::InvalidInput(
            "message.delivery without event_id".into(),
        ));
    };
    let wamid = p["wamid"].as_str();
    sqlx::query(
        "UPDATE messages SET wamid = COALESCE(?, wamid), send_error = ? WHERE event_id = ?
         AND conversation_id IN (SELECT id FROM conversations WHERE shop_uid = ?)",
    )
    .bind(wamid)
    .bind(p["error"].as_str())
    .bind(event_id)
    .bind(&event.shop_uid)
    .execute(&mut *conn)
    .await?;
    if let Some(wamid) = wamid {
        crate::channel::status_in(
            conn,
            &event.shop_uid,
            wamid,
            "accepted",
            event.created_at,
            None,
        )
        .await?;
    }
    Ok(Applied::default())
}

/// A status webhook: sent, delivered, read or failed, for a message the shop sent.
async fn message_status(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let st = &p["status"];
    let (Some(wamid), Some(status)) = (st["id"].as_str(), st["status"].as_str()) else {
        return Err(Error::InvalidInput("a status without id and status".into()));
    };
    let at = st["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(event.created_at);
    let error = st["errors"][0].as_object().map(|e| {
        let code = e.get("code").and_then(Value::as_i64).unwrap_or_default();
        let title = e
            .get("title")
            .or_else(|| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("failed");
        let details = e
            .get("error_data")
            .and_then(|d| d.get("details"))
            .and_then(Value::as_str);
        match details {
            Some(d) => format!("(#{code}) {title}: {d}"),
            None => format!("(#{code}) {title}"),
        }
    });
    crate::channel::status_in(conn, &event.shop_uid, wamid, status, at, error.as_deref()).await?;
    Ok(Applied::default())
}

/// A reminder went out (or its step passed), an invoice was abandoned, the schedule changed.
async fn reminder_fact(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let shop = &event.shop_uid;
    match event.kind.as_str() {
        "reminders.changed" => {
            let hours: Vec<i64> = serde_json::from_value(p["hours"].clone())
                .map_err(|e| Error::InvalidInput(format!("reminders.changed: {e}")))?;
            let text = hours
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            crate::storage::settings::set_in(conn, shop, "reminders.hours", &text).await?;
        }
        "invoice.reminded" => {
            if p["sent"].as_bool() == Some(true) {
                sqlx::query(
                    "UPDATE invoices SET reminders_sent = MAX(reminders_sent, ?)
                     WHERE shop_uid = ? AND id = ?",
                )
                .bind(p["reminder"].as_i64().unwrap_or(0))
                .bind(shop)
                .bind(p["invoice_id"].as_i64())
                .execute(&mut *conn)
                .await?;
            }
        }
        _ => {
            sqlx::query(
                "UPDATE invoices SET abandoned_at = COALESCE(abandoned_at, ?)
                 WHERE shop_uid = ? AND id = ?",
            )
            .bind(event.created_at)
            .bind(shop)
            .bind(p["invoice_id"].as_i64())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(Applied::default())
}

/// A paid order moved on the Ready-to-ship board.
async fn order_moved(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let (Some(id), Some(to)) = (p["invoice_id"].as_i64(), p["to"].as_str()) else {
        return Err(Error::InvalidInput(
            "order.stage_changed without invoice_id and to".into(),
        ));
    };
    sqlx::query(
        "UPDATE invoices SET fulfilment_stage = ?
         WHERE shop_uid = ? AND id = ? AND fulfilment_stage IS NOT NULL",
    )
    .bind(to)
    .bind(&event.shop_uid)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(Applied::default())
}

/// The owner turned the model's rewording or reading on or off.
async fn llm_changed(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    let enabled = p["enabled"].as_bool().unwrap_or(false);
    set_in(
        conn,
        shop,
        "llm.enabled",
        if enabled { "true" } else { "false" },
    )
    .await?;
    let reader = p["reader"].as_bool().unwrap_or(false);
    set_in(
        conn,
        shop,
        "llm.reader",
        if reader { "true" } else { "false" },
    )
    .await?;
    for key in ["base_url", "model", "key_hint"] {
        set_in(
            conn,
            shop,
            &format!("llm.{key}"),
            p[key].as_str().unwrap_or_default(),
        )
        .await?;
    }
    Ok(Applied::default())
}

/// The owner saved the payment scenario.
/// A bot test saved (its event id is its id) or deleted.
async fn agent_test(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    use crate::storage::agent_tests;
    if event.kind == "agent_test.deleted" {
        let id = p["id"]
            .as_i64()
            .ok_or_else(|| Error::InvalidInput("agent_test.deleted without an id".into()))?;
        agent_tests::delete_in(conn, &event.shop_uid, id).await?;
        return Ok(Applied::default());
    }
    let saved: SavedTest = serde_json::from_value(p.clone())
        .map_err(|e| Error::InvalidInput(format!("agent_test.saved: {e}")))?;
    let json = |v: serde_json::Result<String>| v.map_err(|e| Error::InvalidInput(e.to_string()));
    agent_tests::insert_in(
        conn,
        &event.shop_uid,
        event.id,
        &saved.name,
        &json(serde_json::to_string(&saved.messages))?,
        &json(serde_json::to_string(&saved.expect))?,
        event.created_at,
    )
    .await?;
    Ok(Applied::default())
}

/// The payload of `agent_test.saved`.
#[derive(serde::Deserialize)]
struct SavedTest {
    name: String,
    messages: Vec<String>,
    expect: crate::agent::bottests::Ending,
}

async fn scenario_changed(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Applied> {
    let scenario: ziflow_protocol::Scenario = serde_json::from_value(p.clone())
        .map_err(|e| Error::InvalidInput(format!("scenario.changed: {e}")))?;
    for (key, value) in crate::scenario::as_settings(&scenario) {
        crate::storage::settings::set_in(conn, &event.shop_uid, key, &value).await?;
    }
    Ok(Applied::default())
}

/// The customer wrote STOP: no bot or reminder messages until they write again.
async fn opted_out(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let phone = p["phone"]
        .as_str()
        .ok_or_else(|| Error::InvalidInput("conversation.opted_out without a phone".into()))?;
    sqlx::query("UPDATE conversations SET opted_out = 1 WHERE shop_uid = ? AND customer_phone = ?")
        .bind(&event.shop_uid)
        .bind(phone)
        .execute(&mut *conn)
        .await?;
    Ok(Applied::default())
}

/// The shop's customer channel: the WhatsApp Cloud API number, or back to the sandbox.
async fn channel_changed(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    if event.kind == "channel.connected" {
        set_in(conn, shop, "channel", "whatsapp").await?;
        for key in ["phone_number_id", "display_phone_number", "verified_name"] {
            let value = p[key].as_str().unwrap_or_default();
            set_in(conn, shop, &format!("whatsapp.{key}"), value).await?;
        }
    } else {
        set_in(conn, shop, "channel", "sandbox").await?;
        // No number any more: the relay's webhook filter (entries for this number only) is off.
        set_in(conn, shop, "whatsapp.phone_number_id", "").await?;
    }
    Ok(Applied::default())
}

/// A person takes the conversation over: the bot stops talking in it.
async fn handoff(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let phone = p["phone"]
        .as_str()
        .ok_or_else(|| Error::InvalidInput("conversation.handoff without a phone".into()))?;
    sqlx::query(
        "UPDATE conversations SET bot_enabled = 0, handoff_reason = ?
         WHERE shop_uid = ? AND customer_phone = ?",
    )
    .bind(p["reason"].as_str())
    .bind(&event.shop_uid)
    .bind(phone)
    .execute(&mut *conn)
    .await?;
    Ok(Applied::default())
}

/// An attempt to post a notification ended: the latest state per notification, and a line
/// in the lead's history.
async fn notification_result(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Applied> {
    let (Some(key), Some(channel), Some(state)) = (
        p["key"].as_str(),
        p["channel"].as_str(),
        p["state"].as_str(),
    ) else {
        return Err(Error::InvalidInput(
            "notification.result without key, channel and state".into(),
        ));
    };
    let attempts = p["attempts"].as_i64().unwrap_or(1);
    let answer = p["answer"].as_str().unwrap_or_default();
    let phone = p["phone"].as_str();
    sqlx::query(
        "INSERT INTO notifications (shop_uid, key, channel, text, phone, state, attempts, answer, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (shop_uid, key) DO UPDATE SET state = ?6, attempts = ?7, answer = ?8, at = ?9",
    )
    .bind(&event.shop_uid)
    .bind(key)
    .bind(channel)
    .bind(p["text"].as_str().unwrap_or_default())
    .bind(phone)
    .bind(state)
    .bind(attempts)
    .bind(answer)
    .bind(event.created_at)
    .execute(&mut *conn)
    .await?;
    if let Some(phone) = phone {
        let line = crate::notify::history_line(channel, state, attempts, answer);
        crate::crm::history(conn, &event.shop_uid, phone, event, None, &line).await?;
    }
    Ok(Applied::default())
}

/// A rep switches the bot off (takes over) or back on (the bot starts afresh).
async fn bot_set(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let (Some(phone), Some(enabled)) = (p["phone"].as_str(), p["enabled"].as_bool()) else {
        return Err(Error::InvalidInput(
            "conversation.bot_set without phone and enabled".into(),
        ));
    };
    sqlx::query(
        "UPDATE conversations SET bot_enabled = ?,
                handoff_reason = CASE WHEN ? THEN NULL ELSE handoff_reason END
         WHERE shop_uid = ? AND customer_phone = ?",
    )
    .bind(enabled)
    .bind(enabled)
    .bind(&event.shop_uid)
    .bind(phone)
    .execute(&mut *conn)
    .await?;
    if enabled {
        sqlx::query(
            "UPDATE agent_states SET state = json_set(state, '$.stage', 'Open')
             WHERE shop_uid = ? AND customer_phone = ?",
        )
        .bind(&event.shop_uid)
        .bind(phone)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Applied::default())
}

async fn send_failed(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let id = p["invoice_id"]
        .as_i64()
        .ok_or_else(|| Error::InvalidInput("invoice.send_failed without an invoice_id".into()))?;
    let reason = p["reason"]
        .as_str()
        .unwrap_or("the provider did not make the link");
    invoices::send_failed_in(conn, &event.shop_uid, id, reason).await?;
    Ok(Applied::default())
}

async fn settings_changed(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Applied> {
    let (Some(key), Some(value)) = (p["key"].as_str(), p["value"].as_str()) else {
        return Err(Error::InvalidInput(
            "settings.changed without key and value".into(),
        ));
    };
    crate::storage::settings::set_in(conn, &event.shop_uid, key, value).await?;
    Ok(Applied::default())
}

async fn invoice_paid(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let id = p["invoice_id"]
        .as_i64()
        .ok_or_else(|| Error::InvalidInput("invoice.paid without an invoice_id".into()))?;
    let via = if p["via"] == "manual" {
        PaidVia::Manual
    } else {
        PaidVia::Webhook
    };
    invoices::mark_paid_in(conn, &event.shop_uid, id, via, event.created_at).await?;
    Ok(Applied::default())
}

/// A derived invoice event (`invoice.failed`, `invoice.expired`, `invoice.refunded`) recorded
/// by the relay or a job: the same fact the provider event recorded, so applying it after
/// that event changes nothing, and a desk that only has this event gets the same state.
async fn invoice_fact(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let id = p["invoice_id"]
        .as_i64()
        .ok_or_else(|| Error::InvalidInput(format!("{} without an invoice_id", event.kind)))?;
    let fact = match event.kind.as_str() {
        "invoice.failed" => Fact::Failed,
        "invoice.expired" => Fact::Expired,
        _ => Fact::Refunded {
            cumulative_minor: p["refunded_minor"].as_i64().unwrap_or(0),
            payment_ref: None,
        },
    };
    invoices::record_fact_in(conn, &event.shop_uid, id, &fact, event.created_at).await?;
    Ok(Applied::default())
}

/// The metadata a Stripe object carries for ZiFlow: on the object itself (payment links,
/// payment intents, checkout sessions, charges of those), or on the subscription an invoice
/// belongs to (several places, by API version).
fn ziflow_metadata(obj: &Value) -> Option<&Value> {
    [
        &obj["metadata"],
        &obj["subscription_details"]["metadata"],
        &obj["parent"]["subscription_details"]["metadata"],
        &obj["lines"]["data"][0]["metadata"],
    ]
    .into_iter()
    .find(|m| m.get("ziflow_invoice").is_some())
}

/// How a provider event bears on an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Money arrived.
    Paid,
    /// An attempt failed.
    Failed,
    /// A checkout attempt timed out (the link itself may still work).
    SessionExpired,
    /// Refunds reached this total.
    Refunded(i64),
    /// A subscription was created or changed (it links its id to the invoice; no money).
    Subscribed,
}

/// A provider event, read.
struct Reading<'a> {
    /// Whose key verified it: `stripe` or `sandbox` (the kind's prefix).
    provider: &'static str,
    /// Stripe's `livemode`, when the event says.
    livemode: Option<bool>,
    kind: &'a str,
    effect: Effect,
    amount: i64,
    currency: String,
    payment_ref: Option<String>,
    subscription_ref: Option<String>,
    invoice_id: Option<i64>,
}

/// Reads a Stripe-format event; `None` for kinds that do not bear on invoices.
fn read<'a>(event: &'a Event, p: &Value) -> Result<Option<Reading<'a>>> {
    let obj = &p["data"]["object"];
    let (provider, kind) = match event.kind.split_once('.') {
        Some(("sandbox", kind)) => ("sandbox", kind),
        Some(("stripe", kind)) => ("stripe", kind),
        _ => return Ok(None),
    };
    let (effect, amount_key) = match kind {
        "checkout.session.completed" if obj["payment_status"] == "paid" => {
            (Effect::Paid, "amount_total")
        }
        "checkout.session.async_payment_succeeded" => (Effect::Paid, "amount_total"),
        "checkout.session.async_payment_failed" => (Effect::Failed, "amount_total"),
        "checkout.session.expired" => (Effect::SessionExpired, "amount_total"),
        "payment_intent.succeeded" => (Effect::Paid, "amount"),
        "payment_intent.payment_failed" => (Effect::Failed, "amount"),
        "invoice.paid" | "invoice.payment_succeeded" => (Effect::Paid, "amount_paid"),
        "invoice.payment_failed" => (Effect::Failed, "amount_due"),
        "customer.subscription.created" | "customer.subscription.updated" => {
            (Effect::Subscribed, "")
        }
        "charge.refunded" => {
            let refunded = obj["amount_refunded"].as_i64().ok_or_else(|| {
                Error::InvalidInput("charge.refunded without an integer amount_refunded".into())
            })?;
            (Effect::Refunded(refunded), "amount")
        }
        _ => return Ok(None),
    };
    let amount = if effect == Effect::Subscribed {
        0
    } else {
        obj[amount_key]
            .as_i64()
            .ok_or_else(|| Error::InvalidInput(format!("{kind} without an integer {amount_key}")))?
    };
    let currency = obj["currency"]
        .as_str()
        .filter(|c| c.len() == 3)
        .map(str::to_ascii_uppercase)
        .or_else(|| (effect == Effect::Subscribed).then(String::new))
        .ok_or_else(|| Error::InvalidInput(format!("{kind} without a currency")))?;
    let payment_ref = match kind {
        k if k.starts_with("payment_intent.") => obj["id"].as_str(),
        _ => obj["payment_intent"].as_str(),
    }
    .map(str::to_string);
    let subscription_ref = match effect {
        Effect::Subscribed => obj["id"].as_str(),
        _ => obj["subscription"].as_str(),
    }
    .map(str::to_string);
    // Only metadata naming this shop (or no shop) counts: never another shop's invoice.
    let invoice_id = ziflow_metadata(obj)
        .filter(|m| {
            m["ziflow_shop"]
                .as_str()
                .is_none_or(|s| s == event.shop_uid)
        })
        .and_then(|m| {
            m["ziflow_invoice"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or_else(|| m["ziflow_invoice"].as_i64())
        });
    Ok(Some(Reading {
        provider,
        livemode: p["livemode"].as_bool(),
        kind,
        effect,
        amount,
        currency,
        payment_ref,
        subscription_ref,
        invoice_id,
    }))
}

/// Provider events, Stripe's format (the sandbox speaks it too). Each is a fact about its
/// invoice (see [`invoices::Fact`]), so duplicates and any arrival order end in the same
/// state. A payment row is written when the money changed — the first payment of an invoice,
/// a subscription's renewal, a failed attempt, a refund's amount — so one checkout
/// (`checkout.session.completed` and `payment_intent.succeeded`) is one row.
///
/// Matching: the `ziflow_invoice` metadata every ZiFlow link carries, else the payment or
/// subscription id an earlier event tied to an invoice. An event matching nothing is kept in
/// the log and shown as an unmatched payment; when a later event ties its subscription to an
/// invoice, it is matched then, as if it had come after.
async fn stripe_event(a: &mut Applier<'_>, event: &Event, p: &Value) -> Result<Applied> {
    let Some(r) = read(event, p)? else {
        return Ok(Applied::default());
    };
    let shop = &event.shop_uid;
    if r.provider == "stripe" && r.livemode == Some(false) && live_shop(a, shop).await? {
        // A live shop's money comes only from live events: a test-mode event is kept in the
        // log and shown, never applied (a test card must not ship an order).
        return Ok(a.noted(event, &r, None, "test_mode"));
    }
    let mut invoice = match r.invoice_id {
        Some(id) => invoices::get_in(a.conn().await?, shop, id).await?,
        None => None,
    };
    if invoice.is_none() && r.invoice_id.is_none() {
        if let Some(pi) = &r.payment_ref {
            invoice = invoices::by_payment_ref_in(a.conn().await?, shop, pi).await?;
        }
        if invoice.is_none() {
            if let Some(sub) = &r.subscription_ref {
                invoice = invoices::by_subscription_ref_in(a.conn().await?, shop, sub).await?;
            }
        }
    }
    let Some(inv) = invoice else {
        // Unmatched: shown to the rep once per payment (the checkout's or invoice's own
        // event, not the payment intent's echo of it).
        let outcome = match (r.effect, r.kind) {
            (Effect::Paid, "payment_intent.succeeded" | "invoice.payment_succeeded") => None,
            (Effect::Paid, _) => Some("succeeded"),
            (Effect::Failed, _) => Some("failed"),
            (Effect::Refunded(_), _) => Some("refunded"),
            (Effect::SessionExpired | Effect::Subscribed, _) => None,
        };
        let Some(outcome) = outcome else {
            return Ok(Applied::default());
        };
        let amount = match r.effect {
            Effect::Refunded(total) => total,
            _ => r.amount,
        };
        return Ok(a.payment(event, r.provider, None, outcome, amount, r.currency));
    };
    let refused = refusal(&r, &inv, p, event.created_at);
    if let Some(outcome) = refused.filter(|o| *o != "no_money") {
        tracing::warn!(
            id = event.id, invoice = inv.id, provider = r.provider,
            paid = r.amount, currency = %r.currency,
            expected = inv.total_minor, expected_currency = %inv.currency,
            "a provider event does not match its invoice; not applied ({outcome})"
        );
        return Ok(a.noted(event, &r, Some(&inv), outcome));
    }
    let mut applied = match refused {
        Some(_) => Applied::default(), // no money: nothing paid, nothing shown
        None => settle(a, event, p, &r, &inv, None).await?,
    };
    if let Some(sub) = &r.subscription_ref {
        if invoices::bind_subscription_in(a.conn().await?, inv.id, sub).await? {
            if let (Some(at), Some(provider)) = (inv.first_charge_at, inv.pay_provider.clone()) {
                if at > event.created_at + 3600 {
                    applied.work.push((
                        "align",
                        crate::pay::work::Work::AlignFirstCharge {
                            provider,
                            invoice_id: inv.id,
                            subscription_ref: sub.clone(),
                            first_charge_at: at,
                        },
                    ));
                }
            }
            // Events that named this subscription before it was tied to the invoice.
            let earlier =
                crate::storage::events::of_subscription_in(a.conn().await?, shop, sub, event.id)
                    .await?;
            for e in earlier {
                let Ok(payload) = serde_json::from_str::<Value>(&e.payload) else {
                    continue;
                };
                let Some(er) = read(&e, &payload)? else {
                    continue;
                };
                if er.invoice_id.is_some() {
                    continue; // it matched (or refused) by its own metadata
                }
                let row = payments::unmatched_of_event_in(a.conn().await?, e.id).await?;
                let inv_now = invoices::get_in(a.conn().await?, shop, inv.id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("invoice {}", inv.id)))?;
                let test_on_live = er.provider == "stripe"
                    && er.livemode == Some(false)
                    && live_shop(a, shop).await?;
                if test_on_live || refusal(&er, &inv_now, &payload, e.created_at).is_some() {
                    continue; // stays an unmatched row: it cannot pay this invoice
                }
                let late = settle(a, &e, &payload, &er, &inv_now, Some(row)).await?;
                applied.derived.extend(late.derived);
                applied.payment = applied.payment.or(late.payment);
            }
        }
    }
    Ok(applied)
}

/// Whether the shop's Stripe key is a live one (`billing.mode`).
async fn live_shop(a: &mut Applier<'_>, shop: &str) -> Result<bool> {
    Ok(
        crate::storage::settings::get_in(a.conn().await?, shop, "billing.mode")
            .await?
            .as_deref()
            == Some("live"),
    )
}

/// Why an event matched to `inv` must not change it, if it must not: only the provider that
/// made the invoice's link can pay (fail, refund) it — a sandbox event never touches a Stripe
/// invoice, nor a Stripe event a sandbox one — and a payment must be in the invoice's
/// currency and of the amount due then ([`amount_due`]); a refund in its currency.
fn refusal(
    r: &Reading<'_>,
    inv: &invoices::InvoiceRow,
    p: &Value,
    at: i64,
) -> Option<&'static str> {
    if inv.pay_provider.as_deref() != Some(r.provider) {
        // Not even a subscription of the other provider's may tie itself to this invoice.
        return Some("wrong_provider");
    }
    if r.effect == Effect::Subscribed {
        return None;
    }
    if r.effect == Effect::Paid && r.amount <= 0 {
        // A trial's free first invoice: no money, so no payment (it still ties its
        // subscription to the invoice).
        return Some("no_money");
    }
    let money = matches!(r.effect, Effect::Paid | Effect::Refunded(_));
    if money && r.currency != inv.currency {
        return Some("mismatch");
    }
    // A refund implies the payment it refunds: on an invoice not yet paid, only a refund of
    // a charge of the amount due may stand for that payment (a refunded wrong payment pays
    // nothing).
    let unpaid_refund = matches!(r.effect, Effect::Refunded(_)) && inv.paid_at.is_none();
    if (r.effect == Effect::Paid || unpaid_refund) && r.amount != amount_due(r, inv, p, at) {
        return Some("mismatch");
    }
    None
}

/// What a payment of `inv` must amount to: the total for a one-time invoice; for a
/// subscription, the total (its first period and shipping) when it starts charging at once,
/// only the one-time part (shipping) when it starts with a trial, and the recurring part
/// alone for a renewal (`billing_reason: subscription_cycle`).
fn amount_due(r: &Reading<'_>, inv: &invoices::InvoiceRow, p: &Value, at: i64) -> i64 {
    if inv.kind != "subscription" {
        return inv.total_minor;
    }
    let renewal = p["data"]["object"]["billing_reason"] == "subscription_cycle";
    if renewal && r.kind.starts_with("invoice.") {
        return inv.total_minor - inv.shipping_minor;
    }
    match inv.first_charge_at {
        // The same hour's slack the first-charge alignment allows.
        Some(first) if first > at + 3600 => inv.shipping_minor,
        _ => inv.total_minor,
    }
}

/// Records the event's fact for `inv` and the payment row it causes. `late`: the event came
/// earlier and is matched now — `Some(row)` is the unmatched row it left (reused, or deleted
/// if the invoice's rules record no row for it).
async fn settle(
    a: &mut Applier<'_>,
    event: &Event,
    p: &Value,
    r: &Reading<'_>,
    inv: &invoices::InvoiceRow,
    late: Option<Option<i64>>,
) -> Result<Applied> {
    let fact = match r.effect {
        Effect::Paid => Fact::Paid {
            via: PaidVia::Webhook,
            payment_ref: r.payment_ref.clone(),
        },
        Effect::Failed => Fact::Failed,
        Effect::Refunded(total) => Fact::Refunded {
            cumulative_minor: total,
            payment_ref: r.payment_ref.clone(),
        },
        Effect::SessionExpired => {
            // Payment links outlive their checkout sessions: only a session that ended after
            // the link's own expiry means the link is over.
            let at = p["created"].as_i64().unwrap_or(event.created_at);
            if inv.link_expires_at.is_some_and(|exp| at >= exp) {
                Fact::Expired
            } else {
                return Ok(Applied::default());
            }
        }
        Effect::Subscribed => return Ok(Applied::default()),
    };
    let settled = invoices::record_fact_in(
        a.conn().await?,
        &event.shop_uid,
        inv.id,
        &fact,
        event.created_at,
    )
    .await?
    .ok_or_else(|| Error::NotFound(format!("invoice {}", inv.id)))?;
    let mut derived = Vec::new();
    if settled.newly_paid {
        derived.push((
            "invoice.paid",
            serde_json::json!({ "invoice_id": inv.id, "via": "webhook", "source_event": event.id }),
        ));
    }
    if let Some(total) = settled.refunded_to {
        derived.push((
            "invoice.refunded",
            serde_json::json!({ "invoice_id": inv.id, "refunded_minor": total,
                                "full": total >= inv.total_minor, "source_event": event.id }),
        ));
    }
    if settled.before != settled.after {
        match settled.after {
            InvoiceStatus::Failed => derived.push((
                "invoice.failed",
                serde_json::json!({ "invoice_id": inv.id, "source_event": event.id }),
            )),
            InvoiceStatus::Expired => derived.push((
                "invoice.expired",
                serde_json::json!({ "invoice_id": inv.id, "source_event": event.id }),
            )),
            _ => {}
        }
    }
    let renewal =
        r.kind == "invoice.paid" && p["data"]["object"]["billing_reason"] == "subscription_cycle";
    let mut rows = Vec::new();
    if let (Effect::Refunded(_), true) = (r.effect, settled.newly_paid) {
        // The refund came before the payment's own event: the payment is recorded now, so
        // the feed has it whatever the order.
        rows.push(("succeeded", r.amount));
    }
    match r.effect {
        Effect::Paid if settled.newly_paid || renewal => rows.push(("succeeded", r.amount)),
        Effect::Failed => rows.push(("failed", r.amount)),
        Effect::Refunded(_) => {
            if let Some(total) = settled.refunded_to {
                rows.push(("refunded", total - inv.refunded_minor));
            }
        }
        _ => {}
    }
    let mut applied = Applied::default();
    let mut reuse = late.flatten();
    for (outcome, amount) in rows {
        match reuse.take() {
            Some(row) => {
                payments::match_in(a.conn().await?, row, inv.id, outcome, amount).await?;
                applied.payment = Some(PaymentApplied {
                    outcome,
                    amount: Money::new(amount, r.currency.clone()),
                    invoice: Some((inv.number, inv.customer_phone.clone())),
                    expected: Some(Money::new(inv.total_minor, inv.currency.clone())),
                });
            }
            None => {
                let one = a.payment(
                    event,
                    r.provider,
                    Some(inv),
                    outcome,
                    amount,
                    r.currency.clone(),
                );
                applied.payment = one.payment;
            }
        }
    }
    if let Some(row) = reuse {
        payments::delete_in(a.conn().await?, row).await?;
    }
    applied.derived = derived;
    Ok(applied)
}

impl Applier<'_> {
    /// A provider event kept for the feed but not applied: `outcome` says why (`mismatch`,
    /// `wrong_provider`, `test_mode`); the row carries what the event claimed.
    fn noted(
        &mut self,
        event: &Event,
        r: &Reading<'_>,
        invoice: Option<&invoices::InvoiceRow>,
        outcome: &'static str,
    ) -> Applied {
        let amount = match r.effect {
            Effect::Refunded(total) => total,
            _ => r.amount,
        };
        self.payment(
            event,
            r.provider,
            invoice,
            outcome,
            amount,
            r.currency.clone(),
        )
    }

    /// Holds a payment row (written in a batch) and reports it.
    fn payment(
        &mut self,
        event: &Event,
        provider: &'static str,
        invoice: Option<&invoices::InvoiceRow>,
        outcome: &'static str,
        amount: i64,
        currency: String,
    ) -> Applied {
        self.payments.push(payments::Payment {
            shop: event.shop_uid.clone(),
            invoice_id: invoice.map(|i| i.id),
            provider,
            outcome,
            amount_minor: amount,
            currency: currency.clone(),
            occurred_at: event.created_at,
            source_event: Some(event.id),
        });
        Applied {
            payment: Some(PaymentApplied {
                outcome,
                amount: Money::new(amount, currency),
                invoice: invoice.map(|i| (i.number, i.customer_phone.clone())),
                expected: invoice.map(|i| Money::new(i.total_minor, i.currency.clone())),
            }),
            ..Applied::default()
        }
    }
}
