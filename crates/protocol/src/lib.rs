//! Serde types that cross a boundary: relay ⇄ desktop and Rust ⇄ the wasm UI.
//!
//! Layout:
//! - `lib.rs` (this file): [`Money`], the device [`Command`]s, and the screens' views (what
//!   each Tauri command returns to the UI).
//! - [`answer`]: the relay's typed answer to each command, and its refusals.
//! - [`event`]: the event log's vocabulary, one typed payload per kind.
//! - [`sync`]: the sync API's pages and push-stream names (relay → desktop).
//! - [`automation`]: the CRM's automation rules.
//!
//! Invariants:
//! - Nothing here depends on tokio, sqlx, tauri or wasm-bindgen, so the crate builds for
//!   `wasm32-unknown-unknown` as well as for the host.
//! - Money is always [`Money`]: integer minor units plus an ISO 4217 code. Never a float.
//! - Timestamps are Unix seconds (UTC) as `i64`; the UI formats them.
//! - Every command error is a [`CommandError`] (`{code, message}`); callers match on `code`.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

pub mod answer;
pub mod automation;
pub mod event;
pub mod sync;

pub use event::Event;

/// An amount of money: integer minor units (cents) plus an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Amount in the currency's minor unit (cents for USD).
    pub minor: i64,
    /// ISO 4217 code, upper case (`USD`).
    pub currency: String,
}

impl Money {
    /// Builds an amount from minor units and a currency code.
    pub fn new(minor: i64, currency: impl Into<String>) -> Self {
        Self {
            minor,
            currency: currency.into(),
        }
    }

    /// Number of minor-unit digits of the currency (ISO 4217 exponent).
    pub fn exponent(&self) -> u32 {
        match self.currency.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
            _ => 2,
        }
    }

    /// Formats the amount the way a customer reads it: `$128`, `$1,240.50`, `€9.05`,
    /// `¥1,200`. Whole amounts drop the decimals; others show all minor digits.
    pub fn display(&self) -> String {
        let symbol = match self.currency.as_str() {
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "JPY" => "¥",
            "MXN" => "MX$",
            "CAD" => "CA$",
            "AUD" => "A$",
            _ => "",
        };
        let exp = self.exponent();
        let unit = 10_i64.pow(exp);
        let negative = self.minor < 0;
        let abs = self.minor.unsigned_abs();
        let whole = abs / unit.unsigned_abs();
        let frac = abs % unit.unsigned_abs();
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        out.push_str(symbol);
        out.push_str(&group_thousands(whole));
        if frac != 0 {
            out.push('.');
            out.push_str(&format!("{frac:0width$}", width = exp as usize));
        }
        if symbol.is_empty() {
            out.push(' ');
            out.push_str(&self.currency);
        }
        out
    }
}

impl Money {
    /// Reads an amount a person typed in `currency` ("8", "8.5", "$1,240.50") as minor
    /// units, exactly (no floats). `None` for anything else, negative amounts, or more
    /// decimals than the currency has.
    pub fn parse(text: &str, currency: &str) -> Option<i64> {
        let exp = Money::new(0, currency).exponent();
        let t: String = text
            .trim()
            .trim_start_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != '-')
            .chars()
            .filter(|c| *c != ',')
            .collect();
        let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
            || frac.len() > exp as usize
        {
            return None;
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let frac_minor: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<width$}", width = exp as usize)
                .parse()
                .ok()?
        };
        whole.checked_mul(10_i64.pow(exp))?.checked_add(frac_minor)
    }

    /// The amount as a person types it back ("8.50", "120"), for an editable field.
    pub fn plain(&self) -> String {
        let exp = self.exponent();
        let unit = 10_i64.pow(exp);
        let (whole, frac) = (self.minor / unit, (self.minor % unit).abs());
        if frac == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{frac:0width$}", width = exp as usize)
        }
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An E.164 phone grouped for reading: `+15125550123` → `+1 512 555 0123` (NANP), otherwise
/// the country code and the rest in groups of three (four at the end).
pub fn display_phone(e164: &str) -> String {
    let Some(digits) = e164.strip_prefix('+') else {
        return e164.to_string();
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return e164.to_string();
    }
    if digits.len() == 11 && digits.starts_with('1') {
        return format!("+1 {} {} {}", &digits[1..4], &digits[4..7], &digits[7..]);
    }
    let (cc, rest) = digits.split_at(digits.len().min(2));
    let mut out = format!("+{cc}");
    let mut i = 0;
    while i < rest.len() {
        let take = if rest.len() - i == 4 {
            4
        } else {
            3.min(rest.len() - i)
        };
        out.push(' ');
        out.push_str(&rest[i..i + take]);
        i += take;
    }
    out
}

/// What went wrong, for the UI to decide what to do (the message is for people). Serialized
/// as its snake_case name, e.g. `relay_unreachable`; a code this build does not know (a newer
/// backend) reads as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// An amount that is not money in the shop's currency.
    BadAmount,
    /// A date or period that cannot be read.
    BadDate,
    /// A catalog that does not parse or check.
    CatalogInvalid,
    /// A file could not be written.
    ExportFailed,
    /// Retrying a failed job failed again.
    FailedAgain,
    /// A file could not be read.
    File,
    /// Input the core refused.
    InvalidInput,
    /// An invoice draft that does not check.
    InvoiceInvalid,
    /// The window could not reach the backend (UI side only).
    Ipc,
    /// The relay refused a lead change.
    LeadRefused,
    /// The relay refused the model settings.
    LlmRefused,
    /// The relay refused to send a message.
    MessageRefused,
    /// The relay refused a board move.
    MoveRefused,
    /// The thing asked for does not exist.
    NotFound,
    /// The relay refused notification settings.
    NotifyRefused,
    /// Pairing with a relay failed.
    PairingFailed,
    /// The relay refused the pipeline.
    PipelineRefused,
    /// The payment provider refused (the invoice was created, not sent).
    ProviderRefused,
    /// The refund was refused.
    RefundRefused,
    /// The relay refused the command.
    Refused,
    /// The relay answered something this version cannot read.
    RelayProtocol,
    /// The relay could not be reached.
    RelayUnreachable,
    /// A reply wording that does not check.
    ReplyInvalid,
    /// The relay refused the automation rules.
    RulesRefused,
    /// A scenario that does not check.
    ScenarioInvalid,
    /// A provider secret that was refused.
    SecretInvalid,
    /// The local database failed.
    Storage,
    /// A template that does not parse.
    TemplateInvalid,
    /// The relay refused the template.
    TemplateRefused,
    /// A bot test that does not check.
    TestInvalid,
    /// This device is signed out of its relay.
    Unauthorized,
    /// Checking for updates failed.
    Update,
    /// The update settings cannot be used.
    UpdateConfig,
    /// No update server is configured.
    UpdateNotConfigured,
    /// An update whose signature does not verify.
    UpdateSignature,
    /// The update server could not be reached.
    UpdateUnreachable,
    /// The relay refused the WhatsApp settings.
    WhatsappRefused,
    /// A code this build does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as sent over IPC (and put in `data-outcome` attributes).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadAmount => "bad_amount",
            Self::BadDate => "bad_date",
            Self::CatalogInvalid => "catalog_invalid",
            Self::ExportFailed => "export_failed",
            Self::FailedAgain => "failed_again",
            Self::File => "file",
            Self::InvalidInput => "invalid_input",
            Self::InvoiceInvalid => "invoice_invalid",
            Self::Ipc => "ipc",
            Self::LeadRefused => "lead_refused",
            Self::LlmRefused => "llm_refused",
            Self::MessageRefused => "message_refused",
            Self::MoveRefused => "move_refused",
            Self::NotFound => "not_found",
            Self::NotifyRefused => "notify_refused",
            Self::PairingFailed => "pairing_failed",
            Self::PipelineRefused => "pipeline_refused",
            Self::ProviderRefused => "provider_refused",
            Self::RefundRefused => "refund_refused",
            Self::Refused => "refused",
            Self::RelayProtocol => "relay_protocol",
            Self::RelayUnreachable => "relay_unreachable",
            Self::ReplyInvalid => "reply_invalid",
            Self::RulesRefused => "rules_refused",
            Self::ScenarioInvalid => "scenario_invalid",
            Self::SecretInvalid => "secret_invalid",
            Self::Storage => "storage",
            Self::TemplateInvalid => "template_invalid",
            Self::TemplateRefused => "template_refused",
            Self::TestInvalid => "test_invalid",
            Self::Unauthorized => "unauthorized",
            Self::Update => "update",
            Self::UpdateConfig => "update_config",
            Self::UpdateNotConfigured => "update_not_configured",
            Self::UpdateSignature => "update_signature",
            Self::UpdateUnreachable => "update_unreachable",
            Self::WhatsappRefused => "whatsapp_refused",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one error shape every Tauri command returns. The UI decides what to do from `code`;
/// `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// What went wrong, in words a rep or owner can act on.
    pub message: String,
}

impl CommandError {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// What the app tells the UI about itself (shown in Settings and the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// The app's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The shop this desktop belongs to.
    pub shop_name: String,
    /// `local` (relay runs inside the app) or `remote` (synced from a relay).
    pub mode: String,
    /// Whether sandbox providers are in use (the demo).
    pub sandbox: bool,
    /// The provider new invoices get links from: `stripe`, `sandbox`, or `none` (a hosted
    /// relay without the sandbox, before Stripe is connected: no link can be sent).
    #[serde(default)]
    pub payment_provider: String,
    /// Where the app's SQLite database lives.
    pub database_path: String,
    /// This device's role: `owner` (everything) or `rep` (no metrics, no AI Agent setup).
    #[serde(default)]
    pub role: String,
}

/// One row of the conversation inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Conversation id.
    pub id: i64,
    /// Customer phone in E.164 (`+15125550123`).
    pub customer_phone: String,
    /// Customer's display name, when WhatsApp gave one.
    pub customer_name: Option<String>,
    /// Text of the newest message.
    pub last_message: String,
    /// When the newest message was sent (Unix seconds).
    pub last_message_at: i64,
    /// Whether the bot still answers in this conversation.
    pub bot_enabled: bool,
    /// Messages the rep has not opened yet.
    pub unread: i64,
    /// Why the bot handed it to a person (the handoff queue), while it is with one.
    pub handoff_reason: Option<String>,
    /// Where the sale stands: `New`, `Awaiting payment`, `Paid`, `Link expired`, `Refunded`.
    #[serde(default)]
    pub stage: String,
    /// The customer wrote STOP (no bot or reminder messages until they write again).
    #[serde(default)]
    pub opted_out: bool,
    /// The lead's tags (`paid`, `payment_abandoned`, …).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A customer's lead: stage, tags, custom fields and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadView {
    /// E.164.
    pub phone: String,
    /// Pipeline stage.
    pub stage: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom fields as shown: (`lastPayment`, `$128`).
    pub fields: Vec<(String, String)>,
    /// Oldest first: (Unix seconds, what happened).
    pub history: Vec<(i64, String)>,
}

/// A conversation found by the inbox search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The customer.
    pub customer_phone: String,
    /// The matching message, the match between `[` and `]`.
    pub snippet: String,
    /// When it was written.
    pub at: i64,
}

/// The WhatsApp channel as Settings shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappView {
    /// `sandbox` or `whatsapp`.
    pub channel: String,
    /// The connected number as Meta shows it.
    pub display_phone_number: Option<String>,
    /// The business name customers see.
    pub verified_name: Option<String>,
    /// The address to paste into Meta's webhook settings (Callback URL).
    pub webhook_url: String,
}

/// The optional phrasing model as the AI Agent screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LlmView {
    /// Rewording replies.
    pub enabled: bool,
    /// Reading customers' messages.
    #[serde(default)]
    pub reader: bool,
    /// Its base URL.
    pub base_url: String,
    /// Its model.
    pub model: String,
    /// The stored key, masked.
    pub key_hint: Option<String>,
}

/// One editable reply of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyView {
    /// `en.greeting`, `es.paid`, …
    pub key: String,
    /// The variables it may use.
    pub variables: Vec<String>,
    /// The text in use (the shop's or the built-in one).
    pub text: String,
    /// Whether the shop changed it.
    pub custom: bool,
}

/// One message of a conversation's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadMessage {
    /// `in` (the customer) or `out` (the shop).
    pub direction: String,
    /// Text.
    pub text: String,
    /// Unix seconds.
    pub at: i64,
    /// `bot` or `rep` for the shop's messages.
    #[serde(default)]
    pub author: Option<String>,
    /// Delivery on WhatsApp: `queued`, `accepted`, `sent`, `delivered`, `read`, `failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Invoice status as the rep sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Being composed; not sent.
    Draft,
    /// Sent with a pay link; not paid.
    Sent,
    /// Paid in full.
    Paid,
    /// The pay link expired unpaid.
    Expired,
    /// Paid, then refunded in full.
    Refunded,
    /// Paid, then refunded in part.
    PartiallyRefunded,
    /// The payment failed.
    Failed,
}

impl InvoiceStatus {
    /// The word stored in the database and shown on badges.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sent => "sent",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored word; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "sent" => Self::Sent,
            "paid" => Self::Paid,
            "expired" => Self::Expired,
            "refunded" => Self::Refunded,
            "partially_refunded" => Self::PartiallyRefunded,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Label for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Sent => "Sent",
            Self::Paid => "Paid",
            Self::Expired => "Expired",
            Self::Refunded => "Refunded",
            Self::PartiallyRefunded => "Partially refunded",
            Self::Failed => "Failed",
        }
    }
}

/// One row of the invoice list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSummary {
    /// Invoice id.
    pub id: i64,
    /// Per-shop number shown to people (`4821` → `#4821`).
    pub number: i64,
    /// Customer phone (E.164).
    pub customer_phone: String,
    /// Total including shipping.
    pub total: Money,
    /// Current status.
    pub status: InvoiceStatus,
    /// When the invoice was created (Unix seconds).
    pub created_at: i64,
    /// When it was paid, if it was.
    pub paid_at: Option<i64>,
    /// `one_time` or `subscription`.
    pub kind: String,
    /// A subscription's cadence in words ("every 14 days").
    pub cadence: Option<String>,
    /// The pay link, once sent.
    pub link: Option<String>,
    /// When the link stops working (Unix seconds).
    pub link_expires_at: Option<i64>,
    /// `sandbox` or `stripe`, once sent.
    pub provider: Option<String>,
    /// Refunded so far.
    pub refunded: Money,
    /// `webhook` or `manual` once paid.
    pub paid_via: Option<String>,
    /// Line items, as the customer reads them ("1 × Vitamin C serum (50ml) — $64").
    pub items: Vec<String>,
    /// Why the pay link could not be made (the provider's words), until it is.
    pub send_error: Option<String>,
}

/// A card on the "Ready to ship" board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipCard {
    /// Order id.
    pub order_id: i64,
    /// Invoice number (`#4821`).
    pub invoice_number: i64,
    /// Board column: `ready_to_ship`, `shipped` or `delivered`.
    pub stage: String,
    /// One line per item, e.g. `1 × Hydrating cream`.
    pub items: Vec<String>,
    /// Delivery address as the customer gave it.
    pub address: String,
    /// Amount paid.
    pub amount: Money,
    /// When it was paid (Unix seconds).
    pub paid_at: i64,
}

/// One entry of the payment feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEntry {
    /// Payment id.
    pub id: i64,
    /// Provider (`stripe`, `sandbox`).
    pub provider: String,
    /// What happened: `succeeded`, `failed`, `refunded`; or an event kept but not applied:
    /// `mismatch` (amount or currency differ from the invoice), `wrong_provider` (not the
    /// provider of the invoice's link), `test_mode` (a test event for a live shop).
    pub outcome: String,
    /// Amount of the payment (or refund).
    pub amount: Money,
    /// Invoice number it belongs to, if matched.
    pub invoice_number: Option<i64>,
    /// The customer's phone (E.164), when the payment matched an invoice.
    pub customer_phone: Option<String>,
    /// When the provider reported it (Unix seconds).
    pub occurred_at: i64,
    /// The matched invoice's total (shown beside a mismatch).
    #[serde(default)]
    pub expected: Option<Money>,
    /// The provider of the matched invoice's link (shown beside a wrong provider).
    #[serde(default)]
    pub invoice_provider: Option<String>,
}

/// A part of the replica some screen shows: what the window event [`REPLICA_CHANGED`] says
/// changed, so a screen refetches only when its part did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Conversations and their messages (Inbox).
    Conversations,
    /// Invoices and their states (Invoices).
    Invoices,
    /// The payment feed (Payments).
    Payments,
    /// Paid orders and their fulfilment stage (Board).
    Board,
    /// Leads, stages, tags and their history (CRM).
    Leads,
    /// The agent's scenario, catalog, replies, model and bot tests (AI Agent).
    Agent,
    /// The shop's settings, billing, channels and set-aside events (Settings).
    Settings,
    /// Owner notification channels and their results (Notifications).
    Notifications,
}

impl Area {
    /// Every area.
    pub const ALL: [Area; 8] = [
        Area::Conversations,
        Area::Invoices,
        Area::Payments,
        Area::Board,
        Area::Leads,
        Area::Agent,
        Area::Settings,
        Area::Notifications,
    ];
}

/// The window event sent after sync stored new events; its payload is [`ReplicaChanged`].
pub const REPLICA_CHANGED: &str = "replica-changed";

/// The window event sent when the sync status or the notification focus changed (no
/// payload: the UI asks `sync_status`).
pub const STATUS_CHANGED: &str = "status-changed";

/// What changed in the replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaChanged {
    /// The parts that changed, each once.
    pub areas: Vec<Area>,
    /// The newest event the replica now holds.
    pub newest: i64,
    /// The kinds of the events stored (`message.sent`, `invoice.paid`, …), each once.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The customers (E.164) whose conversation changed; `None` when that is not known (a
    /// delivery tick names only its message, a new shop changes everything): an open thread
    /// then reads again.
    #[serde(default)]
    pub customers: Option<Vec<String>>,
}

impl ReplicaChanged {
    /// Everything may have changed (another shop, the window's first read).
    pub fn everything() -> Self {
        Self {
            areas: Area::ALL.to_vec(),
            newest: 0,
            kinds: Vec::new(),
            customers: None,
        }
    }

    /// Whether `phone`'s conversation may have changed.
    pub fn touches_customer(&self, phone: &str) -> bool {
        self.areas.contains(&Area::Conversations)
            && self
                .customers
                .as_ref()
                .is_none_or(|c| c.iter().any(|p| p == phone))
    }
}

/// How this desktop's sync with the relay is doing (shown in the sidebar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatusView {
    /// `connecting`, `online`, `offline` or `revoked`.
    pub state: String,
    /// Unix seconds of the last successful sync.
    pub last_synced_at: Option<i64>,
    /// Why it is offline, when it is.
    pub detail: Option<String>,
    /// The relay this desktop syncs with.
    pub relay_url: String,
    /// `local` (the relay inside the app) or `paired` (a remote relay).
    pub mode: String,
    /// Grows each time a notification is clicked; the UI then opens the payment feed.
    pub focus_seq: u64,
    /// The order (invoice number) the clicked notification was about.
    pub focus_order: Option<i64>,
}

/// Headline figures for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// Invoices sent in the period.
    pub invoices: i64,
    /// Of those, paid within 24 hours of being sent.
    pub paid_within_24h: i64,
    /// Conversion in basis points (0..=10000); `None` without invoices.
    pub conversion_24h_bp: Option<i64>,
    /// Revenue of paid invoices, one entry per currency.
    pub revenue: Vec<Money>,
    /// Invoices marked paid by a person rather than a webhook.
    pub manual_reconciliations: i64,
    /// Mean seconds from sending to payment (paid invoices).
    #[serde(default)]
    pub avg_order_to_payment_s: Option<i64>,
    /// Median of the same.
    #[serde(default)]
    pub median_order_to_payment_s: Option<i64>,
    /// Invoices abandoned after the last reminder.
    #[serde(default)]
    pub abandoned: i64,
    /// Customers who wrote in the period.
    #[serde(default)]
    pub chats: i64,
    /// Of those, customers who paid an invoice after writing.
    #[serde(default)]
    pub chats_paid: i64,
    /// The period's first day (`2026-11-01`) and last day, in the shop's time zone.
    #[serde(default)]
    pub from: String,
    /// Last day, included.
    #[serde(default)]
    pub to: String,
    /// The shop's currency (the charts' revenue).
    #[serde(default)]
    pub currency: String,
    /// Per day or per week.
    #[serde(default)]
    pub buckets: Vec<MetricsBucket>,
}

/// One day or week on the metrics charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsBucket {
    /// Its first day, `2026-11-26`.
    pub label: String,
    /// Invoices sent.
    pub invoices: i64,
    /// Of those, paid within 24 h.
    pub paid_within_24h: i64,
    /// Revenue paid in it, minor units.
    pub revenue_minor: i64,
}

/// Settings as the Settings screen shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    /// Shop name.
    pub shop_name: String,
    /// Shop currency (ISO 4217).
    pub currency: String,
    /// Shop time zone (IANA).
    pub timezone: String,
    /// Payment provider in use: `sandbox` or `stripe`.
    pub payment_provider: String,
    /// Channel in use: `sandbox` or `whatsapp`.
    pub channel: String,
    /// Update endpoint the app checks, if any.
    pub update_endpoint: Option<String>,
}

/// Result of "Check for updates".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateCheck {
    /// The running version.
    pub current_version: String,
    /// The newer version offered, if any; present only when its download verified against
    /// the project's public key.
    pub available: Option<AvailableUpdate>,
}

/// A newer version that was downloaded and whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableUpdate {
    /// The newer version.
    pub version: String,
    /// Release notes from the manifest.
    pub notes: Option<String>,
    /// Size of the verified download in bytes.
    pub size_bytes: u64,
}

/// A command a device asks the relay to run (`POST /api/v1/commands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// A person marks an invoice paid (a manual reconciliation).
    #[serde(rename = "invoice.mark_paid")]
    InvoiceMarkPaid {
        /// The invoice.
        invoice_id: i64,
    },
    /// A rep (or the agent) creates a draft invoice; the relay numbers it and records
    /// `invoice.created`, which every desk applies.
    #[serde(rename = "invoice.create")]
    InvoiceCreate {
        /// Customer phone, E.164.
        customer_phone: String,
        /// ISO 4217.
        currency: String,
        /// At least one item.
        items: Vec<InvoiceItem>,
        /// Shipping in minor units.
        shipping_minor: i64,
        /// Delivery address.
        address: Option<String>,
        /// A subscription's cadence and first charge; `None` for a one-time invoice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscription: Option<Subscription>,
    },
    /// Sends a draft invoice: it gets its pay link (valid 48 hours) and becomes `sent`.
    /// Sending again returns the same link — an invoice never gets a second one.
    #[serde(rename = "invoice.send")]
    InvoiceSend {
        /// The invoice.
        invoice_id: i64,
    },
    /// Refunds a paid invoice through its provider, in full (`amount_minor` absent) or in
    /// part. The invoice's state follows the provider's `charge.refunded` event.
    #[serde(rename = "invoice.refund")]
    InvoiceRefund {
        /// The invoice.
        invoice_id: i64,
        /// How much, in the invoice's currency; the whole remainder when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount_minor: Option<i64>,
    },
    /// The owner connects Stripe with a secret or restricted key. The relay checks it with
    /// Stripe first (test keys: a $1 charge refunded at once; live keys: a read-only call) and
    /// stores it only if every step passed. The key never enters the event log.
    #[serde(rename = "billing.connect")]
    BillingConnect {
        /// `sk_test_…`, `sk_live_…`, `rk_test_…` or `rk_live_…`.
        key: String,
    },
    /// The owner stores the signing secret Stripe shows for the webhook endpoint.
    #[serde(rename = "billing.webhook_secret")]
    BillingWebhookSecret {
        /// `whsec_…`.
        secret: String,
    },
    /// Back to the sandbox provider: the Stripe key is deleted.
    #[serde(rename = "billing.disconnect")]
    BillingDisconnect {},
    /// The owner connects a WhatsApp Cloud API number. The relay checks the number ID and
    /// token with Meta first and stores the token (and the app secret, if given) sealed;
    /// neither enters the event log.
    #[serde(rename = "whatsapp.connect")]
    WhatsappConnect {
        /// The number's ID in WhatsApp Manager (digits).
        phone_number_id: String,
        /// A permanent (system user) or temporary access token.
        access_token: String,
        /// The Meta app secret that signs webhooks (32 hex digits), if changing it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_secret: Option<String>,
    },
    /// Back to the sandbox chat: nothing goes to WhatsApp any more.
    #[serde(rename = "whatsapp.disconnect")]
    WhatsappDisconnect {},
    /// The owner turns the optional phrasing model on or off (AI Agent → Phrasing): any
    /// OpenAI-compatible chat endpoint. Turning it on checks the endpoint with one request
    /// first; the key is stored sealed and never enters the log.
    #[serde(rename = "llm.set")]
    LlmSet {
        /// Reword the bot's replies with it.
        enabled: bool,
        /// Let it read customers' messages first (grounded; see the agent's docs).
        #[serde(default)]
        reader: bool,
        /// `https://api.openai.com/v1` or any compatible base URL.
        base_url: String,
        /// The model name.
        model: String,
        /// The API key, if changing it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key: Option<String>,
    },
    /// A rep moves a paid order on the Ready-to-ship board; moving it to `shipped` with
    /// `notify` tells the customer (the `shipped` reply).
    #[serde(rename = "order.move")]
    OrderMove {
        /// The order's invoice.
        invoice_id: i64,
        /// `ready_to_ship`, `shipped` or `delivered`.
        stage: String,
        /// Message the customer when it is shipped.
        #[serde(default)]
        notify: bool,
    },
    /// The owner saves the payment scenario (AI Agent → Scenarios → Payment).
    #[serde(rename = "scenario.set")]
    ScenarioSet {
        /// The scenario.
        scenario: Scenario,
    },
    /// A rep writes to a customer (the bot's channel carries it).
    #[serde(rename = "message.send")]
    MessageSend {
        /// E.164.
        to: String,
        /// The message.
        text: String,
    },
    /// A rep takes a conversation over (`enabled: false`) or gives it back to the bot.
    #[serde(rename = "conversation.bot")]
    ConversationBot {
        /// E.164.
        phone: String,
        /// Whether the bot answers.
        enabled: bool,
    },
    /// The owner replaces the catalog and shipping zones (the JSON form of
    /// `agent-samples.json`: `{"catalog": [...], "shipping": [...]}`). A catalog with a
    /// duplicate sku or a negative price is refused whole.
    #[serde(rename = "catalog.set")]
    CatalogSet {
        /// The catalog.
        catalog: serde_json::Value,
    },
    /// The owner saves a message template (`name`: `invoice`). A template with an unknown
    /// variable is refused and nothing changes.
    #[serde(rename = "template.set")]
    TemplateSet {
        /// Which template.
        name: String,
        /// Its text, with `{variable}` placeholders.
        text: String,
    },
    /// The owner saves the CRM's automation rules (CRM → Automations), in order. Rules with
    /// an unknown stage, an empty tag, a message with an unknown variable, a hand-off on a
    /// hand-off, or a repeated id are refused whole.
    #[serde(rename = "automations.set")]
    AutomationsSet {
        /// The rules.
        rules: Vec<automation::Rule>,
    },
    /// The owner edits the pipeline's stages (CRM → Pipeline), in order. The stages the
    /// shop's flow moves leads to by itself stay; a stage a rule or a lead uses stays.
    #[serde(rename = "pipeline.set")]
    PipelineSet {
        /// The stages.
        stages: Vec<String>,
    },
    /// A rep moves a lead to a stage or tags it by hand.
    #[serde(rename = "lead.update")]
    LeadUpdate {
        /// E.164.
        phone: String,
        /// The new stage.
        #[serde(default)]
        stage: Option<String>,
        /// A tag to add.
        #[serde(default)]
        add_tag: Option<String>,
        /// A tag to remove.
        #[serde(default)]
        remove_tag: Option<String>,
    },
    /// The owner sets up a notification channel (Settings → Notifications). The secret
    /// (Telegram bot token, Slack webhook address, SMTP password) is stored sealed and never
    /// enters the log; absent, the stored one stays.
    #[serde(rename = "notify.set")]
    NotifySet {
        /// `telegram`, `slack`, `email` or `desktop`.
        channel: String,
        /// Whether "notify every channel" uses it.
        enabled: bool,
        /// Telegram's chat.
        #[serde(default)]
        chat_id: Option<String>,
        /// The bot token, the webhook address or the SMTP password.
        #[serde(default)]
        secret: Option<String>,
        /// SMTP server.
        #[serde(default)]
        host: Option<String>,
        /// SMTP port (587).
        #[serde(default)]
        port: Option<u16>,
        /// SMTP login.
        #[serde(default)]
        username: Option<String>,
        /// Sender address.
        #[serde(default)]
        from: Option<String>,
        /// Recipients, separated by commas.
        #[serde(default)]
        to: Option<String>,
    },
    /// The owner sends a test notification on a channel; the answer carries the provider's
    /// words (`{"ok": true, "answer": "…"}`).
    #[serde(rename = "notify.test")]
    NotifyTest {
        /// `telegram`, `slack` or `email`.
        channel: String,
    },
    /// The owner sets what a device of the shop may do beyond its role (Settings → Devices):
    /// `refund`, `mark_paid`. An empty list takes the permissions back.
    #[serde(rename = "device.permit")]
    DevicePermit {
        /// The device.
        device_id: i64,
        /// The permissions it has from now on.
        can: Vec<String>,
    },
    /// The owner saves a bot test (AI Agent → Bot tests): the customer's messages and the
    /// ending they must have — `{"ending": "invoice", "items": [{"sku", "variant", "qty"}],
    /// "total_minor"}`, `{"ending": "handoff"}` or `{"ending": "no_invoice"}`. Its id is the
    /// id of the `agent_test.saved` event recorded.
    #[serde(rename = "agent_test.save")]
    AgentTestSave {
        /// What the owner calls it.
        name: String,
        /// The customer's messages, in order.
        messages: Vec<String>,
        /// The ending they must have.
        expect: serde_json::Value,
    },
    /// The owner deletes a bot test.
    #[serde(rename = "agent_test.delete")]
    AgentTestDelete {
        /// The test's id.
        id: i64,
    },
    /// The owner signs a device out of the shop for good (Settings → Devices → Revoke): its
    /// token stops working at once and an open push stream is cut. An owner's device cannot
    /// revoke itself (that would lock the shop out of its own settings).
    #[serde(rename = "device.revoke")]
    DeviceRevoke {
        /// The device.
        device_id: i64,
    },
    /// The owner has the relay apply a quarantined event again (Settings → Events set
    /// aside), once whatever made it fail is fixed. Applied, it leaves the quarantine
    /// (`engine.released`); failing again, it stays with the new reason.
    #[serde(rename = "event.retry")]
    EventRetry {
        /// The quarantined event's id.
        event_id: i64,
    },
}

/// A bot test's result (AI Agent → Bot tests), played with the shop's setup as stored now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTestRun {
    /// The test's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether the conversation ended as it must.
    pub passed: bool,
    /// What it must end in, in words.
    pub expected: String,
    /// What it ended in, in words.
    pub got: String,
}

/// A bot test whose ending a change would alter, shown before the change is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTestChange {
    /// The test's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// What it must end in.
    pub expected: String,
    /// What it ends in now.
    pub now: String,
    /// What it would end in after the change.
    pub after: String,
    /// Whether it would still pass.
    pub passes_after: bool,
}

/// A device of the shop as the owner's Settings → Devices lists it (`GET /api/v1/devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Device id.
    pub id: i64,
    /// Its name ("Front desk").
    pub name: String,
    /// `owner` or `rep`.
    pub role: String,
    /// What it may do beyond its role (`refund`, `mark_paid`).
    pub can: Vec<String>,
    /// Unix seconds it was added.
    pub created_at: i64,
    /// Whether its token was revoked.
    pub revoked: bool,
    /// Whether it is the device asking (it cannot revoke itself).
    #[serde(default)]
    pub this_device: bool,
}

impl Command {
    /// The permission a rep's device needs for it (`refund`, `mark_paid`): moving money is
    /// the owner's unless the owner allowed that device (`device add --can …`).
    pub fn money_permission(&self) -> Option<&'static str> {
        match self {
            Self::InvoiceRefund { .. } => Some("refund"),
            Self::InvoiceMarkPaid { .. } => Some("mark_paid"),
            _ => None,
        }
    }

    /// Whether only the shop's owner may run it (providers, keys, the bot's behaviour, the
    /// catalog and templates); reps run the day (invoices, messages, the board).
    pub fn owner_only(&self) -> bool {
        matches!(
            self,
            Self::BillingConnect { .. }
                | Self::BillingWebhookSecret { .. }
                | Self::BillingDisconnect {}
                | Self::WhatsappConnect { .. }
                | Self::WhatsappDisconnect {}
                | Self::LlmSet { .. }
                | Self::ScenarioSet { .. }
                | Self::AgentTestSave { .. }
                | Self::AgentTestDelete { .. }
                | Self::CatalogSet { .. }
                | Self::TemplateSet { .. }
                | Self::AutomationsSet { .. }
                | Self::PipelineSet { .. }
                | Self::NotifySet { .. }
                | Self::NotifyTest { .. }
                | Self::DevicePermit { .. }
                | Self::DeviceRevoke { .. }
                | Self::EventRetry { .. }
        )
    }
}

/// The payment scenario: what the bot does once a customer confirms. (Its messages — the
/// handoff, "Payment received" — are reply templates, `template.set` with `reply.en.paid` …)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// Send the invoice by itself when the customer confirms an order or books with a
    /// deposit; when off, the bot hands the ready order to a person instead.
    pub auto_invoice: bool,
    /// `link`, `button` (a "Pay $128" button) or `both`.
    pub link_style: String,
    /// Paid before this local time ("18:00", the shop's time zone) is delivered today,
    /// after it tomorrow.
    pub cutoff: String,
    /// The approved WhatsApp template used outside the 24-hour window (one body variable).
    pub whatsapp_template: String,
    /// Payment reminders (Retry), in hours after the invoice was sent; after the last the
    /// invoice is abandoned and a person takes over. Empty: the default 2, 24, 48.
    #[serde(default)]
    pub reminder_hours: Vec<i64>,
    /// Above this quantity of one item the bot restates the order and asks before invoicing
    /// ("Just to check — 15 × …?"). Empty: 10.
    #[serde(default)]
    pub max_quantity: Option<u32>,
}

/// How often a subscription charges: every `count` days, weeks or months.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `day`, `week` or `month`.
    pub unit: String,
    /// How many units between charges (14 days, 2 weeks, 1 month).
    pub count: u32,
    /// Unix seconds of the first charge; now or later.
    pub first_charge_at: i64,
}

/// What the invoice composer offers: customers, products and shipping zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposerData {
    /// The shop's currency.
    pub currency: String,
    /// Customers with a conversation (newest first).
    pub customers: Vec<CustomerOption>,
    /// The catalog.
    pub products: Vec<ProductOption>,
    /// Shipping zones, first is local.
    pub zones: Vec<ZoneOption>,
    /// The provider new invoices get links from: `stripe`, `sandbox`, or `none` (no link
    /// can be sent until Stripe is connected; the composer says so).
    #[serde(default)]
    pub payment_provider: String,
}

/// A customer to bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOption {
    /// E.164.
    pub phone: String,
    /// Profile name, if known.
    pub name: Option<String>,
}

/// A catalog product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductOption {
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Other words for it (searched too).
    pub aliases: Vec<String>,
    /// Variants (empty: none).
    pub variants: Vec<String>,
    /// Unit price.
    pub price: Money,
}

/// A shipping zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneOption {
    /// Name.
    pub name: String,
    /// Price.
    pub price: Money,
    /// The default zone.
    pub default: bool,
}

/// An invoice being composed. Items name catalog skus: names and prices come from the
/// catalog on the Rust side, never from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDraft {
    /// E.164.
    pub customer_phone: String,
    /// Items.
    pub items: Vec<DraftItem>,
    /// Shipping in minor units (from the zone, or typed over).
    pub shipping_minor: i64,
    /// Delivery address.
    pub address: Option<String>,
    /// A subscription's cadence; `None` for one-time.
    pub subscription: Option<Subscription>,
}

/// One line of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftItem {
    /// Catalog sku.
    pub sku: String,
    /// Chosen variant.
    pub variant: Option<String>,
    /// Quantity.
    pub qty: i64,
}

/// A draft's total and its message as the customer will read it, or why it cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftPreview {
    /// Items plus shipping.
    pub total: Option<Money>,
    /// The message with a sample link (the real one is made when sending).
    pub message: Option<String>,
    /// What is missing or wrong.
    pub error: Option<String>,
}

/// A sent invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSent {
    /// Id.
    pub invoice_id: i64,
    /// Number.
    pub number: i64,
    /// The pay link, if the provider made it already.
    pub link: Option<String>,
    /// The message with the real link.
    pub message: Option<String>,
    /// Why the link is still on its way (the provider is slow).
    pub pending: Option<String>,
}

/// An event the relay set aside because it could not be applied (Settings → Events set
/// aside, owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideEvent {
    /// The event's id in the shop's log.
    pub event_id: i64,
    /// Its kind (`invoice.paid`, …).
    pub kind: String,
    /// Why applying it failed.
    pub reason: String,
    /// Unix seconds it was set aside.
    pub at: i64,
}

/// The Billing screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    /// `sandbox` or `stripe`.
    pub provider: String,
    /// `test` or `live` for Stripe.
    pub mode: Option<String>,
    /// The connected key, masked.
    pub key_hint: Option<String>,
    /// The address to paste into Stripe's webhook settings.
    pub webhook_url: String,
    /// The stored signing secret, masked.
    pub webhook_secret_hint: Option<String>,
}

/// The result of connecting a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectResult {
    /// Stored and in use.
    pub connected: bool,
    /// `test` or `live`.
    pub mode: Option<String>,
    /// The outcome in words (Stripe's own when it refused).
    pub message: String,
    /// Each step's result.
    pub steps: Vec<ConnectStep>,
}

/// One step of checking a Stripe key, as shown on the Billing screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectStep {
    /// `key`, `charge`, `refund` or `read`.
    pub step: String,
    /// Whether it passed.
    pub ok: bool,
    /// What happened, in words (Stripe's own message when it refused).
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_thread_reads_again_only_for_its_customer_or_when_unknown() {
        let mut changed = ReplicaChanged {
            areas: vec![Area::Conversations],
            newest: 9,
            kinds: vec!["message.sent".into()],
            customers: Some(vec!["+15125550123".into()]),
        };
        assert!(changed.touches_customer("+15125550123"));
        assert!(
            !changed.touches_customer("+447700900123"),
            "another customer's message"
        );
        changed.customers = None;
        assert!(
            changed.touches_customer("+447700900123"),
            "not known which: read again"
        );
        changed.areas = vec![Area::Invoices];
        assert!(
            !changed.touches_customer("+15125550123"),
            "no conversation changed"
        );
        let older: ReplicaChanged =
            serde_json::from_str(r#"{"areas":["conversations"],"newest":3}"#).expect("reads");
        assert!(
            older.touches_customer("+1"),
            "an older desktop's news: read again"
        );
    }

    #[test]
    fn money_reads_as_the_customer_expects() {
        assert_eq!(
            Money::new(12_800, "USD").display(),
            "$128",
            "whole dollars drop .00"
        );
        assert_eq!(
            Money::new(124_050, "USD").display(),
            "$1,240.50",
            "thousands grouped, cents kept"
        );
        assert_eq!(
            Money::new(905, "EUR").display(),
            "€9.05",
            "a leading zero in cents is kept"
        );
        assert_eq!(
            Money::new(120_000, "JPY").display(),
            "¥120,000",
            "yen has no minor unit"
        );
        assert_eq!(
            Money::new(-800, "USD").display(),
            "-$8",
            "refunds show a minus sign"
        );
        assert_eq!(
            Money::new(1_234_567, "CHF").display(),
            "12,345.67 CHF",
            "unknown symbol: code after"
        );
    }

    #[test]
    fn typed_amounts_are_read_exactly() {
        assert_eq!(Money::parse("8", "USD"), Some(800));
        assert_eq!(Money::parse("8.5", "USD"), Some(850));
        assert_eq!(Money::parse("$1,240.50", "USD"), Some(124_050));
        assert_eq!(Money::parse(".99", "USD"), Some(99));
        assert_eq!(Money::parse("0.1", "USD"), Some(10), "no float rounding");
        assert_eq!(Money::parse("1200", "JPY"), Some(1200));
        assert_eq!(
            Money::parse("8.505", "USD"),
            None,
            "more decimals than cents"
        );
        assert_eq!(Money::parse("-5", "USD"), None);
        assert_eq!(Money::parse("abc", "USD"), None);
        assert_eq!(Money::parse("", "USD"), None);
        assert_eq!(Money::new(850, "USD").plain(), "8.50");
        assert_eq!(Money::new(12_000, "USD").plain(), "120");
    }

    #[test]
    fn phones_read_in_groups() {
        assert_eq!(display_phone("+15125550123"), "+1 512 555 0123");
        assert_eq!(display_phone("+447700900123"), "+44 770 090 0123");
        assert_eq!(
            display_phone("5125550123"),
            "5125550123",
            "not E.164: shown as given"
        );
    }

    #[test]
    fn commands_are_tagged_by_type() {
        let c: Command =
            serde_json::from_str(r#"{"type":"invoice.mark_paid","invoice_id":7}"#).unwrap();
        assert_eq!(c, Command::InvoiceMarkPaid { invoice_id: 7 });
        assert!(
            serde_json::from_str::<Command>(r#"{"type":"invoice.delete","invoice_id":7}"#).is_err()
        );
    }

    #[test]
    fn command_error_serializes_as_code_and_message() {
        let json =
            serde_json::to_string(&CommandError::new(ErrorCode::Storage, "disk full")).unwrap();
        assert_eq!(json, r#"{"code":"storage","message":"disk full"}"#);
    }

    #[test]
    fn invoice_status_round_trips_through_its_stored_word() {
        for s in [
            InvoiceStatus::Draft,
            InvoiceStatus::Sent,
            InvoiceStatus::Paid,
            InvoiceStatus::Expired,
            InvoiceStatus::Refunded,
            InvoiceStatus::PartiallyRefunded,
            InvoiceStatus::Failed,
        ] {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(InvoiceStatus::parse("bogus"), None);
    }
}

/// A line item as commands and `invoice.created` events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceItem {
    /// Catalog SKU.
    pub sku: String,
    /// Product name at the time of sale.
    pub name: String,
    /// Variant (size, colour).
    #[serde(default)]
    pub variant: Option<String>,
    /// Quantity, at least 1.
    pub qty: i64,
    /// Unit price in minor units.
    pub unit_minor: i64,
}

/// A message template as the editor shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateView {
    /// The template text.
    pub text: String,
    /// The message a customer would get for the sample order, when the text is valid.
    pub preview: Option<String>,
    /// Why the text cannot be used, when it is not valid.
    pub error: Option<String>,
    /// The variables it may use (without braces).
    pub variables: Vec<String>,
    /// Whether this is the shipped default.
    pub is_default: bool,
}
