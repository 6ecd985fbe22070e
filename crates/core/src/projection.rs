//! Projections: how each event changes the tables the screens read. The relay applies them in
//! the same transaction that appends the event; the desktop applies the same code to the
//! events it pulls, so its replica equals the relay's tables for its shop.
//!
//! Invariants: applying is deterministic (time comes from the event, never the clock) and
//! tolerant — an event whose payload this version cannot read is kept in the log and left
//! unprojected (logged), never a reason to refuse the transaction.

use crate::storage::Conn;
use ziflow_protocol::event as ev;

use crate::storage::conversations::{self, Direction};
use crate::storage::events::Event;
use crate::storage::invoices::{self, Fact, PaidVia};
use crate::storage::payments;
use crate::{Error, InvoiceStatus, Money, Result};

/// What applying an event did that someone may want to be told about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    /// A payment outcome that was recorded.
    pub payment: Option<PaymentApplied>,
    /// Invoice changes a provider event caused, as events to record (`invoice.paid` at most
    /// once per invoice, `invoice.failed`, `invoice.expired`, `invoice.refunded`). The relay's
    /// engine appends them to the log; applying them again changes nothing.
    pub derived: Vec<ev::Event>,
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
    /// The parts of the replica the event changed (see [`areas`]).
    pub areas: Vec<ziflow_protocol::Area>,
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
pub async fn apply(conn: &mut Conn, event: &Event) -> Result<Applied> {
    let mut applier = Applier::new(conn);
    let applied = applier.apply(event).await?;
    applier.finish().await?;
    Ok(applied)
}

/// [`apply`] for a replica: an event whose failure is lasting (see [`Error::lasting`]) is
/// undone and skipped (`Ok(None)`), so one such event never stops the rest of the log; other
/// failures are returned. The relay's engine quarantines the same events.
pub async fn apply_or_skip(conn: &mut Conn, event: &Event) -> Result<Option<Applied>> {
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

/// What a replica stored and applied from a page of its relay's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Events newly stored.
    pub events: usize,
    /// Payments those events recorded (for notifications).
    pub payments: Vec<PaymentApplied>,
    /// Desktop notifications the automation rules asked for.
    pub notes: Vec<crate::notify::DesktopNote>,
    /// What those events changed, by screen area (told to the window).
    pub areas: std::collections::BTreeSet<ziflow_protocol::Area>,
    /// The kinds of the events stored.
    pub kinds: std::collections::BTreeSet<String>,
    /// The customers whose conversation those events changed, as far as they say
    /// ([`customer`]).
    pub customers: std::collections::BTreeSet<String>,
    /// A conversation changed without its event naming the customer (a delivery tick).
    pub some_customer: bool,
    /// The newest event stored.
    pub newest: i64,
}

impl Pulled {
    /// Adds a later page's result.
    pub fn add(&mut self, later: Pulled) {
        self.events += later.events;
        self.payments.extend(later.payments);
        self.notes.extend(later.notes);
        self.areas.extend(later.areas);
        self.kinds.extend(later.kinds);
        self.customers.extend(later.customers);
        self.some_customer |= later.some_customer;
        self.newest = self.newest.max(later.newest);
    }

    /// What the window is told.
    pub fn changed(&self) -> ziflow_protocol::ReplicaChanged {
        ziflow_protocol::ReplicaChanged {
            areas: self.areas.iter().copied().collect(),
            newest: self.newest,
            kinds: self.kinds.iter().cloned().collect(),
            customers: (!self.some_customer).then(|| self.customers.iter().cloned().collect()),
        }
    }
}

/// A desktop replica takes in `events`, a page of its relay's log (oldest first), inside the
/// caller's transaction: each event not stored yet is stored under the relay's id and
/// applied. One the replica cannot apply (the relay quarantines such events too) is kept and
/// skipped, listed in Settings, and the sync goes on instead of stopping on it forever. Only
/// the projections run: the effects (jobs, derived events) are the relay's.
pub async fn apply_pulled(conn: &mut Conn, events: &[Event]) -> Result<Pulled> {
    let mut pulled = Pulled::default();
    for event in events {
        if !crate::storage::events::insert_replica(conn, event).await? {
            continue;
        }
        if let Some(applied) = apply_or_skip(conn, event).await? {
            pulled.payments.extend(applied.payment);
            pulled.notes.extend(applied.notes);
            if applied
                .areas
                .contains(&ziflow_protocol::Area::Conversations)
            {
                match ev::Event::parse(&event.kind, &event.payload)
                    .ok()
                    .and_then(|e| customer(&e))
                {
                    Some(phone) => {
                        pulled.customers.insert(phone);
                    }
                    None => pulled.some_customer = true,
                }
            }
            pulled.areas.extend(applied.areas);
        } else {
            pulled.areas.insert(ziflow_protocol::Area::Settings);
        }
        pulled.kinds.insert(event.kind.clone());
        pulled.events += 1;
        pulled.newest = pulled.newest.max(event.id);
    }
    Ok(pulled)
}

/// Applies many events in log order inside the caller's transaction. Plain inserts nothing
/// else reads back while applying (payments) are held and written as one multi-row statement
/// before the next statement of any other kind, and at [`Applier::finish`] — the tables end
/// up exactly as with one [`apply`] per event, with far fewer round trips to SQLite.
pub struct Applier<'c> {
    conn: &'c mut Conn,
    payments: Vec<payments::Payment>,
}

/// The customer (E.164) whose conversation `event` changes, when the event names them: a
/// message in or out, an opt-out, a hand-off, the bot switch. A delivery tick or a status
/// names only its message: `None`.
pub fn customer(event: &ev::Event) -> Option<String> {
    use ev::Event as E;
    match event {
        // As the projection keys the conversation.
        E::WhatsappMessage(m) => Some(format!("+{}", m.from)),
        E::MessageSent(m) => Some(m.to.clone()),
        E::ConversationOptedOut(p) => Some(p.phone.clone()),
        E::ConversationHandoff(p) => Some(p.phone.clone()),
        E::ConversationBotSet(p) => Some(p.phone.clone()),
        _ => None,
    }
}

/// The parts of the replica applying `event` may change (the desktop tells the window, whose
/// screens refetch only their part). A kind this version does not apply changes nothing but
/// what the CRM's rules do with it.
pub fn areas(event: &ev::Event) -> Vec<ziflow_protocol::Area> {
    use ev::Event as E;
    use ziflow_protocol::Area::*;
    let mut areas = match event {
        E::WhatsappMessage(_)
        | E::MessageSent(_)
        | E::MessageDelivery(_)
        | E::WhatsappStatus(_)
        | E::ConversationOptedOut(_)
        | E::ConversationHandoff(_)
        | E::ConversationBotSet(_) => vec![Conversations],
        E::InvoiceCreated(_)
        | E::InvoiceSent(_)
        | E::InvoiceSendFailed(_)
        | E::InvoiceReminded(_)
        | E::InvoiceAbandoned(_)
        | E::InvoiceFailed(_)
        | E::InvoiceExpired(_) => vec![Invoices],
        E::InvoicePaid(_) | E::InvoiceRefunded(_) => vec![Invoices, Payments, Board],
        E::OrderStageChanged(_) => vec![Board, Invoices],
        // Settings reach every screen (templates, pipeline, channels, notifications).
        E::SettingsChanged(_) => ziflow_protocol::Area::ALL.to_vec(),
        E::CatalogReplaced(_)
        | E::ScenarioChanged(_)
        | E::LlmChanged(_)
        | E::AgentTestSaved(_)
        | E::AgentTestDeleted(_) => vec![Agent],
        // Changing the payment provider expires the other provider's open links.
        E::BillingConnected(_) | E::BillingDisconnected(_) => vec![Settings, Agent, Invoices],
        E::RemindersChanged(_) | E::ChannelConnected(_) | E::ChannelDisconnected(_) => {
            vec![Settings, Agent]
        }
        // A notification about a customer is a line in their lead's history.
        E::NotificationResult(_) => vec![Notifications, Leads],
        E::Provider(_) => vec![Payments, Invoices, Board],
        // Leads follow below; the engine's notices and unknown kinds change no table.
        E::LeadChanged(_) | E::EngineQuarantined(_) | E::EngineReleased(_) | E::Unknown { .. } => {
            Vec::new()
        }
    };
    if crate::crm::listens_to(&event.kind()) {
        areas.push(Leads);
    }
    areas
}

impl<'c> Applier<'c> {
    /// An applier writing through `conn`.
    pub fn new(conn: &'c mut Conn) -> Self {
        Self {
            conn,
            payments: Vec::new(),
        }
    }

    /// Applies one event (the next in log order).
    pub async fn apply(&mut self, event: &Event) -> Result<Applied> {
        let body = match ev::Event::parse(&event.kind, &event.payload) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(id = event.id, kind = %event.kind, "event left unprojected: {e}");
                return Ok(Applied::default());
            }
        };
        let result = match &body {
            ev::Event::WhatsappMessage(m) => inbound_message(self.conn().await?, event, m).await,
            ev::Event::InvoicePaid(p) => invoice_paid(self.conn().await?, event, p).await,
            ev::Event::SettingsChanged(p) => crate::storage::settings::set_in(
                self.conn().await?,
                &event.shop_uid,
                &p.key,
                &p.value,
            )
            .await
            .map(|()| Applied::default()),
            ev::Event::InvoiceCreated(p) => invoice_created(self.conn().await?, event, p).await,
            ev::Event::InvoiceSent(p) => invoice_sent(self.conn().await?, event, p).await,
            ev::Event::CatalogReplaced(p) => catalog_replaced(self.conn().await?, event, p).await,
            ev::Event::BillingConnected(p) => billing_connected(self.conn().await?, event, p).await,
            ev::Event::BillingDisconnected(p) => {
                billing_disconnected(self.conn().await?, event, p).await
            }
            ev::Event::InvoiceSendFailed(p) => send_failed(self.conn().await?, event, p).await,
            ev::Event::MessageSent(p) => message_sent(self.conn().await?, event, p).await,
            ev::Event::MessageDelivery(p) => message_delivery(self.conn().await?, event, p).await,
            ev::Event::WhatsappStatus(p) => message_status(self.conn().await?, event, p).await,
            ev::Event::ConversationOptedOut(p) => opted_out(self.conn().await?, event, p).await,
            ev::Event::ScenarioChanged(p) => scenario_changed(self.conn().await?, event, p).await,
            ev::Event::AgentTestSaved(p) => agent_test_saved(self.conn().await?, event, p).await,
            ev::Event::AgentTestDeleted(p) => {
                crate::storage::agent_tests::delete_in(self.conn().await?, &event.shop_uid, p.id)
                    .await
                    .map(|_| Applied::default())
            }
            ev::Event::LlmChanged(p) => llm_changed(self.conn().await?, event, p).await,
            ev::Event::OrderStageChanged(p) => order_moved(self.conn().await?, event, p).await,
            ev::Event::InvoiceReminded(p) => reminded(self.conn().await?, event, p).await,
            ev::Event::InvoiceAbandoned(p) => abandoned(self.conn().await?, event, p).await,
            ev::Event::RemindersChanged(p) => reminders_changed(self.conn().await?, event, p).await,
            ev::Event::ChannelConnected(p) => channel_connected(self.conn().await?, event, p).await,
            ev::Event::ChannelDisconnected(_) => {
                channel_disconnected(self.conn().await?, event).await
            }
            ev::Event::ConversationHandoff(p) => handoff(self.conn().await?, event, p).await,
            ev::Event::NotificationResult(p) => {
                notification_result(self.conn().await?, event, p).await
            }
            ev::Event::ConversationBotSet(p) => bot_set(self.conn().await?, event, p).await,
            ev::Event::InvoiceFailed(p) => {
                invoice_fact(self.conn().await?, event, p.invoice_id, Fact::Failed).await
            }
            ev::Event::InvoiceExpired(p) => {
                invoice_fact(self.conn().await?, event, p.invoice_id, Fact::Expired).await
            }
            ev::Event::InvoiceRefunded(p) => {
                let fact = Fact::Refunded {
                    cumulative_minor: p.refunded_minor,
                    payment_ref: None,
                };
                invoice_fact(self.conn().await?, event, p.invoice_id, fact).await
            }
            ev::Event::Provider(p) => stripe_event(self, event, p).await,
            // Bookkeeping the screens read from the log itself, and kinds of a newer version.
            ev::Event::LeadChanged(_)
            | ev::Event::EngineQuarantined(_)
            | ev::Event::EngineReleased(_)
            | ev::Event::Unknown { .. } => Ok(Applied::default()),
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
            match crate::crm::apply(self.conn().await?, event, &body).await {
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
        result.areas = areas(&body);
        Ok(result)
    }

    /// Writes what is held. Must be called before the transaction commits.
    pub async fn finish(mut self) -> Result<()> {
        self.flush().await
    }

    /// The connection, with everything held written first (so reads see it).
    pub async fn conn(&mut self) -> Result<&mut Conn> {
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

async fn inbound_message(
    conn: &mut Conn,
    event: &Event,
    p: &ev::WhatsappMessage,
) -> Result<Applied> {
    let phone = format!("+{}", p.from);
    let msg = p.message();
    let kind = msg.kind();
    let body = match kind {
        "text" => msg.words().unwrap_or_default().to_string(),
        "interactive" => msg.words().unwrap_or("[interactive reply]").to_string(),
        "button" => msg.words().unwrap_or("[button]").to_string(),
        "location" => "[location]".to_string(),
        "image" | "audio" => format!("[{kind}]"),
        other => format!("[unsupported message: {other}]"),
    };
    let at = msg.sent_at().unwrap_or(event.created_at);
    let wamid = msg.id.as_deref();
    conversations::record_message_in(
        conn,
        &event.shop_uid,
        &phone,
        p.profile_name.as_deref(),
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

async fn invoice_created(
    conn: &mut Conn,
    event: &Event,
    p: &ev::InvoiceCreated,
) -> Result<Applied> {
    let new = invoices::NewInvoice {
        customer_phone: p.customer_phone.clone(),
        currency: p.currency.clone(),
        items: p.items.iter().map(invoices::LineItem::from).collect(),
        shipping_minor: p.shipping_minor,
        address: p.address.clone(),
        recurrence: match &p.subscription {
            Some(sub) => Some(crate::pay::Recurrence {
                unit: crate::pay::Unit::parse(&sub.unit).ok_or_else(|| {
                    Error::InvalidInput(format!("subscription unit {:?}", sub.unit))
                })?,
                count: sub.count,
                first_charge_at: sub.first_charge_at,
            }),
            None => None,
        },
    };
    invoices::insert_replica_in(
        conn,
        &event.shop_uid,
        p.invoice_id,
        p.number,
        &new,
        event.created_at,
    )
    .await?;
    Ok(Applied::default())
}

async fn invoice_sent(conn: &mut Conn, event: &Event, p: &ev::InvoiceSent) -> Result<Applied> {
    let link = invoices::PayLink {
        provider: p.provider.clone(),
        url: p.link.clone(),
        token: p.token.clone(),
        reference: p.reference.clone(),
        expires_at: p.expires_at,
    };
    invoices::send_in(conn, &event.shop_uid, p.invoice_id, &link, event.created_at).await?;
    Ok(Applied::default())
}

/// The shop's payment provider changed: the Billing screen reads these settings. The key
/// itself is never in the log, only its hint.
///
/// Links of the provider the shop left stop working at once: connecting Stripe expires the
/// open sandbox links (a customer can no longer "pay" with the sandbox), disconnecting it
/// expires the open Stripe links (the relay deactivated them at Stripe first and no longer
/// holds the secret that would verify their payments). Customers ask for a new link.
async fn billing_connected(
    conn: &mut Conn,
    event: &Event,
    p: &ev::BillingConnected,
) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    set_in(conn, shop, "billing.provider", &p.provider).await?;
    set_in(conn, shop, "billing.mode", &p.mode).await?;
    set_in(conn, shop, "billing.key_hint", &p.key_hint).await?;
    expire_links_of(conn, event, "sandbox").await
}

/// See [`billing_connected`].
async fn billing_disconnected(
    conn: &mut Conn,
    event: &Event,
    p: &ev::BillingDisconnected,
) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    set_in(conn, shop, "billing.provider", &p.provider).await?;
    set_in(conn, shop, "billing.mode", "").await?;
    set_in(conn, shop, "billing.key_hint", "").await?;
    set_in(conn, shop, "billing.webhook_secret_hint", "").await?;
    expire_links_of(conn, event, "stripe").await
}

/// Expires the open links of the provider the shop `left`.
async fn expire_links_of(conn: &mut Conn, event: &Event, left: &str) -> Result<Applied> {
    let shop = &event.shop_uid;
    for inv in invoices::open_links_in(conn, shop, left).await? {
        invoices::record_fact_in(conn, shop, inv.id, &Fact::Expired, event.created_at).await?;
    }
    Ok(Applied::default())
}

async fn catalog_replaced(
    conn: &mut Conn,
    event: &Event,
    p: &ev::CatalogReplaced,
) -> Result<Applied> {
    let catalog = crate::catalog::Catalog::parse(&p.0)?;
    crate::catalog::replace_in(conn, &event.shop_uid, &catalog).await?;
    Ok(Applied::default())
}

/// A message the shop sent (the bot or a rep): the conversation's thread shows it.
async fn message_sent(conn: &mut Conn, event: &Event, p: &ev::MessageSent) -> Result<Applied> {
    conversations::record_message_in(
        conn,
        &event.shop_uid,
        &p.to,
        None,
        Direction::Outbound,
        &p.text,
        event.created_at,
        &conversations::MessageMeta {
            event_id: Some(event.id),
            wamid: None,
            author: Some(&p.by),
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
    conn: &mut Conn,
    event: &Event,
    p: &ev::MessageDelivery,
) -> Result<Applied> {
    let wamid = p.wamid.as_deref();
    conversations::delivery_in(conn, &event.shop_uid, p.event_id, wamid, p.error.as_deref())
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
async fn message_status(conn: &mut Conn, event: &Event, p: &ev::WhatsappStatus) -> Result<Applied> {
    let st = p.read().map_err(Error::InvalidInput)?;
    let at = st.at().unwrap_or(event.created_at);
    let error = st.error();
    crate::channel::status_in(
        conn,
        &event.shop_uid,
        &st.id,
        &st.status,
        at,
        error.as_deref(),
    )
    .await?;
    Ok(Applied::default())
}

/// The reminder schedule changed (older logs).
async fn reminders_changed(
    conn: &mut Conn,
    event: &Event,
    p: &ev::RemindersChanged,
) -> Result<Applied> {
    let text = p
        .hours
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    crate::storage::settings::set_in(conn, &event.shop_uid, "reminders.hours", &text).await?;
    Ok(Applied::default())
}

/// A reminder went out (or its step passed).
async fn reminded(conn: &mut Conn, event: &Event, p: &ev::InvoiceReminded) -> Result<Applied> {
    if let (true, Some(id)) = (p.sent, p.invoice_id) {
        invoices::reminded_in(conn, &event.shop_uid, id, p.reminder).await?;
    }
    Ok(Applied::default())
}

/// The last reminder passed unpaid.
async fn abandoned(conn: &mut Conn, event: &Event, p: &ev::InvoiceAbandoned) -> Result<Applied> {
    invoices::abandoned_in(conn, &event.shop_uid, p.invoice_id, event.created_at).await?;
    Ok(Applied::default())
}

/// A paid order moved on the Ready-to-ship board.
async fn order_moved(conn: &mut Conn, event: &Event, p: &ev::OrderStageChanged) -> Result<Applied> {
    invoices::move_on_board_in(conn, &event.shop_uid, p.invoice_id, &p.to).await?;
    Ok(Applied::default())
}

/// The owner turned the model's rewording or reading on or off.
async fn llm_changed(conn: &mut Conn, event: &Event, p: &ev::LlmChanged) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    let flag = |on: bool| if on { "true" } else { "false" };
    set_in(conn, shop, "llm.enabled", flag(p.enabled)).await?;
    set_in(conn, shop, "llm.reader", flag(p.reader)).await?;
    set_in(conn, shop, "llm.base_url", &p.base_url).await?;
    set_in(conn, shop, "llm.model", &p.model).await?;
    set_in(conn, shop, "llm.key_hint", &p.key_hint).await?;
    Ok(Applied::default())
}

/// A bot test saved (its event id is its id).
async fn agent_test_saved(
    conn: &mut Conn,
    event: &Event,
    p: &ev::AgentTestSaved,
) -> Result<Applied> {
    let expect: crate::agent::bottests::Ending = serde_json::from_value(p.expect.clone())
        .map_err(|e| Error::InvalidInput(format!("agent_test.saved: {e}")))?;
    let json = |v: serde_json::Result<String>| v.map_err(|e| Error::InvalidInput(e.to_string()));
    crate::storage::agent_tests::insert_in(
        conn,
        &event.shop_uid,
        event.id,
        &p.name,
        &json(serde_json::to_string(&p.messages))?,
        &json(serde_json::to_string(&expect))?,
        event.created_at,
    )
    .await?;
    Ok(Applied::default())
}

/// The owner saved the payment scenario.
async fn scenario_changed(
    conn: &mut Conn,
    event: &Event,
    scenario: &ziflow_protocol::Scenario,
) -> Result<Applied> {
    for (key, value) in crate::scenario::as_settings(scenario) {
        crate::storage::settings::set_in(conn, &event.shop_uid, key, &value).await?;
    }
    Ok(Applied::default())
}

/// The customer wrote STOP: no bot or reminder messages until they write again.
async fn opted_out(conn: &mut Conn, event: &Event, p: &ev::OptedOut) -> Result<Applied> {
    conversations::opt_out_in(conn, &event.shop_uid, &p.phone).await?;
    Ok(Applied::default())
}

/// The shop's customer channel: the WhatsApp Cloud API number.
async fn channel_connected(
    conn: &mut Conn,
    event: &Event,
    p: &ev::ChannelConnected,
) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    set_in(conn, shop, "channel", "whatsapp").await?;
    set_in(conn, shop, "whatsapp.phone_number_id", &p.phone_number_id).await?;
    set_in(
        conn,
        shop,
        "whatsapp.display_phone_number",
        &p.display_phone_number,
    )
    .await?;
    set_in(conn, shop, "whatsapp.verified_name", &p.verified_name).await?;
    Ok(Applied::default())
}

/// Back to the sandbox chat.
async fn channel_disconnected(conn: &mut Conn, event: &Event) -> Result<Applied> {
    use crate::storage::settings::set_in;
    let shop = &event.shop_uid;
    set_in(conn, shop, "channel", "sandbox").await?;
    // No number any more: the relay's webhook filter (entries for this number only) is off.
    set_in(conn, shop, "whatsapp.phone_number_id", "").await?;
    Ok(Applied::default())
}

/// A person takes the conversation over: the bot stops talking in it.
async fn handoff(conn: &mut Conn, event: &Event, p: &ev::Handoff) -> Result<Applied> {
    conversations::hand_off_in(conn, &event.shop_uid, &p.phone, p.reason.as_deref()).await?;
    Ok(Applied::default())
}

/// An attempt to post a notification ended: the latest state per notification, and a line
/// in the lead's history.
async fn notification_result(
    conn: &mut Conn,
    event: &Event,
    p: &ev::NotificationResult,
) -> Result<Applied> {
    crate::storage::notifications::record_in(conn, &event.shop_uid, p, event.created_at).await?;
    if let Some(phone) = &p.phone {
        let line = crate::notify::history_line(&p.channel, &p.state, p.attempts, &p.answer);
        crate::crm::history(conn, &event.shop_uid, phone, event, None, &line).await?;
    }
    Ok(Applied::default())
}

/// A rep switches the bot off (takes over) or back on (the bot starts afresh).
async fn bot_set(conn: &mut Conn, event: &Event, p: &ev::BotSet) -> Result<Applied> {
    conversations::set_bot_in(conn, &event.shop_uid, &p.phone, p.enabled).await?;
    Ok(Applied::default())
}

async fn send_failed(conn: &mut Conn, event: &Event, p: &ev::InvoiceSendFailed) -> Result<Applied> {
    let reason = p
        .reason
        .as_deref()
        .unwrap_or("the provider did not make the link");
    invoices::send_failed_in(conn, &event.shop_uid, p.invoice_id, reason).await?;
    Ok(Applied::default())
}

async fn invoice_paid(conn: &mut Conn, event: &Event, p: &ev::InvoicePaid) -> Result<Applied> {
    let via = if p.manual() {
        PaidVia::Manual
    } else {
        PaidVia::Webhook
    };
    invoices::mark_paid_in(conn, &event.shop_uid, p.invoice_id, via, event.created_at).await?;
    Ok(Applied::default())
}

/// A derived invoice event (`invoice.failed`, `invoice.expired`, `invoice.refunded`) recorded
/// by the relay or a job: the same fact the provider event recorded, so applying it after
/// that event changes nothing, and a desk that only has this event gets the same state.
async fn invoice_fact(
    conn: &mut Conn,
    event: &Event,
    invoice_id: i64,
    fact: Fact,
) -> Result<Applied> {
    invoices::record_fact_in(conn, &event.shop_uid, invoice_id, &fact, event.created_at).await?;
    Ok(Applied::default())
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
fn read<'a>(event: &'a Event, body: &ev::StripeEvent) -> Result<Option<Reading<'a>>> {
    let obj = &body.data.object;
    let (provider, kind) = match event.kind.split_once('.') {
        Some(("sandbox", kind)) => ("sandbox", kind),
        Some(("stripe", kind)) => ("stripe", kind),
        _ => return Ok(None),
    };
    let (effect, amount, amount_key) = match kind {
        "checkout.session.completed" if obj.payment_status.as_deref() == Some("paid") => {
            (Effect::Paid, obj.amount_total, "amount_total")
        }
        "checkout.session.async_payment_succeeded" => {
            (Effect::Paid, obj.amount_total, "amount_total")
        }
        "checkout.session.async_payment_failed" => {
            (Effect::Failed, obj.amount_total, "amount_total")
        }
        "checkout.session.expired" => (Effect::SessionExpired, obj.amount_total, "amount_total"),
        "payment_intent.succeeded" => (Effect::Paid, obj.amount, "amount"),
        "payment_intent.payment_failed" => (Effect::Failed, obj.amount, "amount"),
        "invoice.paid" | "invoice.payment_succeeded" => {
            (Effect::Paid, obj.amount_paid, "amount_paid")
        }
        "invoice.payment_failed" => (Effect::Failed, obj.amount_due, "amount_due"),
        "customer.subscription.created" | "customer.subscription.updated" => {
            (Effect::Subscribed, Some(0), "")
        }
        "charge.refunded" => {
            let refunded = obj.amount_refunded.ok_or_else(|| {
                Error::InvalidInput("charge.refunded without an integer amount_refunded".into())
            })?;
            (Effect::Refunded(refunded), obj.amount, "amount")
        }
        _ => return Ok(None),
    };
    let amount = amount
        .ok_or_else(|| Error::InvalidInput(format!("{kind} without an integer {amount_key}")))?;
    let currency = obj
        .currency
        .as_deref()
        .filter(|c| c.len() == 3)
        .map(str::to_ascii_uppercase)
        .or_else(|| (effect == Effect::Subscribed).then(String::new))
        .ok_or_else(|| Error::InvalidInput(format!("{kind} without a currency")))?;
    let payment_ref = match kind {
        k if k.starts_with("payment_intent.") => obj.id.clone(),
        _ => obj.payment_intent.clone(),
    };
    let subscription_ref = match effect {
        Effect::Subscribed => obj.id.clone(),
        _ => obj.subscription.clone(),
    };
    // Only metadata naming this shop (or no shop) counts: never another shop's invoice.
    let invoice_id = obj.ziflow().and_then(|m| m.invoice_of(&event.shop_uid));
    Ok(Some(Reading {
        provider,
        livemode: body.livemode,
        kind,
        effect,
        amount,
        currency,
        payment_ref,
        subscription_ref,
        invoice_id,
    }))
}

/// Whether the event is a subscription's renewal invoice.
fn renewal(body: &ev::StripeEvent) -> bool {
    body.data.object.billing_reason.as_deref() == Some("subscription_cycle")
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
async fn stripe_event(
    a: &mut Applier<'_>,
    event: &Event,
    provider_event: &ev::ProviderEvent,
) -> Result<Applied> {
    let body = provider_event
        .stripe()
        .map_err(|e| Error::InvalidInput(format!("a provider event that does not read: {e}")))?;
    let Some(r) = read(event, &body)? else {
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
    let refused = refusal(&r, &inv, &body, event.created_at);
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
        None => settle(a, event, &body, &r, &inv, None).await?,
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
                let Ok(earlier_body) = ev::StripeEvent::read(&e.payload) else {
                    continue;
                };
                let Some(er) = read(&e, &earlier_body)? else {
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
                if test_on_live || refusal(&er, &inv_now, &earlier_body, e.created_at).is_some() {
                    continue; // stays an unmatched row: it cannot pay this invoice
                }
                let late = settle(a, &e, &earlier_body, &er, &inv_now, Some(row)).await?;
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
    body: &ev::StripeEvent,
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
    if (r.effect == Effect::Paid || unpaid_refund) && r.amount != amount_due(r, inv, body, at) {
        return Some("mismatch");
    }
    None
}

/// What a payment of `inv` must amount to: the total for a one-time invoice; for a
/// subscription, the total (its first period and shipping) when it starts charging at once,
/// only the one-time part (shipping) when it starts with a trial, and the recurring part
/// alone for a renewal (`billing_reason: subscription_cycle`).
fn amount_due(r: &Reading<'_>, inv: &invoices::InvoiceRow, body: &ev::StripeEvent, at: i64) -> i64 {
    if inv.kind != "subscription" {
        return inv.total_minor;
    }
    if renewal(body) && r.kind.starts_with("invoice.") {
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
    body: &ev::StripeEvent,
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
            let at = body.created.unwrap_or(event.created_at);
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
        derived.push(ev::Event::InvoicePaid(ev::InvoicePaid {
            invoice_id: inv.id,
            via: Some("webhook".into()),
            source_event: Some(event.id),
        }));
    }
    if let Some(total) = settled.refunded_to {
        derived.push(ev::Event::InvoiceRefunded(ev::InvoiceRefunded {
            invoice_id: inv.id,
            refunded_minor: total,
            full: total >= inv.total_minor,
            source_event: Some(event.id),
        }));
    }
    if settled.before != settled.after {
        let closed = ev::InvoiceClosed {
            invoice_id: inv.id,
            source_event: Some(event.id),
            reason: None,
        };
        match settled.after {
            InvoiceStatus::Failed => derived.push(ev::Event::InvoiceFailed(closed)),
            InvoiceStatus::Expired => derived.push(ev::Event::InvoiceExpired(closed)),
            _ => {}
        }
    }
    let renewal = r.kind == "invoice.paid" && renewal(body);
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

#[cfg(test)]
mod tests {
    use ziflow_protocol::Area;

    #[test]
    fn every_kind_the_projection_applies_names_what_it_changes() {
        use ziflow_protocol::Event;
        let log = include_str!("../../protocol/tests/fixtures/log-0.1.jsonl");
        let read = |line: &str| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let kind = row["kind"].as_str().unwrap().to_string();
            Event::parse(&kind, &row["payload"].to_string()).unwrap()
        };
        let mut paid = None;
        for event in log.lines().filter(|l| !l.trim().is_empty()).map(read) {
            let kind = event.kind();
            let areas = super::areas(&event);
            match kind.as_str() {
                "engine.quarantined" | "engine.released" | "fax.received" => {
                    assert!(areas.is_empty(), "{kind} changes no table: {areas:?}")
                }
                _ => assert!(!areas.is_empty(), "{kind} changes something"),
            }
            if kind == "invoice.paid" {
                paid = Some(areas.clone());
            }
            if kind == "message.sent" {
                assert_eq!(areas[0], Area::Conversations);
            }
        }
        let paid = paid.expect("the fixture pays an invoice");
        for area in [Area::Invoices, Area::Payments, Area::Board, Area::Leads] {
            assert!(
                paid.contains(&area),
                "a payment shows on {area:?}: {paid:?}"
            );
        }
    }
}
