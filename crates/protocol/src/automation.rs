//! The CRM's automation rules ("On EVENT [if CONDITION] → ACTIONS") and the notification
//! channels, as the relay stores them and the desk's editor shows them.

use serde::{Deserialize, Serialize};

/// What a rule listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Every trigger, in the order the editor lists them.
    pub const ALL: [Trigger; 7] = [
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::InvoiceSent,
        Self::LinkExpired,
        Self::ReminderExhausted,
        Self::MessageReceived,
        Self::Handoff,
    ];

    /// The event kind in the log.
    pub fn event_kind(self) -> &'static str {
        match self {
            Self::PaymentSucceeded => "invoice.paid",
            Self::PaymentFailed => "invoice.failed",
            Self::InvoiceSent => "invoice.sent",
            Self::LinkExpired => "invoice.expired",
            Self::ReminderExhausted => "invoice.abandoned",
            Self::MessageReceived => "whatsapp.message",
            Self::Handoff => "conversation.handoff",
        }
    }

    /// The trigger of an event kind.
    pub fn of(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.event_kind() == kind)
    }

    /// The stored name (`payment_succeeded`).
    pub fn key(self) -> &'static str {
        match self {
            Self::PaymentSucceeded => "payment_succeeded",
            Self::PaymentFailed => "payment_failed",
            Self::InvoiceSent => "invoice_sent",
            Self::LinkExpired => "link_expired",
            Self::ReminderExhausted => "reminder_exhausted",
            Self::MessageReceived => "message_received",
            Self::Handoff => "handoff",
        }
    }

    /// The trigger called `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.key() == key)
    }

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Self::PaymentSucceeded => "Payment succeeded",
            Self::PaymentFailed => "Payment failed",
            Self::InvoiceSent => "Invoice sent",
            Self::LinkExpired => "Pay link expired",
            Self::ReminderExhausted => "Reminders exhausted",
            Self::MessageReceived => "Message received",
            Self::Handoff => "Handed to a person",
        }
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

/// What a rule does.
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
    /// Tell people on the notification channels (the event's notification template). No
    /// channels: every channel that is turned on.
    Notify {
        /// `telegram`, `slack`, `email`, `desktop`.
        #[serde(default)]
        channels: Vec<String>,
    },
    /// Message the customer (on WhatsApp or the sandbox chat), with the event's variables.
    SendMessage {
        /// The message, with `{variable}` placeholders.
        text: String,
    },
    /// Hand the conversation to a person (the bot stops answering it).
    Handoff {
        /// Why, as the rep sees it.
        reason: String,
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

/// The notification channels.
pub const CHANNELS: [&str; 4] = ["telegram", "slack", "email", "desktop"];

/// A channel in words.
pub fn channel_label(channel: &str) -> &str {
    match channel {
        "telegram" => "Telegram",
        "slack" => "Slack",
        "email" => "Email",
        "desktop" => "Desktop",
        other => other,
    }
}

/// Telegram: a bot posts to a chat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramSettings {
    /// Used by "notify every channel".
    pub enabled: bool,
    /// The chat (a number like `-1001234567890`, or `@channelname`).
    pub chat_id: String,
    /// The bot token, shortened (`123456:…AbCd`); empty when none is stored.
    pub token_hint: String,
}

/// Slack: an incoming webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackSettings {
    /// Used by "notify every channel".
    pub enabled: bool,
    /// The webhook's address with its secret part hidden; empty when none is stored.
    pub url_hint: String,
}

/// Email through the shop's SMTP server (STARTTLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSettings {
    /// Used by "notify every channel".
    pub enabled: bool,
    /// SMTP server.
    pub host: String,
    /// Its submission port (587).
    pub port: u16,
    /// Login (empty: none).
    pub username: String,
    /// Whether a password is stored.
    pub password_set: bool,
    /// The sender address.
    pub from: String,
    /// Who receives them.
    pub to: Vec<String>,
}

/// The shop's notification channels (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifySettings {
    /// Telegram.
    #[serde(default)]
    pub telegram: TelegramSettings,
    /// Slack.
    #[serde(default)]
    pub slack: SlackSettings,
    /// Email.
    #[serde(default)]
    pub email: EmailSettings,
    /// The desk's OS notification.
    #[serde(default = "yes")]
    pub desktop: bool,
}

fn yes() -> bool {
    true
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            telegram: TelegramSettings::default(),
            slack: SlackSettings::default(),
            email: EmailSettings::default(),
            desktop: true,
        }
    }
}

impl NotifySettings {
    /// Whether `channel` is turned on.
    pub fn enabled(&self, channel: &str) -> bool {
        match channel {
            "telegram" => self.telegram.enabled,
            "slack" => self.slack.enabled,
            "email" => self.email.enabled,
            "desktop" => self.desktop,
            _ => false,
        }
    }
}

/// One notification to a channel and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRow {
    /// `telegram`, `slack`, `email`.
    pub channel: String,
    /// What it says.
    pub text: String,
    /// The customer it is about.
    pub phone: Option<String>,
    /// `sent`, `retrying` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The provider's last answer.
    pub answer: String,
    /// When it last changed (Unix seconds).
    pub at: i64,
}

/// A notification template and what it may say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyTemplateView {
    /// The event (`payment_succeeded`).
    pub event: String,
    /// The event in words.
    pub label: String,
    /// The shop's text (the default when not changed).
    pub text: String,
    /// The built-in text.
    pub default_text: String,
}

/// A lead in the CRM's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRow {
    /// E.164.
    pub phone: String,
    /// The customer's profile name, if known.
    pub name: Option<String>,
    /// Pipeline stage.
    pub stage: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom fields as shown.
    pub fields: Vec<(String, String)>,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

/// Settings → Notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsView {
    /// The channels.
    pub settings: NotifySettings,
    /// One template per event.
    pub templates: Vec<NotifyTemplateView>,
    /// What a template may say (`amount`, `phone`, …).
    pub variables: Vec<String>,
    /// The latest notifications, newest first.
    pub recent: Vec<NotificationRow>,
}

/// CRM → Automations and Pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationsView {
    /// The rules, in the order they run.
    pub rules: Vec<Rule>,
    /// The pipeline's stages.
    pub stages: Vec<String>,
    /// Stages the flow moves leads to by itself (they stay in the pipeline).
    pub flow_stages: Vec<String>,
    /// What a rule's message may say.
    pub variables: Vec<String>,
}
