//! The CRM: one lead per customer (phone in E.164), a stage of the shop's pipeline (editable),
//! tags, custom fields and a history. Leads are projections of the event log: each event of a
//! kind the rules listen to runs the matching rules, in order, once (a run is recorded per
//! rule and event, so applying an event again changes nothing) — the relay and every desk hold
//! the same leads. The shipped rules:
//!
//! - on successful payment → stage Paid, tag `paid`, `lastPayment` = the amount,
//!   `lifetimeValue` grows by it, and every notification channel that is on is told;
//! - on an invoice sent → stage Awaiting payment;
//! - on reminders exhausted → tag `payment_abandoned`, stage Abandoned;
//! - on a failed payment → tag `payment_failed`.
//!
//! Actions with effects outside the lead — notify, message the customer, hand off — become
//! durable jobs (the relay runs them; their key names the event, the rule and the action, so
//! each happens once) or, for the desktop channel, a note the desk shows when it applies the
//! event. Moving an order on the Ready-to-ship board moves its lead to Ready to ship, Shipped
//! or Delivered; a rep may move a lead or tag it by hand (`lead.changed`).

use crate::storage::Conn;
use serde_json::{json, Value};
use ziflow_protocol::automation::CHANNELS;

use crate::notify::{self, DesktopNote, NotifyWork};
use crate::storage::events::Event;
use crate::storage::leads;
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

/// Stages the shop's flow moves leads to by itself (a pipeline keeps them).
pub const FLOW_STAGES: &[&str] = &[
    "New",
    "Awaiting payment",
    "Paid",
    "Ready to ship",
    "Shipped",
    "Delivered",
    "Abandoned",
];

pub use ziflow_protocol::automation::{Condition, Rule, RuleAction, Source, Trigger};

/// The job that messages a customer for a rule.
pub const MESSAGE_KIND: &str = "crm.message";

/// The job that hands a conversation to a person for a rule.
pub const HANDOFF_KIND: &str = "crm.handoff";

/// A `crm.message` job's payload: the text a rule sends the customer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleMessage {
    /// The customer's phone.
    pub to: String,
    /// The message, its variables filled in.
    pub text: String,
}

/// A `crm.handoff` job's payload: the conversation a rule hands to a person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleHandoff {
    /// The customer's phone.
    pub phone: String,
    /// Why, as the rule says.
    pub reason: String,
}

/// A durable job an event's rules call for: (kind, idempotency key, payload).
pub type JobSpec = (&'static str, String, Value);

/// What the rules did beyond the lead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Jobs for the relay to enqueue.
    pub jobs: Vec<JobSpec>,
    /// Desktop notifications for desks to show.
    pub notes: Vec<DesktopNote>,
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
                RuleAction::Notify {
                    channels: Vec::new(),
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

fn refuse<T>(why: String) -> Result<T> {
    Err(Error::InvalidInput(why))
}

/// Checks rules the owner saves against the shop's `stages`.
pub fn check_rules(rules: &[Rule], stages: &[String]) -> Result<()> {
    let mut ids = std::collections::HashSet::new();
    let known = |s: &str| stages.iter().any(|k| k == s);
    for r in rules {
        if r.id.trim().is_empty() || !ids.insert(r.id.as_str()) {
            return refuse(format!(
                "each rule needs its own id; {:?} is empty or repeated",
                r.id
            ));
        }
        if r.id.chars().any(char::is_control) {
            return refuse(format!(
                "a rule's id is one line of text, without control characters: {:?}",
                r.id
            ));
        }
        let name = format!("rule \"{}\" ({})", r.id, r.on.label());
        if r.actions.is_empty() {
            return refuse(format!("{name} does nothing: add an action"));
        }
        if let Some(s) = r.when.as_ref().and_then(|c| c.stage_is.as_deref()) {
            if !known(s) {
                return refuse(format!("{name}: {s:?} is not a stage of the pipeline"));
            }
        }
        if r.when
            .as_ref()
            .and_then(|c| c.amount_at_least)
            .is_some_and(|a| a < 0)
        {
            return refuse(format!("{name}: an amount is not negative"));
        }
        if r.when
            .as_ref()
            .and_then(|c| c.has_tag.as_deref())
            .is_some_and(|t| t.trim().is_empty() || t.chars().any(char::is_control))
        {
            return refuse(format!(
                "{name}: the condition's tag is empty or has control characters"
            ));
        }
        for a in &r.actions {
            match a {
                RuleAction::SetStage { stage } if !known(stage) => {
                    return refuse(format!(
                        "{name}: {stage:?} is not a stage; stages: {}",
                        stages.join(", ")
                    ))
                }
                RuleAction::AddTag { tag } | RuleAction::RemoveTag { tag }
                    if tag.trim().is_empty() =>
                {
                    return refuse(format!("{name}: an empty tag"))
                }
                RuleAction::AddTag { tag } | RuleAction::RemoveTag { tag }
                    if tag.chars().any(char::is_control) =>
                {
                    return refuse(format!(
                        "{name}: a tag is one line of text, without control characters: {tag:?}"
                    ))
                }
                RuleAction::SetField { name: field, .. } | RuleAction::AddToField { name: field }
                    if field.is_empty()
                        || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    return refuse(format!(
                        "{name}: a field name is letters, digits and _ (like lastPayment), not {field:?}"
                    ))
                }
                RuleAction::Notify { channels } => {
                    if let Some(c) = channels.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
                        return refuse(format!(
                            "{name}: there is no {c:?} channel; channels: {}",
                            CHANNELS.join(", ")
                        ));
                    }
                }
                RuleAction::SendMessage { text } => {
                    if let Err(e) = crate::template::Template::parse(text, notify::VARIABLES) {
                        return refuse(format!("{name}: the message: {e}"));
                    }
                }
                RuleAction::Handoff { .. } if r.on == Trigger::Handoff => {
                    return refuse(format!(
                        "{name}: a hand-off rule cannot hand off again (it would run on itself)"
                    ))
                }
                RuleAction::Handoff { reason } if reason.trim().is_empty() => {
                    return refuse(format!("{name}: say why the person takes over"))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The shop's rules (its own, else the shipped ones).
pub async fn rules_in(conn: &mut Conn, shop: &str) -> Result<Vec<Rule>> {
    Ok(crate::storage::settings::get_in(conn, shop, "automations")
        .await?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(default_rules))
}

/// The shop's pipeline (its own, else [`STAGES`]).
pub async fn stages_in(conn: &mut Conn, shop: &str) -> Result<Vec<String>> {
    Ok(crate::storage::settings::get_in(conn, shop, "pipeline")
        .await?
        .and_then(|t| serde_json::from_str::<Vec<String>>(&t).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| STAGES.iter().map(|s| s.to_string()).collect()))
}

/// Checks a pipeline the owner saves: named stages, none twice, the flow's own stages kept,
/// and no stage dropped that a rule or a lead still uses.
pub async fn check_pipeline(conn: &mut Conn, shop: &str, stages: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in stages {
        let t = s.trim();
        if t.is_empty() || t.chars().count() > 40 || t != s {
            return refuse(format!(
                "a stage has a name of 1 to 40 characters without spaces around it, not {s:?}"
            ));
        }
        if !seen.insert(t.to_lowercase()) {
            return refuse(format!("{t:?} is in the pipeline twice"));
        }
    }
    if let Some(m) = FLOW_STAGES.iter().find(|f| !stages.iter().any(|s| s == *f)) {
        return refuse(format!(
            "{m:?} stays: ZiFlow moves leads there by itself (stages that stay: {})",
            FLOW_STAGES.join(", ")
        ));
    }
    let used_by_rules: Vec<String> = rules_in(conn, shop)
        .await?
        .iter()
        .flat_map(|r| {
            let mut used: Vec<String> = r
                .actions
                .iter()
                .filter_map(|a| match a {
                    RuleAction::SetStage { stage } => Some(stage.clone()),
                    _ => None,
                })
                .collect();
            used.extend(r.when.as_ref().and_then(|c| c.stage_is.clone()));
            used
        })
        .collect();
    if let Some(s) = used_by_rules.iter().find(|s| !stages.contains(s)) {
        return refuse(format!(
            "{s:?} stays: an automation rule uses it (change the rule first)"
        ));
    }
    let in_use = leads::stage_counts_in(conn, shop).await?;
    if let Some((s, n)) = in_use.iter().find(|(s, _)| !stages.contains(s)) {
        return refuse(format!(
            "{s:?} stays: {n} lead(s) are in it (move them first)"
        ));
    }
    Ok(())
}

/// An invoice an event is about: number, total, currency, pay link.
type InvoiceFacts = (i64, i64, String, Option<String>);

/// The customer an event is about, and its invoice, if any.
async fn subject(
    conn: &mut Conn,
    event: &Event,
    body: &ziflow_protocol::Event,
) -> Result<Option<(String, Option<InvoiceFacts>)>> {
    use ziflow_protocol::Event as E;
    if let E::WhatsappMessage(_) | E::ConversationHandoff(_) | E::LeadChanged(_) = body {
        return Ok(body.phone().map(|phone| (phone, None)));
    }
    let Some(id) = body.invoice_id() else {
        return Ok(None);
    };
    let invoice = crate::storage::invoices::get_in(conn, &event.shop_uid, id).await?;
    Ok(invoice.map(|i| {
        let facts = (i.number, i.total_minor, i.currency, i.pay_link);
        (i.customer_phone, Some(facts))
    }))
}

/// Adds a line to a lead's history.
pub async fn history(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
    event: &Event,
    rule: Option<&str>,
    what: &str,
) -> Result<()> {
    leads::history_in(conn, shop, phone, event.id, rule, what, event.created_at).await
}

/// Whether events of `kind` can change a lead (others skip the CRM entirely).
pub fn listens_to(kind: &str) -> bool {
    kind == "order.stage_changed" || kind == "lead.changed" || Trigger::of(kind).is_some()
}

/// The lead's stage and tags.
async fn stage_and_tags(conn: &mut Conn, shop: &str, phone: &str) -> Result<(String, Vec<String>)> {
    let (stage, tags) = leads::stage_and_tags_in(conn, shop, phone).await?;
    Ok((stage, serde_json::from_str(&tags).unwrap_or_default()))
}

/// Runs the rules `event` triggers (the projection calls this after applying it).
pub async fn apply(
    conn: &mut Conn,
    event: &Event,
    body: &ziflow_protocol::Event,
) -> Result<Effects> {
    use ziflow_protocol::Event as E;
    match body {
        E::OrderStageChanged(moved) => {
            order_moved(conn, event, body, moved).await?;
            return Ok(Effects::default());
        }
        E::LeadChanged(change) => {
            lead_changed(conn, event, change).await?;
            return Ok(Effects::default());
        }
        _ => {}
    }
    let Some(trigger) = Trigger::of(&event.kind) else {
        return Ok(Effects::default());
    };
    let Some((phone, invoice)) = subject(conn, event, body).await? else {
        return Ok(Effects::default());
    };
    let shop = event.shop_uid.as_str();
    leads::ensure_in(conn, shop, &phone, event.created_at).await?;
    let mut effects = Effects::default();
    for rule in rules_in(conn, shop).await? {
        if rule.on != trigger {
            continue;
        }
        let (stage, tags) = stage_and_tags(conn, shop, &phone).await?;
        if !leads::first_run_in(conn, shop, &rule.id, event.id).await? {
            continue; // this rule was already weighed for this event
        }
        if let Some(c) = &rule.when {
            let amount = invoice.as_ref().map(|(_, t, _, _)| *t);
            if c.amount_at_least
                .is_some_and(|min| amount.is_none_or(|a| a < min))
                || c.has_tag.as_ref().is_some_and(|t| !tags.contains(t))
                || c.stage_is.as_ref().is_some_and(|s| *s != stage)
            {
                continue;
            }
        }
        let ctx = Run {
            shop,
            phone: &phone,
            event,
            body,
            invoice: invoice.as_ref(),
            trigger,
            rule: &rule.id,
        };
        let mut done = Vec::new();
        for (i, action) in rule.actions.iter().enumerate() {
            done.push(run_action(conn, &ctx, i, action, &mut effects).await?);
        }
        let what = format!("{}: {}", trigger.label(), done.join(", "));
        history(conn, shop, &phone, event, Some(&rule.id), &what).await?;
    }
    Ok(effects)
}

/// One rule's run on one event.
struct Run<'a> {
    shop: &'a str,
    phone: &'a str,
    event: &'a Event,
    body: &'a ziflow_protocol::Event,
    invoice: Option<&'a InvoiceFacts>,
    trigger: Trigger,
    rule: &'a str,
}

impl Run<'_> {
    /// The variables a notification or a message may use, as of now.
    async fn vars(&self, conn: &mut Conn) -> Result<Vec<(&'static str, String)>> {
        let (shop_name, name) =
            crate::storage::conversations::names_in(conn, self.shop, self.phone).await?;
        let (stage, _) = stage_and_tags(conn, self.shop, self.phone).await?;
        let shown = ziflow_protocol::display_phone(self.phone);
        use ziflow_protocol::Event as E;
        let text = match self.body {
            E::WhatsappMessage(m) => m.message().text.and_then(|t| t.body),
            _ => None,
        }
        .unwrap_or_default();
        let reason = match self.body {
            E::ConversationHandoff(h) => h.reason.clone(),
            E::InvoiceSendFailed(f) => f.reason.clone(),
            E::InvoiceFailed(c) | E::InvoiceExpired(c) => c.reason.clone(),
            _ => None,
        };
        let (order, amount, link) = match self.invoice {
            Some((n, total, cur, link)) => (
                n.to_string(),
                ziflow_protocol::Money::new(*total, cur.clone()).display(),
                link.clone().unwrap_or_default(),
            ),
            None => Default::default(),
        };
        Ok(vec![
            ("amount", amount),
            ("name", name.unwrap_or_else(|| shown.clone())),
            ("phone", shown),
            ("order", order),
            ("text", text),
            ("reason", reason.unwrap_or_default()),
            ("stage", stage),
            ("link", link),
            ("shop", shop_name),
        ])
    }

    fn key(&self, action: usize, what: &str) -> String {
        format!(
            "ziflow-{}-ev{}-{}-a{action}-{what}",
            self.shop, self.event.id, self.rule
        )
    }
}

async fn run_action(
    conn: &mut Conn,
    run: &Run<'_>,
    index: usize,
    action: &RuleAction,
    effects: &mut Effects,
) -> Result<String> {
    let (shop, phone, event, invoice) = (run.shop, run.phone, run.event, run.invoice);
    let (change, arg, said): (leads::Change, Value, String) = match action {
        RuleAction::SetStage { stage } => {
            (leads::Change::Stage, json!(stage), format!("stage {stage}"))
        }
        RuleAction::AddTag { tag } => (leads::Change::AddTag, json!(tag), format!("tag {tag}")),
        RuleAction::RemoveTag { tag } => {
            (leads::Change::RemoveTag, json!(tag), format!("untag {tag}"))
        }
        RuleAction::SetField { name, from } => {
            let value = match (from, invoice) {
                (Source::Amount, Some((_, total, cur, _))) => {
                    json!({"minor": total, "currency": cur})
                }
                (Source::Order, Some((n, _, _, _))) => json!(n),
                (Source::Date, _) => json!(event.created_at),
                (_, None) => return Ok(format!("{name} not set (no invoice)")),
            };
            let said = match (from, invoice) {
                (Source::Amount, Some((_, total, cur, _))) => format!(
                    "{name} = {}",
                    ziflow_protocol::Money::new(*total, cur.clone()).display()
                ),
                _ => format!("{name} = {value}"),
            };
            leads::set_field_in(
                conn,
                shop,
                phone,
                name,
                &value.to_string(),
                event.created_at,
            )
            .await?;
            return Ok(said);
        }
        RuleAction::AddToField { name } => {
            let Some((_, total, cur, _)) = invoice else {
                return Ok(format!("{name} unchanged (no invoice)"));
            };
            leads::add_to_field_in(conn, shop, phone, name, *total, cur, event.created_at).await?;
            return Ok(format!(
                "{name} + {}",
                ziflow_protocol::Money::new(*total, cur.clone()).display()
            ));
        }
        RuleAction::Notify { channels } => {
            let settings = notify::settings_in(conn, shop).await?;
            let chosen: Vec<&str> = if channels.is_empty() {
                CHANNELS
                    .into_iter()
                    .filter(|c| settings.enabled(c))
                    .collect()
            } else {
                channels.iter().map(String::as_str).collect()
            };
            if chosen.is_empty() {
                return Ok("notify: no channel is on".into());
            }
            let vars = run.vars(conn).await?;
            let text = notify::render(&notify::template_in(conn, shop, run.trigger).await?, &vars);
            for c in &chosen {
                if *c == "desktop" {
                    effects.notes.push(DesktopNote {
                        title: match run.trigger {
                            Trigger::PaymentSucceeded => "Payment received".into(),
                            t => t.label().into(),
                        },
                        body: text.clone(),
                        order: invoice.map(|(n, _, _, _)| *n),
                    });
                    continue;
                }
                let work = NotifyWork {
                    channel: c.to_string(),
                    text: text.clone(),
                    phone: Some(phone.to_string()),
                    subject: format!(
                        "{} — {}",
                        run.trigger.label(),
                        ziflow_protocol::display_phone(phone)
                    ),
                };
                effects.jobs.push((
                    notify::KIND,
                    run.key(index, c),
                    serde_json::to_value(&work)
                        .map_err(|e| Error::InvalidInput(format!("notification: {e}")))?,
                ));
            }
            let labels: Vec<&str> = chosen
                .iter()
                .map(|c| ziflow_protocol::automation::channel_label(c))
                .collect();
            return Ok(format!("notify {}", labels.join(", ")));
        }
        RuleAction::SendMessage { text } => {
            let vars = run.vars(conn).await?;
            let body = notify::render(text, &vars);
            effects.jobs.push((
                MESSAGE_KIND,
                run.key(index, "message"),
                serde_json::to_value(RuleMessage {
                    to: phone.to_string(),
                    text: body,
                })
                .map_err(|e| Error::InvalidInput(format!("rule message: {e}")))?,
            ));
            return Ok("message the customer".into());
        }
        RuleAction::Handoff { reason } => {
            effects.jobs.push((
                HANDOFF_KIND,
                run.key(index, "handoff"),
                serde_json::to_value(RuleHandoff {
                    phone: phone.to_string(),
                    reason: reason.clone(),
                })
                .map_err(|e| Error::InvalidInput(format!("rule handoff: {e}")))?,
            ));
            return Ok("hand off to a person".into());
        }
    };
    leads::change_in(
        conn,
        change,
        arg.as_str().unwrap_or_default(),
        event.created_at,
        shop,
        phone,
    )
    .await?;
    Ok(said)
}

/// A rep moved a lead or tagged it by hand.
async fn lead_changed(
    conn: &mut Conn,
    event: &Event,
    changed: &ziflow_protocol::event::LeadChanged,
) -> Result<()> {
    let phone = changed.phone.as_str();
    let shop = event.shop_uid.as_str();
    leads::ensure_in(conn, shop, phone, event.created_at).await?;
    let mut done = Vec::new();
    for (value, change, verb) in [
        (&changed.stage, leads::Change::Stage, "stage"),
        (&changed.add_tag, leads::Change::AddTag, "tag"),
        (&changed.remove_tag, leads::Change::RemoveTag, "untag"),
    ] {
        if let Some(value) = value {
            leads::change_in(conn, change, value, event.created_at, shop, phone).await?;
            done.push(format!("{verb} {value}"));
        }
    }
    let what = format!("Changed by hand: {}", done.join(", "));
    history(conn, shop, phone, event, None, &what).await
}

/// The board moved an order: its lead follows (Ready to ship, Shipped, Delivered).
async fn order_moved(
    conn: &mut Conn,
    event: &Event,
    body: &ziflow_protocol::Event,
    moved: &ziflow_protocol::event::OrderStageChanged,
) -> Result<()> {
    let stage = match moved.to.as_str() {
        "ready_to_ship" => "Ready to ship",
        "shipped" => "Shipped",
        "delivered" => "Delivered",
        _ => return Ok(()),
    };
    let Some((phone, Some((number, _, _, _)))) = subject(conn, event, body).await? else {
        return Ok(());
    };
    let shop = event.shop_uid.as_str();
    if !leads::first_run_in(conn, shop, "board", event.id).await? {
        return Ok(());
    }
    leads::ensure_in(conn, shop, &phone, event.created_at).await?;
    leads::change_in(
        conn,
        leads::Change::Stage,
        stage,
        event.created_at,
        shop,
        &phone,
    )
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

/// A lead in the list: phone, the customer's name, stage, tags, fields, last change.
pub type LeadSummary = (String, Option<String>, String, Vec<String>, Value, i64);

/// The shop's leads, most recently changed first.
pub async fn list(db: &crate::Db, shop: &str) -> Result<Vec<LeadSummary>> {
    Ok(leads::list(db, shop)
        .await?
        .into_iter()
        .map(|(phone, name, stage, tags, fields, at)| {
            (
                phone,
                name,
                stage,
                serde_json::from_str(&tags).unwrap_or_default(),
                serde_json::from_str(&fields).unwrap_or(Value::Null),
                at,
            )
        })
        .collect())
}

/// The lead of `phone`, if there is one.
pub async fn lead(db: &crate::Db, shop: &str, phone: &str) -> Result<Option<Lead>> {
    let Some(((stage, tags, fields), history)) = leads::get(db, shop, phone).await? else {
        return Ok(None);
    };
    Ok(Some(Lead {
        phone: phone.to_string(),
        stage,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        fields: serde_json::from_str(&fields).unwrap_or(Value::Null),
        history,
    }))
}
