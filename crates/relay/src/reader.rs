//! The optional model reader on the relay: the runner's side of `agent.read` jobs. The engine
//! leaves each customer message of a shop whose reader is on to such a job; the job asks the
//! model for its reading of the conversation (outside any transaction, within
//! [`reader::TIMEOUT`]), grounds it in the catalog and the customer's words
//! ([`reader::ground`]), and answers the message with [`ziflow_core::agent::run::answer`] —
//! the rules' answer with the grounded reading weighed in. A model that is off, slow, failing
//! or whose reading is grounded away leaves exactly the rules' answer. One conversation's
//! messages are answered in order: a job waits while an earlier one of its conversation is
//! still to run.

use ziflow_core::agent::reader::{self, ReadWork, Said};
use ziflow_core::agent::run::{self, Record};
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::shop_secrets::SecretName;
use ziflow_core::storage::{conversations, events, settings};

use crate::state::AppState;

/// Runs one `agent.read` job.
pub async fn run(state: &AppState, job: Job, work: ReadWork) -> ziflow_core::Result<()> {
    let shop = job.shop_uid.as_str();
    let prefix = ReadWork::prefix(shop, &work.phone);
    if jobs::earlier_open(&state.db, shop, ReadWork::KIND, &prefix, job.id).await? {
        let why = "an earlier message of this conversation is answered first";
        crate::attempts::failed(state, &job, why, true).await?;
        return Ok(());
    }
    let Some(event) = events::get(&state.db, shop, work.event_id).await? else {
        crate::attempts::failed(state, &job, "the message is not in the log", false).await?;
        return Ok(());
    };
    let grounded = match reading(state, shop, &work, event.created_at).await {
        Ok(g) => Some(g),
        Err(why) => {
            tracing::info!(job = job.id, "the rules answer alone: {why}");
            None
        }
    };
    let ctx = run::Context {
        public_url: &state.engine_ctx.public_url,
        sandbox: state.engine_ctx.sandbox,
    };
    let mut log = state.log().await?;
    let ids = match run::answer(
        &mut log.tx,
        &event,
        &ctx,
        grounded.as_ref(),
        Record::Applied,
    )
    .await
    {
        Ok(ids) => ids,
        Err(ziflow_core::Error::InvalidInput(why)) => {
            drop(log);
            tracing::warn!(id = event.id, "the agent skipped a message: {why}");
            crate::attempts::failed(state, &job, &why, false).await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    jobs::done_in(&mut log.tx, &job, state.clock.now()).await?;
    log.commit(shop, &ids).await?;
    Ok(())
}

/// The model's grounded reading of the conversation up to the message, or why there is none.
async fn reading(
    state: &AppState,
    shop: &str,
    work: &ReadWork,
    upto: i64,
) -> Result<reader::Grounded, String> {
    let setting = |key: &'static str| settings::get(&state.db, shop, key);
    let base = setting("llm.base_url")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let model = setting("llm.model")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if base.is_empty() {
        return Err("no model configured".into());
    }
    ziflow_core::net::check_url(&base, state.providers.outbound())
        .map_err(|why| format!("the model's address is not used: {why}"))?;
    let catalog = ziflow_core::catalog::load(&state.db, shop)
        .await
        .map_err(|e| e.to_string())?;
    let said: Vec<Said> =
        conversations::recent(&state.db, shop, &work.phone, upto, reader::HISTORY)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(customer, text)| Said { customer, text })
            .collect();
    let key = state
        .secret(shop, SecretName::LlmApiKey)
        .await
        .map_err(|e| e.to_string())?;
    let read = reader::read(
        &state.owner_http,
        &base,
        key.as_ref(),
        &model,
        &catalog,
        &said,
        reader::TIMEOUT,
    )
    .await?;
    reader::ground(&read, &said, &catalog).map_err(|why| format!("grounded away: {why}"))
}
