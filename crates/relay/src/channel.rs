//! The WhatsApp Cloud API channel on the relay: the runner's side of the `wa.*` jobs (post a
//! message, mark one read) and connecting a shop's number (Settings → WhatsApp).
//!
//! A message is decided when its job runs ([`ziflow_core::channel::prepare_in`]: opt-out,
//! 24-hour window, link style), posted with no transaction open, and its wamid (or the
//! refusal) recorded as `message.delivery`. Rate limits (130429, 131056, HTTP 429) and
//! timeouts come back later with backoff; a send is never dropped for them. Each number sends
//! at most [`ProviderConfig::whatsapp_rate`] messages a second.

use ziflow_core::channel::whatsapp::Graph;
use ziflow_core::channel::{self, ChannelWork, Outgoing};
use ziflow_core::pay::ProviderError;
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::settings;
use ziflow_core::storage::shop_secrets::{self, SecretName};

use crate::state::AppState;

/// The shop's WhatsApp number client, if the shop connected one.
async fn graph(state: &AppState, shop: &str) -> Result<(Graph, String), ProviderError> {
    let retry = |e: ziflow_core::Error| ProviderError::Retry(format!("database: {e}"));
    let number = settings::get(&state.db, shop, "whatsapp.phone_number_id")
        .await
        .map_err(retry)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ProviderError::Refused("WhatsApp is not connected (Settings → WhatsApp)".into())
        })?;
    let token = state
        .secret(shop, SecretName::WhatsAppAccessToken)
        .await
        .map_err(retry)?
        .ok_or_else(|| {
            ProviderError::Refused("no WhatsApp access token (Settings → WhatsApp)".into())
        })?;
    let client = Graph::new(
        state.http.clone(),
        &state.providers.graph_api_base,
        token,
        &number,
        state.providers.whatsapp_timeout,
    )?;
    Ok((client, number))
}

/// Runs one `wa.*` job.
pub async fn run(state: &AppState, job: Job, work: ChannelWork) -> ziflow_core::Result<()> {
    let now = state.clock.now();
    let outcome: Result<Option<String>, ProviderError> = async {
        match &work {
            ChannelWork::MarkRead { wamid } => {
                let (client, number) = graph(state, &job.shop_uid).await?;
                state
                    .limiter
                    .wait_in(&state.db, &number, state.providers.whatsapp_rate)
                    .await;
                client.mark_read(wamid).await.map(|()| None)
            }
            ChannelWork::Send { event_id } => {
                let prepared = {
                    let mut conn = state
                        .db
                        .acquire()
                        .await
                        .map_err(|e| ProviderError::Retry(format!("database: {e}")))?;
                    channel::prepare_in(&mut conn, &job.shop_uid, *event_id, now)
                        .await
                        .map_err(|e| ProviderError::Retry(e.to_string()))?
                };
                match prepared {
                    Outgoing::Skip(why) => Err(ProviderError::Refused(why)),
                    Outgoing::Send(body) => {
                        let (client, number) = graph(state, &job.shop_uid).await?;
                        state
                            .limiter
                            .wait_in(&state.db, &number, state.providers.whatsapp_rate)
                            .await;
                        client.send(&body).await.map(Some)
                    }
                }
            }
        }
    }
    .await;
    match (&work, outcome) {
        (ChannelWork::Send { event_id }, Ok(Some(wamid))) => {
            let mut log = state.log().await?;
            let delivered = channel::delivery(*event_id, Ok(&wamid));
            let id = ziflow_core::log::record(&mut log.tx, &job.shop_uid, &delivered, now).await?;
            jobs::done_in(&mut log.tx, &job, now).await?;
            log.commit(&job.shop_uid, &[id]).await?;
        }
        (_, Ok(_)) => {
            let _one_writer = state.writes.lock().await;
            let mut tx = state.db.begin_immediate().await?;
            jobs::done_in(&mut tx, &job, now).await?;
            tx.commit().await?;
        }
        (work, Err(e)) => {
            let retry = matches!(e, ProviderError::Retry(_));
            let again = crate::attempts::failed(state, &job, &e.to_string(), retry).await?;
            if let (false, ChannelWork::Send { event_id }) = (again, work) {
                // The rep sees why on the message.
                let mut log = state.log().await?;
                let why = e.to_string();
                let failed = channel::delivery(*event_id, Err(&why));
                let id = ziflow_core::log::record(&mut log.tx, &job.shop_uid, &failed, now).await?;
                log.commit(&job.shop_uid, &[id]).await?;
            }
        }
    }
    Ok(())
}

/// Checks a number and token with Meta; on success stores the token (and the app secret, if
/// given) sealed and returns the event that switches the shop to WhatsApp.
pub async fn connect(
    state: &AppState,
    shop: &str,
    phone_number_id: &str,
    access_token: &str,
    app_secret: Option<&str>,
) -> Result<ziflow_protocol::event::ChannelConnected, String> {
    let token = access_token.trim();
    if token.len() < 20 || token.contains(char::is_whitespace) {
        return Err(
            "paste the whole access token from Meta (a long string with no spaces; \
                    WhatsApp Manager → API Setup, or a system user's token)"
                .into(),
        );
    }
    let client = Graph::new(
        state.http.clone(),
        &state.providers.graph_api_base,
        ziflow_core::secrets::Secret::new(token),
        phone_number_id.trim(),
        state.providers.whatsapp_timeout,
    )
    .map_err(|e| e.to_string())?;
    let info = client.number_info().await.map_err(|e| match e {
        ProviderError::Refused(w) => format!("Meta refused the number or token: {w}"),
        ProviderError::Retry(w) => format!("could not check with Meta, try again: {w}"),
    })?;
    let seal = |name, value: &str| {
        let state = state.clone();
        let value = value.to_string();
        async move {
            shop_secrets::set(&state.db, &state.master_key, shop, name, &value)
                .await
                .map_err(|e| e.to_string())?;
            state.secrets.forget(shop, name);
            Ok::<(), String>(())
        }
    };
    if let Some(secret) = app_secret.map(str::trim).filter(|s| !s.is_empty()) {
        if secret.len() != 32 || !secret.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("a Meta app secret is 32 hexadecimal characters \
                        (App settings → Basic → App secret)"
                .into());
        }
        seal(SecretName::WhatsAppApp, secret).await?;
    }
    seal(SecretName::WhatsAppAccessToken, token).await?;
    Ok(ziflow_protocol::event::ChannelConnected {
        phone_number_id: phone_number_id.trim().to_string(),
        display_phone_number: info.display_phone_number,
        verified_name: info.verified_name,
    })
}
