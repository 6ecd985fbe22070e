//! The WhatsApp Cloud API channel on the relay: the runner's side of the `wa.*` jobs (post a
//! message, mark one read) and connecting a shop's number (Settings → WhatsApp).
//!
//! A message is decided when its job runs ([`ziflow_core::channel::prepare_in`]: opt-out,
//! 24-hour window, link style), posted with no transaction open, and its wamid (or the
//! refusal) recorded as `message.delivery`. Rate limits (130429, 131056, HTTP 429) and
//! timeouts come back later with backoff; a send is never dropped for them. Each number sends
//! at most [`ProviderConfig::whatsapp_rate`] messages a second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ziflow_core::channel::whatsapp::Graph;
use ziflow_core::channel::{self, ChannelWork, Outgoing};
use ziflow_core::pay::ProviderError;
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::settings;
use ziflow_core::storage::shop_secrets::{self, SecretName};

use crate::engine::LogTx;
use crate::http::AppState;

/// Keeps each business number under `rate` messages a second: a token bucket holding up to
/// one second's worth, so a quiet number sends at once and a busy one is spread out.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// Waits until `number` may send one more message at `rate` per second.
    pub async fn wait(&self, number: &str, rate: u32) {
        let rate = f64::from(rate.max(1));
        let delay = {
            let Ok(mut buckets) = self.buckets.lock() else {
                return;
            };
            let now = Instant::now();
            let (tokens, last) = buckets.get(number).copied().unwrap_or((rate, now));
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate) - 1.0;
            buckets.insert(number.to_string(), (tokens, now));
            // Below zero: this message's turn comes when the bucket has refilled to it.
            (tokens < 0.0).then(|| Duration::from_secs_f64(-tokens / rate))
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
    }
}

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
    let token = crate::pay::secret(state, shop, SecretName::WhatsAppAccessToken)
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
pub async fn run(state: &AppState, job: Job) -> ziflow_core::Result<()> {
    let now = state.clock.now();
    let work: ChannelWork = match serde_json::from_str(&job.payload) {
        Ok(w) => w,
        Err(e) => {
            crate::pay::record_failure(state, &job, &format!("unreadable job: {e}"), false).await?;
            return Ok(());
        }
    };
    let outcome: Result<Option<String>, ProviderError> = async {
        match &work {
            ChannelWork::MarkRead { wamid } => {
                let (client, number) = graph(state, &job.shop_uid).await?;
                state
                    .limiter
                    .wait(&number, state.providers.whatsapp_rate)
                    .await;
                client.mark_read(wamid).await.map(|()| None)
            }
            ChannelWork::Send { event_id } => {
                let prepared = {
                    let mut conn = state
                        .db
                        .pool()
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
                            .wait(&number, state.providers.whatsapp_rate)
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
            let mut log = LogTx::begin(state).await?;
            let id = channel::delivery_in(&mut log.tx, &job.shop_uid, *event_id, Ok(&wamid), now)
                .await?;
            jobs::done_in(&mut log.tx, job.id, now).await?;
            log.commit(state, &job.shop_uid, &[id]).await?;
        }
        (_, Ok(_)) => {
            let _one_writer = state.writes.lock().await;
            let mut tx = state.db.begin_immediate().await?;
            jobs::done_in(&mut tx, job.id, now).await?;
            tx.commit().await?;
        }
        (work, Err(e)) => {
            let retry = matches!(e, ProviderError::Retry(_));
            let again = crate::pay::record_failure(state, &job, &e.to_string(), retry).await?;
            if let (false, ChannelWork::Send { event_id }) = (again, work) {
                // The rep sees why on the message.
                let mut log = LogTx::begin(state).await?;
                let why = e.to_string();
                let id =
                    channel::delivery_in(&mut log.tx, &job.shop_uid, *event_id, Err(&why), now)
                        .await?;
                log.commit(state, &job.shop_uid, &[id]).await?;
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
) -> Result<serde_json::Value, String> {
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
    Ok(serde_json::json!({
        "phone_number_id": phone_number_id.trim(),
        "display_phone_number": info.display_phone_number,
        "verified_name": info.verified_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_number_sends_a_seconds_worth_at_once_then_at_its_rate() {
        let limiter = Limiter::default();
        let start = Instant::now();
        for _ in 0..10 {
            limiter.wait("A", 10).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "a burst of 10 at 10/s"
        );
        for _ in 0..5 {
            limiter.wait("A", 10).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(480),
            "5 more wait 0.1 s each: {took:?}"
        );
        let other = Instant::now();
        limiter.wait("B", 10).await;
        assert!(
            other.elapsed() < Duration::from_millis(20),
            "numbers are apart"
        );
    }
}
