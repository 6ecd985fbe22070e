//! Notifications on the relay: the channels' settings (secrets sealed, checked before they
//! are stored), the test button, and the runner of the jobs the CRM's rules enqueue — post a
//! notification to Telegram (Bot API `sendMessage`), Slack (incoming webhook) or email (SMTP
//! with STARTTLS), message a customer, hand a conversation to a person.
//!
//! Each notification attempt is recorded as `notification.result` in the same transaction
//! that ends or reschedules its job, so the owner sees every failure and its retry, and a
//! delivered notification is never posted again by a restart. (A crash between the call and
//! that record posts it once more — the providers have no idempotency key to dedupe on.)

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use ziflow_core::notify::{self, NotifyWork, Outcome};
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_protocol::automation::{EmailSettings, NotifySettings};
use ziflow_protocol::event as ev;
use ziflow_protocol::Event;

use crate::state::AppState;

/// Runs a `notify.send` job and records how it went.
pub async fn run(state: &AppState, job: Job, work: NotifyWork) -> ziflow_core::Result<()> {
    let outcome = send(
        state,
        &job.shop_uid,
        &work.channel,
        &work.subject,
        &work.text,
    )
    .await;
    let now = state.clock.now();
    let mut log = state.log().await?;
    let (result, answer) = match outcome {
        Outcome::Sent(a) => {
            jobs::done_in(&mut log.tx, &job, now).await?;
            ("sent", a)
        }
        Outcome::Retry(a) => {
            let again = jobs::failed_in(&mut log.tx, &job, &a, true, now).await?;
            (if again { "retrying" } else { "failed" }, a)
        }
        Outcome::Refused(a) => {
            jobs::failed_in(&mut log.tx, &job, &a, false, now).await?;
            ("failed", a)
        }
    };
    if result == "sent" {
        tracing::info!(job = job.id, channel = %work.channel, "notification sent");
    } else {
        tracing::warn!(job = job.id, channel = %work.channel, attempt = job.attempts, "notification {result}: {answer}");
    }
    let outcome = Event::NotificationResult(ev::NotificationResult {
        key: job.idempotency_key.clone(),
        channel: work.channel.clone(),
        text: work.text.clone(),
        phone: work.phone.clone(),
        state: result.to_string(),
        attempts: job.attempts,
        answer: answer.to_string(),
    });
    let id = ziflow_core::log::record(&mut log.tx, &job.shop_uid, &outcome, now).await?;
    log.commit(&job.shop_uid, &[id]).await
}

/// Runs a rule's `crm.message` job: the message and the job's end commit together, so it is
/// sent exactly once.
pub async fn rule_message(
    state: &AppState,
    job: Job,
    work: ziflow_core::crm::RuleMessage,
) -> ziflow_core::Result<()> {
    let message = ev::MessageSent::new(work.to, work.text, "automation");
    record_rule_job(state, job, Event::MessageSent(message)).await
}

/// Runs a rule's `crm.handoff` job: the handoff and the job's end commit together.
pub async fn rule_handoff(
    state: &AppState,
    job: Job,
    work: ziflow_core::crm::RuleHandoff,
) -> ziflow_core::Result<()> {
    let handoff = ev::Handoff {
        phone: work.phone,
        reason: Some(work.reason),
        by: Some("automation".into()),
    };
    record_rule_job(state, job, Event::ConversationHandoff(handoff)).await
}

async fn record_rule_job(state: &AppState, job: Job, fact: Event) -> ziflow_core::Result<()> {
    let now = state.clock.now();
    let mut log = state.log().await?;
    let id = ziflow_core::log::record(&mut log.tx, &job.shop_uid, &fact, now).await?;
    jobs::done_in(&mut log.tx, &job, now).await?;
    log.commit(&job.shop_uid, &[id]).await
}

async fn settings_of(state: &AppState, shop: &str) -> Result<NotifySettings, String> {
    let mut conn = state
        .db
        .acquire()
        .await
        .map_err(|e| format!("database: {e}"))?;
    notify::settings_in(&mut conn, shop)
        .await
        .map_err(|e| format!("database: {e}"))
}

async fn secret_of(
    state: &AppState,
    shop: &str,
    name: SecretName,
) -> Result<Option<String>, String> {
    state
        .secret(shop, name)
        .await
        .map(|s| s.map(|s| s.expose().to_string()))
        .map_err(|e| format!("reading a secret: {e}"))
}

/// Posts `text` on `channel` for `shop`.
pub async fn send(
    state: &AppState,
    shop: &str,
    channel: &str,
    subject: &str,
    text: &str,
) -> Outcome {
    let settings = match settings_of(state, shop).await {
        Ok(s) => s,
        Err(e) => return Outcome::Retry(e),
    };
    let not_set_up =
        |what: &str| Outcome::Refused(format!("{what} is not set up (Settings → Notifications)"));
    let timeout = state.providers.notify_timeout;
    match channel {
        "telegram" => {
            let token = match secret_of(state, shop, SecretName::TelegramBotToken).await {
                Ok(Some(t)) => t,
                Ok(None) => return not_set_up("Telegram's bot token"),
                Err(e) => return Outcome::Retry(e),
            };
            if settings.telegram.chat_id.is_empty() {
                return not_set_up("Telegram's chat");
            }
            let (url, body) = notify::telegram_request(
                &state.providers.telegram_api_base,
                &token,
                &settings.telegram.chat_id,
                text,
            );
            post(&state.http, &url, &body, timeout, "Telegram").await
        }
        "slack" => {
            let url = match secret_of(state, shop, SecretName::SlackWebhookUrl).await {
                Ok(Some(u)) => u,
                Ok(None) => return not_set_up("Slack's webhook"),
                Err(e) => return Outcome::Retry(e),
            };
            // The owner typed this address: checked again (an address literal is not resolved
            // by the client), then called through the client that refuses internal addresses.
            if let Err(why) = ziflow_core::net::check_url(&url, state.providers.outbound()) {
                return Outcome::Refused(format!("Slack's webhook address is not used: {why}"));
            }
            post(
                &state.owner_http,
                &url,
                &notify::slack_body(text),
                timeout,
                "Slack",
            )
            .await
        }
        "email" => {
            let password = match secret_of(state, shop, SecretName::SmtpPassword).await {
                Ok(p) => p,
                Err(e) => return Outcome::Retry(e),
            };
            email(state, &settings.email, password.as_deref(), subject, text).await
        }
        "desktop" => Outcome::Refused("desktop notifications are shown by the desks".into()),
        other => Outcome::Refused(format!("there is no {other:?} channel")),
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    timeout: std::time::Duration,
    who: &str,
) -> Outcome {
    match client.post(url).timeout(timeout).json(body).send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            Outcome::of_http(status, &text)
        }
        // Without the URL: Telegram's carries the bot token, Slack's is the secret.
        Err(e) => Outcome::Retry(format!("{who} did not answer: {}", e.without_url())),
    }
}

async fn email(
    state: &AppState,
    s: &EmailSettings,
    password: Option<&str>,
    subject: &str,
    text: &str,
) -> Outcome {
    if s.host.is_empty() || s.from.is_empty() || s.to.is_empty() {
        return Outcome::Refused("email is not set up (Settings → Notifications)".into());
    }
    let message = match build_message(s, subject, text) {
        Ok(m) => m,
        Err(why) => return Outcome::Refused(why),
    };
    let mut tls = TlsParameters::builder(s.host.clone());
    if let Some(pem) = &state.providers.smtp_ca_pem {
        match Certificate::from_pem(pem) {
            Ok(c) => tls = tls.add_root_certificate(c),
            Err(e) => return Outcome::Refused(format!("the relay's SMTP CA file: {e}")),
        }
    }
    let tls = match tls.build() {
        Ok(t) => t,
        Err(e) => return Outcome::Refused(format!("TLS for {}: {e}", s.host)),
    };
    // 465 speaks TLS from the start; every other port must upgrade with STARTTLS (never plain).
    let tls = if s.port == 465 {
        Tls::Wrapper(tls)
    } else {
        Tls::Required(tls)
    };
    // The owner typed this host: resolved here and checked, and the checked address is the
    // one connected to (TLS still verifies the certificate for the host name).
    let addr = match ziflow_core::net::resolve(&s.host, s.port, state.providers.outbound()).await {
        // IPv4 first: a server on "localhost" usually listens there.
        Ok(addrs) => addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&addrs[0]).ip(),
        Err(why) => return Outcome::Refused(format!("the mail server is not used: {why}")),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.to_string())
        .port(s.port)
        .tls(tls)
        .timeout(Some(state.providers.notify_timeout));
    if !s.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            s.username.clone(),
            password.unwrap_or_default().to_string(),
        ));
    }
    match builder.build().send(message).await {
        Ok(r) => Outcome::Sent(format!(
            "SMTP {}: {}",
            r.code(),
            r.message().collect::<Vec<_>>().join(" ")
        )),
        Err(e) if e.is_permanent() => Outcome::Refused(format!("the mail server refused it: {e}")),
        Err(e) => Outcome::Retry(format!("the mail server: {e}")),
    }
}

fn build_message(s: &EmailSettings, subject: &str, text: &str) -> Result<Message, String> {
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| format!("{a:?} is not an email address: {e}"))
    };
    let mut m = Message::builder()
        .from(mailbox(&s.from)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &s.to {
        m = m.to(mailbox(to)?);
    }
    m.body(text.to_string())
        .map_err(|e| format!("the email: {e}"))
}

/// `notify.test`: one test notification on `channel`, answered with the provider's words.
pub async fn test(
    state: &AppState,
    shop: &str,
    channel: &str,
) -> ziflow_protocol::answer::NotifyTest {
    let name = ziflow_core::storage::shops::get(&state.db, shop)
        .await
        .map(|s| s.name)
        .unwrap_or_default();
    let text = format!("ZiFlow test: notifications from {name} reach this channel.");
    let (ok, answer) = match send(state, shop, channel, "ZiFlow test notification", &text).await {
        Outcome::Sent(a) => (true, a),
        Outcome::Retry(a) | Outcome::Refused(a) => (false, a),
    };
    ziflow_protocol::answer::NotifyTest {
        channel: channel.to_string(),
        ok,
        answer,
    }
}

/// A command's fields for one channel.
pub struct ChannelSet<'a> {
    /// The channel.
    pub channel: &'a str,
    /// Used by "notify every channel".
    pub enabled: bool,
    /// Telegram's chat.
    pub chat_id: Option<&'a str>,
    /// Token, webhook address or password.
    pub secret: Option<&'a str>,
    /// SMTP server.
    pub host: Option<&'a str>,
    /// SMTP port.
    pub port: Option<u16>,
    /// SMTP login.
    pub username: Option<&'a str>,
    /// Sender.
    pub from: Option<&'a str>,
    /// Recipients, comma-separated.
    pub to: Option<&'a str>,
}

/// `notify.set`: checks the channel's settings (a Telegram token with Telegram itself), stores
/// the secret sealed and returns the public settings to record, or why not.
pub async fn set(state: &AppState, shop: &str, c: &ChannelSet<'_>) -> Result<Event, String> {
    let mut settings = settings_of(state, shop).await?;
    let given = c.secret.map(str::trim).filter(|s| !s.is_empty());
    let mut store: Option<(SecretName, &str)> = None;
    match c.channel {
        "telegram" => {
            let chat = c.chat_id.unwrap_or_default().trim();
            if c.enabled && chat.is_empty() {
                return Err("name the chat: its id (like -1001234567890) or @channelname".into());
            }
            if let Some(token) = given {
                let (id, rest) = token.split_once(':').unwrap_or_default();
                if id.is_empty()
                    || !id.chars().all(|d| d.is_ascii_digit())
                    || rest.len() < 20
                    || !rest
                        .chars()
                        .all(|d| d.is_ascii_alphanumeric() || d == '_' || d == '-')
                {
                    return Err("a bot token looks like 123456789:AAH… (from @BotFather)".into());
                }
                let url = format!(
                    "{}/bot{token}/getMe",
                    state.providers.telegram_api_base.trim_end_matches('/')
                );
                let res = state
                    .http
                    .get(&url)
                    .timeout(state.providers.notify_timeout)
                    .send()
                    .await
                    .map_err(|e| format!("Telegram did not answer: {}", e.without_url()))?;
                if !res.status().is_success() {
                    let status = res.status().as_u16();
                    let body = res.text().await.unwrap_or_default();
                    return Err(format!(
                        "Telegram refused the token: {}",
                        ziflow_core::net::short_answer(status, &body)
                    ));
                }
                store = Some((SecretName::TelegramBotToken, token));
                settings.telegram.token_hint = format!("{id}:…{}", &rest[rest.len() - 4..]);
            } else if c.enabled && settings.telegram.token_hint.is_empty() {
                return Err("add the bot token @BotFather gave you".into());
            }
            settings.telegram.chat_id = chat.to_string();
            settings.telegram.enabled = c.enabled;
        }
        "slack" => {
            if let Some(url) = given {
                if url.contains(char::is_whitespace) {
                    return Err(
                        "the webhook address starts with https://hooks.slack.com/services/".into(),
                    );
                }
                ziflow_core::net::check_and_resolve(url, state.providers.outbound())
                    .await
                    .map_err(|why| format!("the webhook address is not used: {why}"))?;
                store = Some((SecretName::SlackWebhookUrl, url));
                settings.slack.url_hint = notify::url_hint(url);
            } else if c.enabled && settings.slack.url_hint.is_empty() {
                return Err(
                    "add the incoming webhook's address (Slack → Apps → Incoming Webhooks)".into(),
                );
            }
            settings.slack.enabled = c.enabled;
        }
        "email" if !c.enabled && c.host.unwrap_or_default().trim().is_empty() => {
            // Turning off an email channel that was never set up.
            settings.email.enabled = false;
        }
        "email" => {
            let host = c.host.unwrap_or_default().trim();
            let port = c.port.unwrap_or(587);
            let from = c.from.unwrap_or_default().trim();
            let to: Vec<String> =
                c.to.unwrap_or_default()
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect();
            if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
                return Err("name the SMTP server (like smtp.example.com)".into());
            }
            if port == 0 {
                return Err("the SMTP port is 587 (STARTTLS) or 465".into());
            }
            let email = EmailSettings {
                enabled: c.enabled,
                host: host.to_string(),
                port,
                username: c.username.unwrap_or_default().trim().to_string(),
                password_set: given.is_some() || settings.email.password_set,
                from: from.to_string(),
                to,
            };
            if email.to.is_empty() {
                return Err("name at least one recipient".into());
            }
            build_message(&email, "check", "check")?;
            if let Some(p) = given {
                store = Some((SecretName::SmtpPassword, p));
            }
            settings.email = email;
        }
        "desktop" => settings.desktop = c.enabled,
        other => {
            return Err(format!(
                "there is no {other:?} channel; channels: telegram, slack, email, desktop"
            ))
        }
    }
    if let Some((name, value)) = store {
        shop_secrets::set(&state.db, &state.master_key, shop, name, value)
            .await
            .map_err(|e| e.to_string())?;
        state.secrets.forget(shop, name);
    }
    let value = serde_json::to_string(&settings).map_err(|e| e.to_string())?;
    Ok(Event::SettingsChanged(ev::SettingChanged {
        key: notify::SETTINGS_KEY.to_string(),
        value,
    }))
}
