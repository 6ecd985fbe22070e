//! The optional phrasing model on the relay: the runner's side of `agent.phrase` jobs and the
//! `llm.set` command. A phrased reply is recorded as the `message.sent` it would have been,
//! with the model's words only when they keep every fact (see
//! [`ziflow_core::agent::phrase::keeps_facts`]); any failure sends the agent's own words at
//! once — the customer is never kept waiting past the timeout and never loses a reply.

use ziflow_core::agent::phrase::{self, PhraseWork};
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::settings;
use ziflow_core::storage::shop_secrets::{self, SecretName};

use crate::state::AppState;

/// Runs one `agent.phrase` job.
pub async fn run(state: &AppState, job: Job, work: PhraseWork) -> ziflow_core::Result<()> {
    let now = state.clock.now();
    let shop = job.shop_uid.as_str();
    let base = settings::get(&state.db, shop, "llm.base_url")
        .await?
        .unwrap_or_default();
    let model = settings::get(&state.db, shop, "llm.model")
        .await?
        .unwrap_or_default();
    let products: Vec<String> = ziflow_core::catalog::load(&state.db, shop)
        .await?
        .catalog
        .into_iter()
        .map(|p| p.name)
        .collect();
    let secret = state.secret(shop, SecretName::LlmApiKey).await?;
    let worded = if base.is_empty() {
        Err("no model configured".to_string())
    } else if let Err(why) = ziflow_core::net::check_url(&base, state.providers.outbound()) {
        Err(format!("the model's address is not used: {why}"))
    } else {
        phrase::phrase(
            &state.owner_http,
            &base,
            secret.as_ref(),
            &model,
            &work.text,
            &work.lang,
            phrase::TIMEOUT,
        )
        .await
    };
    let (text, phrased) = match worded {
        Ok(t) if phrase::keeps_facts(&work.text, &t, &products) => (t, true),
        Ok(t) => {
            tracing::warn!(
                job = job.id,
                "the model changed a fact; sending the agent's words: {t:?}"
            );
            (work.text.clone(), false)
        }
        Err(why) => {
            tracing::warn!(job = job.id, "phrasing skipped: {why}");
            (work.text.clone(), false)
        }
    };
    let message = ziflow_protocol::event::MessageSent {
        in_reply_to: Some(work.in_reply_to),
        phrased_from: phrased.then(|| work.text.clone()),
        ..ziflow_protocol::event::MessageSent::new(&work.to, text, "bot")
    };
    let sent = ziflow_protocol::Event::MessageSent(message);
    let mut log = state.log().await?;
    let id = ziflow_core::log::record(&mut log.tx, shop, &sent, now).await?;
    jobs::done_in(&mut log.tx, &job, now).await?;
    log.commit(shop, &[id]).await?;
    Ok(())
}

/// What the owner uses the model for.
#[derive(Debug, Clone, Copy)]
pub struct Uses {
    /// Rewording the bot's replies.
    pub reword: bool,
    /// Reading customers' messages (see [`crate::reader`]).
    pub read: bool,
}

/// `llm.set`: checks the endpoint with one short request before turning any use on, stores
/// the key sealed. Returns the event to record, or why not.
pub async fn set(
    state: &AppState,
    shop: &str,
    uses: Uses,
    base_url: &str,
    model: &str,
    api_key: Option<&str>,
) -> Result<ziflow_protocol::event::LlmChanged, String> {
    let base = base_url.trim().trim_end_matches('/');
    let model = model.trim();
    if uses.reword || uses.read {
        ziflow_core::net::check_and_resolve(base, state.providers.outbound())
            .await
            .map_err(|why| {
                format!("the endpoint is an https:// address like https://api.openai.com/v1: {why}")
            })?;
        if model.is_empty() {
            return Err("name the model (like gpt-4o-mini)".into());
        }
        let given = api_key.map(str::trim).filter(|k| !k.is_empty());
        let stored = state
            .secret(shop, SecretName::LlmApiKey)
            .await
            .map_err(|e| e.to_string())?;
        let probe = given.map(ziflow_core::secrets::Secret::new).or(stored);
        phrase::phrase(
            &state.owner_http,
            base,
            probe.as_ref(),
            model,
            "Hello! How can I help?",
            "en",
            phrase::TIMEOUT,
        )
        .await
        .map_err(|why| format!("the model was not turned on: {why}"))?;
    }
    let mut hint = settings::get(&state.db, shop, "llm.key_hint")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if let Some(k) = api_key.map(str::trim).filter(|k| !k.is_empty()) {
        shop_secrets::set(&state.db, &state.master_key, shop, SecretName::LlmApiKey, k)
            .await
            .map_err(|e| e.to_string())?;
        state.secrets.forget(shop, SecretName::LlmApiKey);
        hint = ziflow_core::pay::stripe::key_hint(k);
    }
    Ok(ziflow_protocol::event::LlmChanged {
        enabled: uses.reword,
        reader: uses.read,
        base_url: base.to_string(),
        model: model.to_string(),
        key_hint: hint.to_string(),
    })
}
