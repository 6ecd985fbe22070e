//! The event log's vocabulary: every kind of event a shop's log holds, with its payload as a
//! type. The log stores `(kind, payload JSON)` rows; [`Event::parse`] reads one, and
//! [`Event::kind`] / [`Event::payload`] write one. Projections `match` on [`Event`], so a new
//! kind that nobody handles fails to compile.
//!
//! Invariants:
//! - Readable both ways across versions: payload fields added later are optional (`None` or a
//!   default when an older log lacks them), and a kind this version does not know is
//!   [`Event::Unknown`] — kept in the log, shown, never a reason to stop (a newer relay may
//!   send it to an older desktop).
//! - Provider bodies (Stripe's and the sandbox's events, WhatsApp's message and status
//!   objects) are kept raw and byte-exact ([`RawValue`]); only the parts ZiFlow needs are read
//!   from them, by the typed readers here ([`WhatsappMessage::message`], …).
//! - An event whose payload does not fit its kind is an [`EventError`]: the projection logs it
//!   and leaves it unprojected, as it did with free JSON.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::{InvoiceItem, Scenario, Subscription};

/// Why a stored event could not be read as its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// The event's kind.
    pub kind: String,
    /// What did not fit.
    pub why: String,
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} event that does not read: {}", self.kind, self.why)
    }
}

impl std::error::Error for EventError {}

/// Who verified a provider event: Stripe, or the sandbox (which speaks Stripe's format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `stripe.<type>`.
    Stripe,
    /// `sandbox.<type>`.
    Sandbox,
}

impl Provider {
    /// `stripe` or `sandbox`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Sandbox => "sandbox",
        }
    }
}

macro_rules! events {
    ($( $(#[$doc:meta])* $kind:literal => $variant:ident($ty:ty), )*) => {
        /// One event of a shop's log, by kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $(#[$doc])* $variant($ty), )*
            /// `stripe.<type>` or `sandbox.<type>`: a payment provider's event, as it came.
            Provider(ProviderEvent),
            /// A kind this version does not know (a newer relay's): kept, not applied.
            Unknown {
                /// Its kind.
                kind: String,
            },
        }

        impl Event {
            /// Reads a stored event: its `kind` and its payload's JSON text.
            pub fn parse(kind: &str, payload: &str) -> Result<Self, EventError> {
                let bad = |e: serde_json::Error| EventError { kind: kind.to_string(), why: e.to_string() };
                Ok(match kind {
                    $( $kind => Self::$variant(serde_json::from_str(payload).map_err(bad)?), )*
                    other => match other.split_once('.') {
                        Some(("stripe", rest)) | Some(("sandbox", rest)) if !rest.is_empty() => {
                            Self::Provider(ProviderEvent {
                                provider: if other.starts_with("stripe.") {
                                    Provider::Stripe
                                } else {
                                    Provider::Sandbox
                                },
                                kind: rest.to_string(),
                                body: RawValue::from_string(payload.to_string()).map_err(bad)?,
                            })
                        }
                        _ => Self::Unknown { kind: other.to_string() },
                    },
                })
            }

            /// The kind the log stores (`invoice.paid`, `stripe.charge.refunded`, …).
            pub fn kind(&self) -> String {
                match self {
                    $( Self::$variant(_) => $kind.to_string(), )*
                    Self::Provider(p) => format!("{}.{}", p.provider.as_str(), p.kind),
                    Self::Unknown { kind } => kind.clone(),
                }
            }

            /// The payload the log stores, as JSON. `None` for [`Event::Unknown`] (this
            /// version never writes a kind it does not know).
            pub fn payload(&self) -> Option<Value> {
                let value = match self {
                    $( Self::$variant(p) => serde_json::to_value(p), )*
                    Self::Provider(p) => serde_json::from_str(p.body.get()),
                    Self::Unknown { .. } => return None,
                };
                // Serialising these plain structs cannot fail (string keys, no custom code).
                value.ok()
            }
        }
    };
}

events! {
    /// A customer's WhatsApp message (the Cloud API's message object, raw).
    "whatsapp.message" => WhatsappMessage(WhatsappMessage),
    /// A status of a message the shop sent (the Cloud API's status object, raw).
    "whatsapp.status" => WhatsappStatus(WhatsappStatus),
    /// The shop (bot, rep, reminder, automation) sent a customer a message.
    "message.sent" => MessageSent(MessageSent),
    /// What became of a sent message at WhatsApp.
    "message.delivery" => MessageDelivery(MessageDelivery),
    /// A setting changed (templates, pipeline, rules, notification channels, …).
    "settings.changed" => SettingsChanged(SettingChanged),
    /// An invoice was made.
    "invoice.created" => InvoiceCreated(InvoiceCreated),
    /// An invoice got its pay link and went to the customer.
    "invoice.sent" => InvoiceSent(InvoiceSent),
    /// The provider made no link for an invoice.
    "invoice.send_failed" => InvoiceSendFailed(InvoiceSendFailed),
    /// An invoice is paid (by a provider's event or marked by hand).
    "invoice.paid" => InvoicePaid(InvoicePaid),
    /// A payment attempt failed.
    "invoice.failed" => InvoiceFailed(InvoiceClosed),
    /// The pay link expired.
    "invoice.expired" => InvoiceExpired(InvoiceClosed),
    /// Refunds reached a total.
    "invoice.refunded" => InvoiceRefunded(InvoiceRefunded),
    /// A reminder step came (sent, or skipped and why).
    "invoice.reminded" => InvoiceReminded(InvoiceReminded),
    /// The last reminder passed unpaid.
    "invoice.abandoned" => InvoiceAbandoned(InvoiceAbandoned),
    /// The reminder schedule changed (older logs; the scenario carries it now).
    "reminders.changed" => RemindersChanged(RemindersChanged),
    /// A paid order moved on the board.
    "order.stage_changed" => OrderStageChanged(OrderStageChanged),
    /// A customer wrote STOP.
    "conversation.opted_out" => ConversationOptedOut(OptedOut),
    /// A person takes a conversation over.
    "conversation.handoff" => ConversationHandoff(Handoff),
    /// A rep switched the bot off or on in a conversation.
    "conversation.bot_set" => ConversationBotSet(BotSet),
    /// The shop connected Stripe.
    "billing.connected" => BillingConnected(BillingConnected),
    /// The shop disconnected Stripe.
    "billing.disconnected" => BillingDisconnected(BillingDisconnected),
    /// The shop connected a WhatsApp Cloud API number.
    "channel.connected" => ChannelConnected(ChannelConnected),
    /// The shop went back to the sandbox chat.
    "channel.disconnected" => ChannelDisconnected(ChannelDisconnected),
    /// The optional model's settings changed.
    "llm.changed" => LlmChanged(LlmChanged),
    /// The payment scenario changed.
    "scenario.changed" => ScenarioChanged(Scenario),
    /// The catalog and shipping zones were replaced.
    "catalog.replaced" => CatalogReplaced(CatalogReplaced),
    /// A bot test was saved (its event id is its id).
    "agent_test.saved" => AgentTestSaved(AgentTestSaved),
    /// A bot test was deleted.
    "agent_test.deleted" => AgentTestDeleted(AgentTestDeleted),
    /// A rep moved or tagged a lead by hand.
    "lead.changed" => LeadChanged(LeadChanged),
    /// An attempt to post a notification ended.
    "notification.result" => NotificationResult(NotificationResult),
    /// The relay's engine set an event aside after failing to apply it.
    "engine.quarantined" => EngineQuarantined(EngineQuarantined),
    /// A quarantined event was applied after all.
    "engine.released" => EngineReleased(EngineReleased),
}

impl Event {
    /// The customer (E.164) the event is about, when the event names one.
    pub fn phone(&self) -> Option<String> {
        match self {
            Self::WhatsappMessage(m) => Some(format!("+{}", m.from)),
            Self::MessageSent(m) => Some(m.to.clone()),
            Self::ConversationOptedOut(c) => Some(c.phone.clone()),
            Self::ConversationHandoff(c) => Some(c.phone.clone()),
            Self::ConversationBotSet(c) => Some(c.phone.clone()),
            Self::LeadChanged(c) => Some(c.phone.clone()),
            Self::NotificationResult(n) => n.phone.clone(),
            _ => None,
        }
    }

    /// The invoice the event is about, when it names one.
    pub fn invoice_id(&self) -> Option<i64> {
        match self {
            Self::MessageSent(m) => m.invoice_id,
            Self::InvoiceCreated(i) => Some(i.invoice_id),
            Self::InvoiceSent(i) => Some(i.invoice_id),
            Self::InvoiceSendFailed(i) => Some(i.invoice_id),
            Self::InvoicePaid(i) => Some(i.invoice_id),
            Self::InvoiceFailed(i) | Self::InvoiceExpired(i) => Some(i.invoice_id),
            Self::InvoiceRefunded(i) => Some(i.invoice_id),
            Self::InvoiceReminded(i) => i.invoice_id,
            Self::InvoiceAbandoned(i) => Some(i.invoice_id),
            Self::OrderStageChanged(o) => Some(o.invoice_id),
            _ => None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !b
}

/// A field of a provider's object read on its own: a value of another type than expected
/// is `None`, never a reason to lose the rest of the object (as reading field by field did).
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// `whatsapp.message`: the number it came to, the sender, and WhatsApp's message object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhatsappMessage {
    /// The shop's business number id the webhook named.
    #[serde(default)]
    pub phone_number_id: String,
    /// The customer's WhatsApp id (digits, no `+`).
    pub from: String,
    /// Their profile name, if the webhook had it.
    #[serde(default)]
    pub profile_name: Option<String>,
    /// A message type ZiFlow does not read (stickers, reactions, …).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unsupported: bool,
    /// The Cloud API's message object, byte-exact.
    pub message: Box<RawValue>,
}

impl PartialEq for WhatsappMessage {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.phone_number_id,
            &self.from,
            &self.profile_name,
            self.unsupported,
        ) == (&o.phone_number_id, &o.from, &o.profile_name, o.unsupported)
            && self.message.get() == o.message.get()
    }
}

/// The parts of a WhatsApp message object ZiFlow reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InboundMessage {
    /// WhatsApp's message id (`wamid.…`).
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// `text`, `interactive`, `button`, `image`, … (`unknown` when absent).
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// Unix seconds as a decimal string, as WhatsApp sends it.
    #[serde(default, deserialize_with = "lenient")]
    pub timestamp: Option<String>,
    /// A text message's body.
    #[serde(default, deserialize_with = "lenient")]
    pub text: Option<TextBody>,
    /// A reply to buttons or a list.
    #[serde(default, deserialize_with = "lenient")]
    pub interactive: Option<Interactive>,
    /// A quick-reply button of a template.
    #[serde(default, deserialize_with = "lenient")]
    pub button: Option<ButtonReply>,
}

/// `{ "body": … }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TextBody {
    /// The words.
    #[serde(default, deserialize_with = "lenient")]
    pub body: Option<String>,
}

/// An interactive reply: a button's or a list row's title.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Interactive {
    /// A reply button that was tapped.
    #[serde(default, deserialize_with = "lenient")]
    pub button_reply: Option<Titled>,
    /// A list row that was chosen.
    #[serde(default, deserialize_with = "lenient")]
    pub list_reply: Option<Titled>,
}

/// Something with a title.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Titled {
    /// The title.
    #[serde(default, deserialize_with = "lenient")]
    pub title: Option<String>,
}

/// A template's quick-reply button.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ButtonReply {
    /// Its text.
    #[serde(default, deserialize_with = "lenient")]
    pub text: Option<String>,
}

impl WhatsappMessage {
    /// The parts of the message ZiFlow reads (an object that does not read is an empty one).
    pub fn message(&self) -> InboundMessage {
        serde_json::from_str(self.message.get()).unwrap_or_default()
    }
}

impl InboundMessage {
    /// The message type (`unknown` when absent).
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("unknown")
    }

    /// What the customer wrote or tapped: a text's body, a button's or list row's title.
    pub fn words(&self) -> Option<&str> {
        match self.kind() {
            "text" => self.text.as_ref()?.body.as_deref(),
            "interactive" => {
                let i = self.interactive.as_ref()?;
                i.button_reply
                    .as_ref()
                    .and_then(|b| b.title.as_deref())
                    .or_else(|| i.list_reply.as_ref().and_then(|l| l.title.as_deref()))
            }
            "button" => self.button.as_ref()?.text.as_deref(),
            _ => None,
        }
    }

    /// When the customer sent it (Unix seconds), if WhatsApp said.
    pub fn sent_at(&self) -> Option<i64> {
        self.timestamp.as_deref()?.parse().ok()
    }
}

/// `whatsapp.status`: the number and WhatsApp's status object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhatsappStatus {
    /// The shop's business number id the webhook named.
    #[serde(default)]
    pub phone_number_id: String,
    /// The Cloud API's status object, byte-exact.
    pub status: Box<RawValue>,
}

impl PartialEq for WhatsappStatus {
    fn eq(&self, o: &Self) -> bool {
        self.phone_number_id == o.phone_number_id && self.status.get() == o.status.get()
    }
}

/// The parts of a WhatsApp status object ZiFlow reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Status {
    /// The sent message's WhatsApp id.
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Unix seconds as a decimal string.
    #[serde(default, deserialize_with = "lenient")]
    pub timestamp: Option<String>,
    /// Why it failed: WhatsApp's error objects, read one by one ([`Status::error`]).
    #[serde(default)]
    pub errors: Value,
}

/// One of a failed status's errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StatusError {
    /// Meta's error code.
    #[serde(default, deserialize_with = "lenient")]
    pub code: Option<i64>,
    /// Its title.
    #[serde(default, deserialize_with = "lenient")]
    pub title: Option<String>,
    /// Its message (older API versions).
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    /// More detail.
    #[serde(default, deserialize_with = "lenient")]
    pub error_data: Option<ErrorData>,
}

/// `{ "details": … }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorData {
    /// The detail.
    #[serde(default, deserialize_with = "lenient")]
    pub details: Option<String>,
}

impl WhatsappStatus {
    /// The status object read, or why it does not read (it lacks an id or a status).
    pub fn read(&self) -> Result<Status, String> {
        serde_json::from_str(self.status.get())
            .map_err(|e| format!("a status without id and status: {e}"))
    }
}

impl Status {
    /// When it happened (Unix seconds), if WhatsApp said.
    pub fn at(&self) -> Option<i64> {
        self.timestamp.as_deref()?.parse().ok()
    }

    /// The first error as the rep reads it: `(#131026) Message undeliverable: details`.
    pub fn error(&self) -> Option<String> {
        let e: StatusError = serde_json::from_value(self.errors.get(0)?.clone()).ok()?;
        let code = e.code.unwrap_or_default();
        let title = e
            .title
            .as_deref()
            .or(e.message.as_deref())
            .unwrap_or("failed");
        Some(
            match e.error_data.as_ref().and_then(|d| d.details.as_deref()) {
                Some(d) => format!("(#{code}) {title}: {d}"),
                None => format!("(#{code}) {title}"),
            },
        )
    }
}

/// A payment provider's event (Stripe's format; the sandbox speaks it too).
#[derive(Debug, Clone)]
pub struct ProviderEvent {
    /// Whose key verified it.
    pub provider: Provider,
    /// Stripe's event type (`checkout.session.completed`, `charge.refunded`, …).
    pub kind: String,
    /// The event as the provider sent it, byte-exact.
    pub body: Box<RawValue>,
}

impl PartialEq for ProviderEvent {
    fn eq(&self, o: &Self) -> bool {
        self.provider == o.provider && self.kind == o.kind && self.body.get() == o.body.get()
    }
}

impl ProviderEvent {
    /// The parts of the body ZiFlow reads (a body that is not a JSON object is refused).
    pub fn stripe(&self) -> Result<StripeEvent, EventError> {
        StripeEvent::read(self.body.get()).map_err(|why| EventError {
            kind: format!("{}.{}", self.provider.as_str(), self.kind),
            why,
        })
    }
}

/// What ZiFlow reads of a Stripe-format event; the rest of the body stays in the log as it
/// came. A field of an unexpected type reads as absent, so the caller can say which one
/// is missing (`charge.refunded without an integer amount_refunded`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripeEvent {
    /// `livemode`, when the event says.
    #[serde(default, deserialize_with = "lenient")]
    pub livemode: Option<bool>,
    /// When Stripe made the event (Unix seconds).
    #[serde(default, deserialize_with = "lenient")]
    pub created: Option<i64>,
    /// `data`.
    #[serde(default)]
    pub data: StripeData,
}

impl StripeEvent {
    /// Reads a body's text.
    pub fn read(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }
}

/// `data` of a Stripe event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripeData {
    /// The object the event is about (a checkout session, payment intent, invoice, charge,
    /// subscription).
    #[serde(default)]
    pub object: StripeObject,
}

/// The fields ZiFlow reads of the object a Stripe event is about.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripeObject {
    /// The object's id (`pi_…`, `sub_…`, `cs_…`).
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// A checkout session's `paid` / `unpaid` / `no_payment_required`.
    #[serde(default, deserialize_with = "lenient")]
    pub payment_status: Option<String>,
    /// An invoice's reason (`subscription_cycle` for a renewal).
    #[serde(default, deserialize_with = "lenient")]
    pub billing_reason: Option<String>,
    /// A checkout session's total.
    #[serde(default, deserialize_with = "lenient")]
    pub amount_total: Option<i64>,
    /// A payment intent's or charge's amount.
    #[serde(default, deserialize_with = "lenient")]
    pub amount: Option<i64>,
    /// What an invoice collected.
    #[serde(default, deserialize_with = "lenient")]
    pub amount_paid: Option<i64>,
    /// What an invoice asks.
    #[serde(default, deserialize_with = "lenient")]
    pub amount_due: Option<i64>,
    /// A charge's refunds so far, in total.
    #[serde(default, deserialize_with = "lenient")]
    pub amount_refunded: Option<i64>,
    /// ISO 4217, lower case as Stripe writes it.
    #[serde(default, deserialize_with = "lenient")]
    pub currency: Option<String>,
    /// The payment intent (its id, or the expanded object's).
    #[serde(default, deserialize_with = "id_of")]
    pub payment_intent: Option<String>,
    /// The subscription (its id, or the expanded object's).
    #[serde(default, deserialize_with = "id_of")]
    pub subscription: Option<String>,
    /// The object's own metadata.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: Option<ZiflowMetadata>,
    /// An invoice's subscription details (older API versions).
    #[serde(default, deserialize_with = "lenient")]
    pub subscription_details: Option<SubscriptionDetails>,
    /// An invoice's parent (newer API versions: `parent.subscription_details`).
    #[serde(default, deserialize_with = "lenient")]
    pub parent: Option<InvoiceParent>,
    /// An invoice's lines (their metadata).
    #[serde(default, deserialize_with = "lenient")]
    pub lines: Option<Lines>,
}

impl StripeObject {
    /// The ZiFlow metadata the object carries: its own, its subscription details' (either
    /// API version), or its first line's — the first that names an invoice.
    pub fn ziflow(&self) -> Option<&ZiflowMetadata> {
        fn details(d: Option<&SubscriptionDetails>) -> Option<&ZiflowMetadata> {
            d.and_then(|d| d.metadata.as_ref())
        }
        [
            self.metadata.as_ref(),
            details(self.subscription_details.as_ref()),
            self.parent
                .as_ref()
                .and_then(|p| details(p.subscription_details.as_ref())),
            self.lines
                .as_ref()
                .and_then(|l| l.data.first())
                .and_then(|l| l.metadata.as_ref()),
        ]
        .into_iter()
        .flatten()
        .find(|m| m.ziflow_invoice.is_some())
    }
}

/// The metadata every ZiFlow link puts on what Stripe makes for it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ZiflowMetadata {
    /// `Some` when the key is there; its invoice id if it reads as one (text or a number).
    #[serde(default, deserialize_with = "invoice_ref")]
    pub ziflow_invoice: Option<Option<i64>>,
    /// The shop that made the link.
    #[serde(default, deserialize_with = "lenient")]
    pub ziflow_shop: Option<String>,
}

impl ZiflowMetadata {
    /// The invoice named, if the metadata names this `shop` or no shop: never another
    /// shop's invoice.
    pub fn invoice_of(&self, shop: &str) -> Option<i64> {
        if self.ziflow_shop.as_deref().is_some_and(|s| s != shop) {
            return None;
        }
        self.ziflow_invoice.flatten()
    }
}

/// `subscription_details`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SubscriptionDetails {
    /// The subscription's metadata.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: Option<ZiflowMetadata>,
}

/// An invoice's `parent`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InvoiceParent {
    /// `parent.subscription_details`.
    #[serde(default, deserialize_with = "lenient")]
    pub subscription_details: Option<SubscriptionDetails>,
}

/// An invoice's `lines`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Lines {
    /// The lines.
    #[serde(default)]
    pub data: Vec<Line>,
}

/// One invoice line.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Line {
    /// Its metadata.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: Option<ZiflowMetadata>,
}

/// An id, or an expanded object's id.
fn id_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(id) => Some(id),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

/// `ziflow_invoice`: present (`Some`), and its id when it is text of digits or an integer.
fn invoice_ref<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(match Value::deserialize(d)? {
        Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }))
}

/// `message.sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSent {
    /// The customer (E.164).
    pub to: String,
    /// The words.
    pub text: String,
    /// `bot`, `rep`, `reminder` or `automation`.
    #[serde(default = "rep")]
    pub by: String,
    /// The inbound event it answers (the bot's replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<i64>,
    /// The invoice it is about (its pay link goes with it unless `link` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<i64>,
    /// `false`: the invoice's pay link is not attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<bool>,
    /// Which reminder (1, 2, …), for reminders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<i64>,
    /// The agent's own words, when the model reworded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrased_from: Option<String>,
}

fn rep() -> String {
    "rep".into()
}

impl MessageSent {
    /// A message `by` someone to `to`, nothing else attached.
    pub fn new(to: impl Into<String>, text: impl Into<String>, by: &str) -> Self {
        Self {
            to: to.into(),
            text: text.into(),
            by: by.to_string(),
            in_reply_to: None,
            invoice_id: None,
            link: None,
            reminder: None,
            phrased_from: None,
        }
    }
}

/// `message.delivery`: WhatsApp's id for a sent message, or why it did not go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDelivery {
    /// The `message.sent` event.
    pub event_id: i64,
    /// WhatsApp's id, when it took the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `settings.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingChanged {
    /// The setting.
    pub key: String,
    /// Its new value.
    pub value: String,
}

/// `invoice.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceCreated {
    /// The invoice's id.
    pub invoice_id: i64,
    /// Its number in the shop.
    pub number: i64,
    /// The customer (E.164).
    #[serde(default)]
    pub customer_phone: String,
    /// ISO 4217.
    #[serde(default)]
    pub currency: String,
    /// The lines.
    pub items: Vec<InvoiceItem>,
    /// Shipping, minor units.
    pub shipping_minor: i64,
    /// The total, minor units.
    #[serde(default)]
    pub total_minor: Option<i64>,
    /// Where it ships.
    #[serde(default)]
    pub address: Option<String>,
    /// A subscription's schedule.
    #[serde(default)]
    pub subscription: Option<Subscription>,
}

/// `invoice.sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSent {
    /// The invoice.
    pub invoice_id: i64,
    /// `stripe` or `sandbox`.
    #[serde(default = "sandbox")]
    pub provider: String,
    /// The pay link.
    pub link: String,
    /// The provider's id for the link.
    #[serde(default)]
    pub reference: Option<String>,
    /// The sandbox pay page's token.
    #[serde(default)]
    pub token: Option<String>,
    /// When the link stops working (Unix seconds).
    pub expires_at: i64,
}

fn sandbox() -> String {
    "sandbox".into()
}

/// `invoice.send_failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSendFailed {
    /// The invoice.
    pub invoice_id: i64,
    /// Why the provider made no link.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `invoice.paid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicePaid {
    /// The invoice.
    pub invoice_id: i64,
    /// `manual` (marked by hand) or `webhook`.
    #[serde(default)]
    pub via: Option<String>,
    /// The provider event that paid it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<i64>,
}

impl InvoicePaid {
    /// Marked paid by a person, not by a provider's event.
    pub fn manual(&self) -> bool {
        self.via.as_deref() == Some("manual")
    }
}

/// `invoice.failed` and `invoice.expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceClosed {
    /// The invoice.
    pub invoice_id: i64,
    /// The provider event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<i64>,
    /// Why (`link_expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `invoice.refunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRefunded {
    /// The invoice.
    pub invoice_id: i64,
    /// Refunds so far, minor units.
    #[serde(default)]
    pub refunded_minor: i64,
    /// All of it.
    #[serde(default)]
    pub full: bool,
    /// The provider event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<i64>,
}

/// `invoice.reminded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceReminded {
    /// The invoice.
    #[serde(default)]
    pub invoice_id: Option<i64>,
    /// Which reminder (1, 2, …).
    #[serde(default)]
    pub reminder: i64,
    /// It went out.
    #[serde(default)]
    pub sent: bool,
    /// Why it did not.
    #[serde(default)]
    pub skipped: Option<String>,
}

/// `invoice.abandoned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceAbandoned {
    /// The invoice.
    pub invoice_id: i64,
    /// How many reminders went before.
    #[serde(default)]
    pub reminders: Option<i64>,
}

/// `reminders.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemindersChanged {
    /// Hours after sending.
    pub hours: Vec<i64>,
}

/// `order.stage_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStageChanged {
    /// The order's invoice.
    pub invoice_id: i64,
    /// The stage it left.
    #[serde(default)]
    pub from: Option<String>,
    /// `ready_to_ship`, `shipped` or `delivered`.
    pub to: String,
}

/// `conversation.opted_out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptedOut {
    /// The customer.
    pub phone: String,
    /// `customer`.
    #[serde(default)]
    pub by: Option<String>,
}

/// `conversation.handoff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The customer.
    pub phone: String,
    /// Why a person should take over.
    #[serde(default)]
    pub reason: Option<String>,
    /// `bot`, `reminder` or `automation`.
    #[serde(default)]
    pub by: Option<String>,
}

/// `conversation.bot_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotSet {
    /// The customer.
    pub phone: String,
    /// The bot talks in this conversation.
    pub enabled: bool,
}

/// `billing.connected` (the key itself is never in the log, only its hint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingConnected {
    /// `stripe`.
    #[serde(default = "stripe")]
    pub provider: String,
    /// `test` or `live`.
    #[serde(default)]
    pub mode: String,
    /// The key's last characters.
    #[serde(default)]
    pub key_hint: String,
    /// What the relay checked and set up at Stripe (shown on the Billing screen).
    #[serde(default)]
    pub steps: Vec<crate::ConnectStep>,
}

fn stripe() -> String {
    "stripe".into()
}

/// `billing.disconnected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDisconnected {
    /// The provider links come from now (`sandbox`).
    #[serde(default = "sandbox")]
    pub provider: String,
    /// Open links that stopped working.
    #[serde(default)]
    pub links_expired: Option<i64>,
}

/// `channel.connected`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConnected {
    /// The Cloud API's id of the number.
    #[serde(default)]
    pub phone_number_id: String,
    /// The number as WhatsApp shows it.
    #[serde(default)]
    pub display_phone_number: String,
    /// The business's verified name.
    #[serde(default)]
    pub verified_name: String,
}

/// `channel.disconnected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDisconnected {
    /// The channel now (`sandbox`).
    #[serde(default)]
    pub channel: Option<String>,
}

/// `llm.changed` (the key itself is never in the log, only its hint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmChanged {
    /// The model rewords the bot's replies.
    #[serde(default)]
    pub enabled: bool,
    /// The model reads what the rules could not.
    #[serde(default)]
    pub reader: bool,
    /// The OpenAI-compatible server.
    #[serde(default)]
    pub base_url: String,
    /// The model's name.
    #[serde(default)]
    pub model: String,
    /// The key's last characters.
    #[serde(default)]
    pub key_hint: String,
}

/// `catalog.replaced`: the catalog and shipping zones as the catalog file has them (core's
/// catalog reader checks and reads it; this is its JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CatalogReplaced(pub Value);

/// `agent_test.saved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentTestSaved {
    /// The test's name.
    pub name: String,
    /// The customer's messages, in order.
    pub messages: Vec<String>,
    /// How the conversation should end (core's bot-test ending).
    pub expect: Value,
}

/// `agent_test.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTestDeleted {
    /// The test (its `agent_test.saved` event id).
    pub id: i64,
}

/// `lead.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadChanged {
    /// The customer.
    pub phone: String,
    /// The stage it moved to.
    #[serde(default)]
    pub stage: Option<String>,
    /// A tag added.
    #[serde(default)]
    pub add_tag: Option<String>,
    /// A tag removed.
    #[serde(default)]
    pub remove_tag: Option<String>,
}

/// `notification.result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationResult {
    /// The notification's key (one per rule action and event).
    pub key: String,
    /// `telegram`, `slack`, `email`, …
    pub channel: String,
    /// What it said.
    #[serde(default)]
    pub text: String,
    /// The customer it is about.
    #[serde(default)]
    pub phone: Option<String>,
    /// `sent`, `retrying` or `failed`.
    pub state: String,
    /// Attempts so far.
    #[serde(default = "one")]
    pub attempts: i64,
    /// The channel's answer.
    #[serde(default)]
    pub answer: String,
}

fn one() -> i64 {
    1
}

/// `engine.quarantined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineQuarantined {
    /// The event set aside.
    pub event_id: i64,
    /// Its kind.
    pub kind: String,
    /// Why applying it failed.
    #[serde(default)]
    pub reason: String,
    /// How often it was tried.
    #[serde(default)]
    pub tries: i64,
}

/// `engine.released`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineReleased {
    /// The event applied after all.
    pub event_id: i64,
    /// Its kind.
    pub kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripe_body_reads_what_ziflow_needs_wherever_stripe_puts_it() {
        // A renewal invoice of a newer API version: the metadata under
        // parent.subscription_details, the subscription expanded, the amount an integer.
        let renewal = StripeEvent::read(
            r#"{"id":"evt_1","livemode":true,"created":7,"data":{"object":{"id":"in_1",
            "billing_reason":"subscription_cycle","amount_paid":4000,"currency":"usd",
            "subscription":{"id":"sub_9","object":"subscription"},
            "parent":{"subscription_details":{"metadata":{"ziflow_invoice":"12","ziflow_shop":"s1"}}},
            "metadata":{}}}}"#,
        )
        .expect("reads");
        let obj = &renewal.data.object;
        assert_eq!(renewal.livemode, Some(true));
        assert_eq!(renewal.created, Some(7));
        assert_eq!(
            obj.subscription.as_deref(),
            Some("sub_9"),
            "an expanded object's id"
        );
        assert_eq!(obj.amount_paid, Some(4000));
        let meta = obj
            .ziflow()
            .expect("the parent's metadata names the invoice");
        assert_eq!(meta.invoice_of("s1"), Some(12));
        assert_eq!(meta.invoice_of("s2"), None, "never another shop's invoice");

        // A float amount and a numeric currency read as absent (the caller says which);
        // an integer invoice id in the first line's metadata still counts.
        let odd = StripeEvent::read(
            r#"{"data":{"object":{"amount":12.5,"currency":840,"payment_intent":"pi_1",
            "lines":{"data":[{"metadata":{"ziflow_invoice":3}}]}}}}"#,
        )
        .expect("reads");
        let obj = &odd.data.object;
        assert_eq!(obj.amount, None);
        assert_eq!(obj.currency, None);
        assert_eq!(obj.payment_intent.as_deref(), Some("pi_1"));
        assert_eq!(obj.ziflow().and_then(|m| m.invoice_of("any")), Some(3));
        assert!(StripeEvent::read("{\"data\": ").is_err(), "a cut-off body");
    }
}
