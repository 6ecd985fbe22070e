//! The agent in the relay's engine: for each inbound customer message it loads the
//! conversation's memory, runs [`super::respond`], and records what the shop does — replies as
//! `message.sent`, an order as an invoice sent with a pay link (its message goes out once the
//! provider made the link), a handoff as `conversation.handoff`. Desks never run this; they
//! apply the events.
//!
//! The replies and the handoff are appended for the engine to apply in log order (so each is
//! applied exactly once); the invoice goes through the same commands a desk sends.

use crate::storage::Conn;

use super::wording::{customer_lang, shop_reply};
use super::{Action, Lang, State};
use crate::storage::events::Event;
use crate::{command, Result};
use ziflow_protocol::event as ev;

/// Where the agent's invoices get their links.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The relay's public address (sandbox pay links).
    pub public_url: &'a str,
    /// The relay runs the sandbox provider: a shop without Stripe gets sandbox links. Off, such
    /// a shop gets none and the bot hands the confirmed order to a person.
    pub sandbox: bool,
}

pub use super::setup::Setup;

/// After a provider event paid an invoice the bot sent: thanks the customer (appended for
/// the engine to apply). Returns the event's id, if one was recorded.
pub async fn on_paid(conn: &mut Conn, shop: &str, invoice_id: i64, at: i64) -> Result<Option<i64>> {
    let Some(inv) = crate::storage::invoices::get_in(conn, shop, invoice_id).await? else {
        return Ok(None);
    };
    if !inv.notify_customer {
        return Ok(None);
    }
    let (phone, number) = (inv.customer_phone, inv.number);
    let reach = crate::storage::conversations::reach_in(conn, shop, &phone).await?;
    if reach.is_some_and(|r| r.opted_out) {
        return Ok(None); // STOP holds until the customer writes again
    }
    let lang = customer_lang(conn, shop, &phone).await?;
    let scenario = crate::scenario::load_in(conn, shop).await?;
    let timezone = crate::storage::shops::timezone_in(conn, shop).await?;
    let cutoff = crate::scenario::parse_cutoff(&scenario.cutoff)
        .or_else(|| crate::scenario::parse_cutoff(crate::scenario::DEFAULT_CUTOFF))
        .unwrap_or(18 * 60);
    let delivery = crate::scenario::delivery(at, &timezone, cutoff).words(lang == Lang::Es);
    let text = shop_reply(
        conn,
        shop,
        lang,
        super::PAID_REPLY,
        super::default_paid(lang),
        super::PAID_VARIABLES,
        |v| match v {
            "order" => number.to_string(),
            _ => delivery.clone(),
        },
    )
    .await?;
    let thanks = ev::MessageSent {
        invoice_id: Some(invoice_id),
        ..ev::MessageSent::new(phone, text, "bot")
    };
    crate::log::append(conn, shop, &ev::Event::MessageSent(thanks), at).await
}

/// The customer (E.164) and the words of an inbound `whatsapp.message` event, if it has any.
pub fn inbound(event: &Event) -> Option<(String, String)> {
    let Ok(ev::Event::WhatsappMessage(m)) = ev::Event::parse(&event.kind, &event.payload) else {
        return None;
    };
    let message = m.message();
    let text = message.words()?;
    (!text.trim().is_empty()).then(|| (format!("+{}", m.from), text.to_string()))
}

/// How the events an answer records are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Appended for the engine, which is applying the message, to apply next in log order.
    ForEngine,
    /// Applied at once (a job answering after the engine moved on).
    Applied,
}

/// What the agent remembers of the conversation with `phone`.
async fn state_of(conn: &mut Conn, shop: &str, phone: &str) -> Result<State> {
    Ok(
        crate::storage::conversations::agent_state_in(conn, shop, phone)
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
    )
}

/// Whether the bot is off in the conversation with `phone` (a person has it).
async fn bot_off(conn: &mut Conn, shop: &str, phone: &str) -> Result<bool> {
    let reach = crate::storage::conversations::reach_in(conn, shop, phone).await?;
    Ok(reach.is_some_and(|r| !r.bot_enabled))
}

/// Runs the agent on the inbound `whatsapp.message` `event` inside the engine's transaction.
/// With the shop's model reader on (setting `llm.reader`), the message is left for an
/// `agent.read` job instead (the model is called outside any transaction, and that job
/// answers with [`answer`]). Returns the ids of the events it appended.
pub async fn on_message(conn: &mut Conn, event: &Event, ctx: &Context<'_>) -> Result<Vec<i64>> {
    let shop = event.shop_uid.as_str();
    let Some((phone, _)) = inbound(event) else {
        return Ok(Vec::new());
    };
    let reads = crate::storage::settings::get_in(conn, shop, "llm.reader")
        .await?
        .as_deref()
        == Some("true");
    if reads
        && !bot_off(conn, shop, &phone).await?
        && state_of(conn, shop, &phone).await?.stage != super::Stage::HandedOff
    {
        let work = super::reader::ReadWork {
            phone,
            event_id: event.id,
        };
        let value = serde_json::to_value(&work)
            .map_err(|e| crate::Error::InvalidInput(format!("read job: {e}")))?;
        let at = event.created_at;
        crate::storage::jobs::enqueue_in(
            conn,
            shop,
            super::reader::ReadWork::KIND,
            &work.key(shop),
            &value,
            at,
            at,
        )
        .await?;
        return Ok(Vec::new());
    }
    answer(conn, event, ctx, None, Record::ForEngine).await
}

/// Answers the inbound `event` — with the model's grounded `reading` weighed in, if any (see
/// [`super::reader`]) — inside the caller's transaction. Returns the ids of the events it
/// recorded.
pub async fn answer(
    conn: &mut Conn,
    event: &Event,
    ctx: &Context<'_>,
    reading: Option<&super::reader::Grounded>,
    record: Record,
) -> Result<Vec<i64>> {
    let shop_uid = event.shop_uid.as_str();
    let Some((phone, text)) = inbound(event) else {
        return Ok(Vec::new());
    };
    if bot_off(conn, shop_uid, &phone).await? {
        return Ok(Vec::new()); // a person has this conversation
    }
    let setup = Setup::load_in(conn, shop_uid).await?;
    let scenario = crate::scenario::load_in(conn, shop_uid).await?;
    let mut state = state_of(conn, shop_uid, &phone).await?;
    let phrasing = crate::storage::settings::get_in(conn, shop_uid, "llm.enabled")
        .await?
        .as_deref()
        == Some("true");
    let shop = setup.shop();
    let actions = super::reader::respond_with(&mut state, &text, &shop, reading);
    let now = event.created_at;
    let mut appended = Vec::new();
    let mut later: Vec<ev::Event> = Vec::new();
    let stripe = crate::storage::shop_secrets::exists_in(
        conn,
        shop_uid,
        crate::storage::shop_secrets::SecretName::StripeApiKey,
    )
    .await?;
    let provider = crate::pay::link_provider(stripe, ctx.sandbox);
    for action in actions {
        match action {
            Action::Reply(reply) => later.push(ev::Event::MessageSent(ev::MessageSent {
                in_reply_to: Some(event.id),
                ..ev::MessageSent::new(&phone, reply, "bot")
            })),
            Action::OptOut => {
                later.push(ev::Event::ConversationOptedOut(ev::OptedOut {
                    phone: phone.clone(),
                    by: Some("customer".into()),
                }));
            }
            Action::Handoff { reason } => later.push(ev::Event::ConversationHandoff(ev::Handoff {
                phone: phone.clone(),
                reason: Some(reason),
                by: Some("bot".into()),
            })),
            Action::SendInvoice(order) if !scenario.auto_invoice || provider.is_none() => {
                // Auto-invoice is off, or there is no provider to make a link: a person takes
                // it from here (the order is in the reason).
                let why = if provider.is_none() {
                    command::NO_PROVIDER
                } else {
                    "auto-invoice is off"
                };
                state.stage = super::Stage::HandedOff;
                let items: Vec<String> = order
                    .items
                    .iter()
                    .map(|i| format!("{} × {}", i.qty, i.name))
                    .collect();
                let text = super::handoff_text(&shop, state.lang.unwrap_or_default());
                later.push(ev::Event::MessageSent(ev::MessageSent {
                    in_reply_to: Some(event.id),
                    ..ev::MessageSent::new(&phone, text, "bot")
                }));
                later.push(ev::Event::ConversationHandoff(ev::Handoff {
                    phone: phone.clone(),
                    by: Some("bot".into()),
                    reason: Some(format!(
                        "order ready to invoice ({why}): {}; to {}",
                        items.join(", "),
                        order.address.as_deref().unwrap_or("no address")
                    )),
                }));
            }
            Action::SendInvoice(order) => {
                let cctx = command::Context {
                    public_url: ctx.public_url,
                    provider,
                };
                let create = ziflow_protocol::Command::InvoiceCreate {
                    customer_phone: phone.clone(),
                    currency: setup.currency.clone(),
                    items: order
                        .items
                        .iter()
                        .map(|i| ziflow_protocol::InvoiceItem {
                            sku: i.sku.clone(),
                            name: i.name.clone(),
                            variant: i.variant.clone(),
                            qty: i.qty,
                            unit_minor: i.unit_cents,
                        })
                        .collect(),
                    shipping_minor: order.shipping_cents,
                    address: order.address.clone(),
                    subscription: None,
                };
                let made = command::execute(conn, shop_uid, &create, now, &cctx).await?;
                appended.extend(made.event_ids);
                let Some(invoice_id) = made.answer["invoice_id"].as_i64() else {
                    continue;
                };
                crate::storage::invoices::notify_customer_set_in(conn, invoice_id).await?;
                let send = ziflow_protocol::Command::InvoiceSend { invoice_id };
                let sent = command::execute(conn, shop_uid, &send, now, &cctx).await?;
                appended.extend(sent.event_ids);
            }
        }
    }
    let lang = super::lang_code(state.lang.unwrap_or_default());
    for (n, fact) in later.into_iter().enumerate() {
        if let (true, ev::Event::MessageSent(ev::MessageSent { text, .. })) = (phrasing, &fact) {
            // The optional model rewords it first (or the reply goes as it is).
            let work = super::phrase::PhraseWork {
                to: phone.clone(),
                text: text.to_string(),
                in_reply_to: event.id,
                n,
                lang: lang.to_string(),
            };
            let value = serde_json::to_value(&work)
                .map_err(|e| crate::Error::InvalidInput(format!("phrase job: {e}")))?;
            crate::storage::jobs::enqueue_in(
                conn,
                shop_uid,
                super::phrase::PhraseWork::KIND,
                &work.key(shop_uid),
                &value,
                now,
                now,
            )
            .await?;
            continue;
        }
        match record {
            Record::ForEngine => {
                if let Some(id) = crate::log::append(conn, shop_uid, &fact, now).await? {
                    appended.push(id);
                }
            }
            Record::Applied => {
                appended.push(crate::log::record(conn, shop_uid, &fact, now).await?);
            }
        }
    }
    let remembered = serde_json::to_string(&state).unwrap_or_else(|_| "{}".into());
    crate::storage::conversations::agent_state_set_in(conn, shop_uid, &phone, &remembered, now)
        .await?;
    Ok(appended)
}
