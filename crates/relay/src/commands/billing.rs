//! The commands that need the relay's secrets and calls to providers: connect a Stripe key
//! (checked with Stripe before anything is stored), store the webhook signing secret, go
//! back to the sandbox; connect a WhatsApp Cloud API number (checked with Meta) or go back to
//! the sandbox chat. Keys are sealed in `shop_secrets`; the log and the desks only ever
//! see a hint (`sk_test_…4242`).

use ziflow_core::pay::stripe::{self, Stripe};
use ziflow_core::secrets::Secret;
use ziflow_core::storage::command_results::{self, Stored};
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_protocol::answer::{self, Refusal};
use ziflow_protocol::event as ev;
use ziflow_protocol::{Command, Event};

use super::{answered, refusal, refused, replayed, Answer};
use crate::error::Error;
use crate::state::AppState;

/// Runs `command` if it is a billing command (`None` otherwise), once per idempotency key.
pub async fn run(
    state: &AppState,
    shop: &str,
    key: &str,
    command: &Command,
) -> Result<Option<Answer>, Error> {
    if !matches!(
        command,
        Command::BillingConnect { .. }
            | Command::BillingWebhookSecret { .. }
            | Command::BillingDisconnect {}
            | Command::WhatsappConnect { .. }
            | Command::WhatsappDisconnect {}
            | Command::LlmSet { .. }
            | Command::NotifySet { .. }
            | Command::NotifyTest { .. }
    ) {
        return Ok(None);
    }
    if let Some(answer) = replayed(state, shop, key).await? {
        return Ok(Some(answer));
    }
    let (stored, event) = match command {
        Command::BillingConnect { key: api_key } => connect(state, shop, key, api_key).await?,
        Command::WhatsappConnect {
            phone_number_id,
            access_token,
            app_secret,
        } => match crate::channel::connect(
            state,
            shop,
            phone_number_id,
            access_token,
            app_secret.as_deref(),
        )
        .await
        {
            Ok(info) => (
                answered(
                    200,
                    &answer::Channel {
                        connected: true,
                        channel: "whatsapp".into(),
                        number: Some(info.clone()),
                    },
                ),
                Some(Event::ChannelConnected(info)),
            ),
            Err(why) => (refused(400, &Refusal::new("whatsapp_refused", why)), None),
        },
        Command::LlmSet {
            enabled,
            reader,
            base_url,
            model,
            api_key,
        } => match crate::phrase::set(
            state,
            shop,
            crate::phrase::Uses {
                reword: *enabled,
                read: *reader,
            },
            base_url,
            model,
            api_key.as_deref(),
        )
        .await
        {
            Ok(event) => (answered(200, &event), Some(Event::LlmChanged(event))),
            Err(why) => (refused(400, &Refusal::new("llm_refused", why)), None),
        },
        Command::NotifyTest { channel } => (
            answered(200, &crate::notify::test(state, shop, channel).await),
            None,
        ),
        Command::NotifySet {
            channel,
            enabled,
            chat_id,
            secret,
            host,
            port,
            username,
            from,
            to,
        } => {
            let set = crate::notify::ChannelSet {
                channel,
                enabled: *enabled,
                chat_id: chat_id.as_deref(),
                secret: secret.as_deref(),
                host: host.as_deref(),
                port: *port,
                username: username.as_deref(),
                from: from.as_deref(),
                to: to.as_deref(),
            };
            match crate::notify::set(state, shop, &set).await {
                Ok(event) => (
                    answered(
                        200,
                        &answer::SecretSaved {
                            saved: true,
                            hint: None,
                            channel: Some(channel.clone()),
                        },
                    ),
                    Some(event),
                ),
                Err(why) => (refused(400, &Refusal::new("notify_refused", why)), None),
            }
        }
        Command::WhatsappDisconnect {} => {
            shop_secrets::delete(&state.db, shop, SecretName::WhatsAppAccessToken).await?;
            state.secrets.forget(shop, SecretName::WhatsAppAccessToken);
            (
                answered(
                    200,
                    &answer::Channel {
                        connected: false,
                        channel: "sandbox".into(),
                        number: None,
                    },
                ),
                Some(Event::ChannelDisconnected(ev::ChannelDisconnected {
                    channel: Some("sandbox".into()),
                })),
            )
        }
        Command::BillingWebhookSecret { secret } => {
            match shop_secrets::set(
                &state.db,
                &state.master_key,
                shop,
                SecretName::StripeWebhook,
                secret.trim(),
            )
            .await
            {
                Ok(()) => {
                    state.secrets.forget(shop, SecretName::StripeWebhook);
                    let hint = stripe::key_hint(secret);
                    (
                        answered(
                            200,
                            &answer::SecretSaved {
                                saved: true,
                                hint: Some(hint.clone()),
                                channel: None,
                            },
                        ),
                        Some(Event::SettingsChanged(ev::SettingChanged {
                            key: "billing.webhook_secret_hint".into(),
                            value: hint,
                        })),
                    )
                }
                Err(e @ ziflow_core::Error::InvalidInput(_)) => (refusal(&e), None),
                Err(e) => return Err(e.into()),
            }
        }
        _ => disconnect(state, shop).await?,
    };
    let now = state.clock.now();
    let mut log = state.log().await?;
    let mut events = Vec::new();
    if let Some(fact) = event {
        events.push(ziflow_core::log::record(&mut log.tx, shop, &fact, now).await?);
    }
    command_results::put(&mut log.tx, shop, key, &stored, now).await?;
    log.commit(shop, &events).await?;
    Ok(Some(Answer {
        stored,
        replayed: false,
    }))
}

/// Checks `api_key` with Stripe and stores it only if every step passed.
async fn connect(
    state: &AppState,
    shop: &str,
    idempotency_key: &str,
    api_key: &str,
) -> Result<(Stored, Option<Event>), Error> {
    let api_key = api_key.trim();
    let mode = match stripe::key_mode(api_key) {
        Ok(m) => m,
        Err(why) => {
            let steps = [ziflow_protocol::ConnectStep {
                step: "key".into(),
                ok: false,
                detail: why.clone(),
            }];
            return Ok((
                refused(
                    400,
                    &Refusal {
                        steps: steps.to_vec(),
                        ..Refusal::new("bad_request", why)
                    },
                ),
                None,
            ));
        }
    };
    let client = Stripe::new(
        &state.providers.stripe_api_base,
        Secret::new(api_key),
        state.providers.stripe_timeout,
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let steps = client
        .check_key(mode, &format!("ziflow-{shop}-connect-{idempotency_key}"))
        .await;
    if let Some(failed) = steps.iter().find(|s| !s.ok) {
        return Ok((
            refused(
                400,
                &Refusal {
                    steps: steps.clone(),
                    ..Refusal::new("stripe_refused", failed.detail.clone())
                },
            ),
            None,
        ));
    }
    shop_secrets::set(
        &state.db,
        &state.master_key,
        shop,
        SecretName::StripeApiKey,
        api_key,
    )
    .await?;
    state.secrets.forget(shop, SecretName::StripeApiKey);
    let hint = stripe::key_hint(api_key);
    Ok((
        answered(
            200,
            &answer::BillingConnect {
                connected: true,
                provider: "stripe".into(),
                mode: mode.as_str().into(),
                key_hint: hint.clone(),
                steps: steps.clone(),
            },
        ),
        Some(Event::BillingConnected(ev::BillingConnected {
            provider: "stripe".into(),
            mode: mode.as_str().into(),
            key_hint: hint,
            steps,
        })),
    ))
}

/// How long disconnecting may spend deactivating the shop's open links at Stripe.
const DEACTIVATE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Disconnects Stripe in one state change: the API key **and** the webhook signing secret
/// are deleted, the open Stripe links are deactivated at Stripe (with the key held in memory;
/// those Stripe does not confirm in time are named in the answer, for the owner to switch
/// off in Stripe's dashboard), and `billing.disconnected` expires those invoices' links in
/// the log. New invoices then use the sandbox where this relay runs one, else none.
async fn disconnect(state: &AppState, shop: &str) -> Result<(Stored, Option<Event>), Error> {
    use ziflow_core::pay::PaymentProvider;
    // The key first, held here for switching links off; then it and the signing secret are
    // deleted — before the open links are read, so a link job that made a link with the old
    // key either recorded it before (and it is in the list below) or finds the key gone when
    // it records, and switches its link off itself (see `pay::still_connected`).
    let key = crate::pay::stripe_key(state, shop).await?;
    shop_secrets::delete(&state.db, shop, SecretName::StripeApiKey).await?;
    shop_secrets::delete(&state.db, shop, SecretName::StripeWebhook).await?;
    state.secrets.forget(shop, SecretName::StripeApiKey);
    state.secrets.forget(shop, SecretName::StripeWebhook);
    let open = {
        let mut conn = state.db.acquire().await?;
        ziflow_core::storage::invoices::open_links_in(&mut conn, shop, "stripe").await?
    };
    let mut not_deactivated = Vec::new();
    let client = match key {
        Some(key) if !open.is_empty() => Some(
            Stripe::new(
                &state.providers.stripe_api_base,
                key,
                state.providers.stripe_timeout,
            )
            .map_err(|e| Error::Internal(e.to_string()))?,
        ),
        _ => None,
    };
    let deadline = tokio::time::Instant::now() + DEACTIVATE_DEADLINE;
    for inv in &open {
        let done = match (&client, &inv.link_ref) {
            (Some(client), Some(reference)) => {
                let idem = format!("ziflow-{shop}-{}-disconnect", inv.id);
                matches!(
                    tokio::time::timeout_at(deadline, client.deactivate_link(reference, &idem))
                        .await,
                    Ok(Ok(()))
                )
            }
            _ => false,
        };
        if !done {
            not_deactivated.push(answer::LinkLeftOpen {
                number: inv.number,
                link: inv.pay_link.clone(),
            });
        }
    }
    let next = if state.sandbox_key.is_some() {
        "sandbox"
    } else {
        "none"
    };
    let answer = answer::BillingDisconnect {
        connected: false,
        provider: next.into(),
        links_expired: open.len(),
        not_deactivated,
    };
    Ok((
        answered(200, &answer),
        Some(Event::BillingDisconnected(ev::BillingDisconnected {
            provider: next.to_string(),
            links_expired: i64::try_from(open.len()).ok(),
        })),
    ))
}
