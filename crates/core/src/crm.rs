//! The CRM: one lead per customer (phone in E.164), a stage of the shop's pipeline, tags,
//! custom fields and a history. Leads are projections of the event log: each event of a kind
//! the rules listen to runs the matching rules, in order, once (a run is recorded per rule and
//! event, so applying an event again changes nothing) — the relay and every desk hold the same
//! leads. The shipped rules:
//!
//! - on successful payment → stage Paid, tag `paid`, `lastPayment` = the amount, and
//!   `lifetimeValue` grows by it;
//! - on an invoice sent → stage Awaiting payment;
//! - on reminders exhausted → tag `payment_abandoned`, stage Abandoned;
//! - on a failed payment → tag `payment_failed`.
//!
//! Moving an order on the Ready-to-ship board moves its lead to Ready to ship, Shipped or
//! Delivered.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::SqliteConnection;

use crate::storage::events::Event;
use crate::{Error, Result};

/// The default pipeline, in order.
pub const STAGES: &[&str] = &[
    "New",
    "Quoted",
    "Awaiting payment",
    "Paid",
    "Ready to ship",
    "Shipped",
    "Delivered",
    "Abandoned",
];

/// What a rule listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `invoice.paid`.
    PaymentSucceeded,
    /// `invoice.failed`.
    PaymentFailed,
    /// `invoice.sent`.
    InvoiceSent,
    /// `invoice.expired`.
    LinkExpired,
    /// `invoice.abandoned` (the last reminder passed unpaid).
    ReminderExhausted,
    /// `whatsapp.message` from the customer.
    MessageReceived,
    /// `conversation.handoff`.
    Handoff,
}

impl Trigger {
    fn of(kind: &str) -> Option<Self> {
        Some(match kind {
            "invoice.paid" => Self::PaymentSucceeded,
            "invoice.failed" => Self::PaymentFailed,
            "invoice.sent" => Self::InvoiceSent,
            "invoice.expired" => Self::LinkExpired,
            "invoice.abandoned" => Self::ReminderExhausted,
            "whatsapp.message" => Self::MessageReceived,
            "conversation.handoff" => Self::Handoff,
            _ => return None,
        })
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The invoice's amount (`{"minor": 12800, "currency": "USD"}`).
    Amount,
    /// The event's time (Unix seconds).
    Date,
    /// The invoice number.
    Order,
}

/// What a rule does to the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum RuleAction {
    /// Move the lead to a stage.
    SetStage {
        /// The stage.
        stage: String,
    },
    /// Add a tag.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    RemoveTag {
        /// The tag.
        tag: String,
    },
    /// Set a custom field from the event.
    SetField {
        /// The field.
        name: String,
        /// The value's source.
        from: Source,
    },
    /// Add the event's amount to a custom field (a running total).
    AddToField {
        /// The field.
        name: String,
    },
}

/// A rule only for some events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The invoice's amount is at least this (minor units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_at_least: Option<i64>,
    /// The lead has this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_tag: Option<String>,
    /// The lead is in this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_is: Option<String>,
}

/// "On EVENT [if CONDITION] → ACTIONS".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable id (its runs are recorded under it).
    pub id: String,
    /// The event.
    pub on: Trigger,
    /// Only when this holds.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// In order.
    pub actions: Vec<RuleAction>,
}

/// The rules a shop starts with.
pub fn default_rules() -> Vec<Rule> {
    let stage = |s: &str| RuleAction::SetStage { stage: s.into() };
    let tag = |t: &str| RuleAction::AddTag { tag: t.into() };
    vec![
        Rule {
            id: "payment-succeeded".into(),
            on: Trigger::PaymentSucceeded,
            when: None,
            actions: vec![
                stage("Paid"),
                tag("paid"),
                RuleAction::SetField {
                    name: "lastPayment".into(),
                    from: Source::Amount,
                },
                RuleAction::AddToField {
                    name: "lifetimeValue".into(),
                },
            ],
        },
        Rule {
            id: "invoice-sent".into(),
            on: Trigger::InvoiceSent,
            when: None,
            actions: vec![stage("Awaiting payment")],
        },
        Rule {
            id: "reminders-exhausted".into(),
            on: Trigger::ReminderExhausted,
            when: None,
            actions: vec![tag("payment_abandoned"), stage("Abandoned")],
        },
        Rule {
            id: "payment-failed".into(),
            on: Trigger::PaymentFailed,
            when: None,
            actions: vec![tag("payment_failed")],
        },
    ]
}

/// Checks rules the owner saves.
pub fn check_rules(rules: &[Rule]) -> Result<()> {
    let mut ids = std::collections::HashSet::new();
    for r in rules {
        if r.id.trim().is_empty() || !ids.insert(r.id.as_str()) {
            return Err(Error::InvalidInput(format!(
                "each rule needs its own id; {:?} is empty or repeated",
                r.id
            )));
        }
        if r.actions.is_empty() {
            return Err(Error::InvalidInput(format!("rule {} does nothing", r.id)));
        }
        for a in &r.actions {
            match a {
                RuleAction::SetStage { stage } if !STAGES.contains(&stage.as_str()) => {
                    return Err(Error::InvalidInput(format!(
                        "rule {}: {stage:?} is not a stage; stages: {}",
                        r.id,
                        STAGES.join(", ")
                    )))
                }
                RuleAction::AddTag { tag } | RuleAction::RemoveTag { tag }
                    if tag.trim().is_empty() =>
                {
                    return Err(Error::InvalidInput(format!("rule {}: an empty tag", r.id)))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

async fn rules_in(conn: &mut SqliteConnection, shop: &str) -> Result<Vec<Rule>> {
    Ok(crate::storage::settings::get_in(conn, shop, "automations")
        .await?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(default_rules))
}

/// The customer an event is about, and its invoice (number, amount), if any.
async fn subject(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Option<(String, Option<(i64, i64, String)>)>> {
    if event.kind == "whatsapp.message" {
        return Ok(p["from"].as_str().map(|f| (format!("+{f}"), None)));
    }
    if event.kind == "conversation.handoff" {
        return Ok(p["phone"].as_str().map(|ph| (ph.to_string(), None)));
    }
    let Some(id) = p["invoice_id"].as_i64() else {
        return Ok(None);
    };
    let row: Option<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT customer_phone, number, total_minor, currency FROM invoices
         WHERE shop_uid = ? AND id = ?",
    )
    .bind(&event.shop_uid)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(phone, n, total, cur)| (phone, Some((n, total, cur)))))
}

async fn ensure_lead(conn: &mut SqliteConnection, shop: &str, phone: &str, at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO leads (shop_uid, phone, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(shop)
    .bind(phone)
    .bind(at)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn history(
    conn: &mut SqliteConnection,
    shop: &str,
    phone: &str,
    event: &Event,
    rule: Option<&str>,
    what: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO lead_history (shop_uid, phone, event_id, rule, what, at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(shop)
    .bind(phone)
    .bind(event.id)
    .bind(rule)
    .bind(what)
    .bind(event.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether events of `kind` can change a lead (others skip the CRM entirely).
pub fn listens_to(kind: &str) -> bool {
    kind == "order.stage_changed" || Trigger::of(kind).is_some()
}

/// Runs the rules `event` triggers (the projection calls this after applying it).
pub async fn apply(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<()> {
    if event.kind == "order.stage_changed" {
        return order_moved(conn, event, p).await;
    }
    let Some(trigger) = Trigger::of(&event.kind) else {
        return Ok(());
    };
    let Some((phone, invoice)) = subject(conn, event, p).await? else {
        return Ok(());
    };
    let shop = event.shop_uid.as_str();
    ensure_lead(conn, shop, &phone, event.created_at).await?;
    for rule in rules_in(conn, shop).await? {
        if rule.on != trigger {
            continue;
        }
        let (stage, tags): (String, String) =
            sqlx::query_as("SELECT stage, tags FROM leads WHERE shop_uid = ? AND phone = ?")
                .bind(shop)
                .bind(&phone)
                .fetch_one(&mut *conn)
                .await?;
        let tags: Vec<String> = serde_json::from_str(&tags).unwrap_or_default();
        let first = sqlx::query(
            "INSERT INTO automation_runs (shop_uid, rule, event_id) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(shop)
        .bind(&rule.id)
        .bind(event.id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !first {
            continue; // this rule was already weighed for this event
        }
        if let Some(c) = &rule.when {
            let amount = invoice.as_ref().map(|(_, t, _)| *t);
            if c.amount_at_least
                .is_some_and(|min| amount.is_none_or(|a| a < min))
                || c.has_tag.as_ref().is_some_and(|t| !tags.contains(t))
                || c.stage_is.as_ref().is_some_and(|s| *s != stage)
            {
                continue;
            }
        }
        let mut done = Vec::new();
        for action in &rule.actions {
            done.push(run_action(conn, shop, &phone, event, invoice.as_ref(), action).await?);
        }
        let what = format!("{}: {}", describe(trigger), done.join(", "));
        history(conn, shop, &phone, event, Some(&rule.id), &what).await?;
    }
    Ok(())
}

fn describe(t: Trigger) -> &'static str {
    match t {
        Trigger::PaymentSucceeded => "Payment succeeded",
        Trigger::PaymentFailed => "Payment failed",
        Trigger::InvoiceSent => "Invoice sent",
        Trigger::LinkExpired => "Pay link expired",
        Trigger::ReminderExhausted => "Reminders exhausted",
        Trigger::MessageReceived => "Message received",
        Trigger::Handoff => "Handed to a person",
    }
}

async fn run_action(
    conn: &mut SqliteConnection,
    shop: &str,
    phone: &str,
    event: &Event,
    invoice: Option<&(i64, i64, String)>,
    action: &RuleAction,
) -> Result<String> {
    let (sql, arg, said): (&str, Value, String) = match action {
        RuleAction::SetStage { stage } => (
            "UPDATE leads SET stage = ?1, updated_at = ?2 WHERE shop_uid = ?3 AND phone = ?4",
            json!(stage),
            format!("stage {stage}"),
        ),
        RuleAction::AddTag { tag } => (
            "UPDATE leads SET tags = CASE WHEN EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?1)
                 THEN tags ELSE json_insert(tags, '$[#]', ?1) END, updated_at = ?2
             WHERE shop_uid = ?3 AND phone = ?4",
            json!(tag),
            format!("tag {tag}"),
        ),
        RuleAction::RemoveTag { tag } => (
            "UPDATE leads SET tags = (SELECT json_group_array(value) FROM json_each(tags)
                 WHERE value <> ?1), updated_at = ?2 WHERE shop_uid = ?3 AND phone = ?4",
            json!(tag),
            format!("untag {tag}"),
        ),
        RuleAction::SetField { name, from } => {
            let value = match (from, invoice) {
                (Source::Amount, Some((_, total, cur))) => json!({"minor": total, "currency": cur}),
                (Source::Order, Some((n, _, _))) => json!(n),
                (Source::Date, _) => json!(event.created_at),
                (_, None) => return Ok(format!("{name} not set (no invoice)")),
            };
            let said = match (from, invoice) {
                (Source::Amount, Some((_, total, cur))) => format!(
                    "{name} = {}",
                    ziflow_protocol::Money::new(*total, cur.clone()).display()
                ),
                _ => format!("{name} = {value}"),
            };
            sqlx::query(
                "UPDATE leads SET fields = json_set(fields, '$.' || ?1, json(?2)), updated_at = ?3
                 WHERE shop_uid = ?4 AND phone = ?5",
            )
            .bind(name)
            .bind(value.to_string())
            .bind(event.created_at)
            .bind(shop)
            .bind(phone)
            .execute(&mut *conn)
            .await?;
            return Ok(said);
        }
        RuleAction::AddToField { name } => {
            let Some((_, total, cur)) = invoice else {
                return Ok(format!("{name} unchanged (no invoice)"));
            };
            sqlx::query(
                "UPDATE leads SET fields = json_set(fields, '$.' || ?1, json_object(
                     'minor', COALESCE(json_extract(fields, '$.' || ?1 || '.minor'), 0) + ?2,
                     'currency', ?3)), updated_at = ?4
                 WHERE shop_uid = ?5 AND phone = ?6",
            )
            .bind(name)
            .bind(total)
            .bind(cur)
            .bind(event.created_at)
            .bind(shop)
            .bind(phone)
            .execute(&mut *conn)
            .await?;
            return Ok(format!(
                "{name} + {}",
                ziflow_protocol::Money::new(*total, cur.clone()).display()
            ));
        }
    };
    let arg = arg.as_str().unwrap_or_default().to_string();
    sqlx::query(sql)
        .bind(&arg)
        .bind(event.created_at)
        .bind(shop)
        .bind(phone)
        .execute(&mut *conn)
        .await?;
    Ok(said)
}

/// The board moved an order: its lead follows (Ready to ship, Shipped, Delivered).
async fn order_moved(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<()> {
    let stage = match p["to"].as_str() {
        Some("ready_to_ship") => "Ready to ship",
        Some("shipped") => "Shipped",
        Some("delivered") => "Delivered",
        _ => return Ok(()),
    };
    let Some((phone, Some((number, _, _)))) = subject(conn, event, p).await? else {
        return Ok(());
    };
    let shop = event.shop_uid.as_str();
    let first = sqlx::query(
        "INSERT INTO automation_runs (shop_uid, rule, event_id) VALUES (?, 'board', ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(shop)
    .bind(event.id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !first {
        return Ok(());
    }
    ensure_lead(conn, shop, &phone, event.created_at).await?;
    sqlx::query("UPDATE leads SET stage = ?, updated_at = ? WHERE shop_uid = ? AND phone = ?")
        .bind(stage)
        .bind(event.created_at)
        .bind(shop)
        .bind(&phone)
        .execute(&mut *conn)
        .await?;
    let what = format!("Order #{number} moved to {stage}: stage {stage}");
    history(conn, shop, &phone, event, None, &what).await
}

/// A lead as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// E.164.
    pub phone: String,
    /// Pipeline stage.
    pub stage: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom fields.
    pub fields: Value,
    /// What happened, oldest first: (when, text).
    pub history: Vec<(i64, String)>,
}

/// The lead of `phone`, if there is one.
pub async fn lead(db: &crate::Db, shop: &str, phone: &str) -> Result<Option<Lead>> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT stage, tags, fields FROM leads WHERE shop_uid = ? AND phone = ?")
            .bind(shop)
            .bind(phone)
            .fetch_optional(db.pool())
            .await?;
    let Some((stage, tags, fields)) = row else {
        return Ok(None);
    };
    let history: Vec<(i64, String)> = sqlx::query_as(
        "SELECT at, what FROM lead_history WHERE shop_uid = ? AND phone = ? ORDER BY id",
    )
    .bind(shop)
    .bind(phone)
    .fetch_all(db.pool())
    .await?;
    Ok(Some(Lead {
        phone: phone.to_string(),
        stage,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        fields: serde_json::from_str(&fields).unwrap_or(Value::Null),
        history,
    }))
}
