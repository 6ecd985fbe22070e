//! AI Agent → Bot tests: the owner marks a conversation as a test of how it must end, sees
//! every test played with the shop's setup as the replica holds it, and — before a catalog
//! or scenario change is saved — which tests it would change. Saving and deleting go to the relay as
//! commands; playing is local and offline (`ziflow_core::agent::bottests`).

use tauri::State;
use ziflow_core::agent::bottests::{self, Ending};
use ziflow_core::agent::run::Setup;
use ziflow_core::storage::conversations;
use ziflow_protocol as dto;
use ziflow_protocol::ErrorCode;

use crate::commands::agent::parse_catalog_text;
use crate::commands::relay;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The shop's agent setup as the replica holds it, and (with `tests`) its bot tests.
pub(crate) async fn setup_and_tests(
    state: &AppState,
    tests: bool,
) -> Result<(Setup, Vec<bottests::BotTest>)> {
    let uid = state.session().shop.uid.clone();
    let mut conn = state.db.acquire().await?;
    let setup = Setup::load_in(&mut conn, &uid).await?;
    let tests = if tests {
        bottests::load_in(&mut conn, &uid).await?
    } else {
        Vec::new()
    };
    Ok((setup, tests))
}

/// Every bot test, played with the shop's current setup.
#[tauri::command]
pub async fn bot_tests(state: State<'_, AppState>) -> Result<Vec<dto::BotTestRun>> {
    let (setup, tests) = setup_and_tests(&state, true).await?;
    Ok(bottests::run_all(&setup, &tests)
        .into_iter()
        .map(|r| dto::BotTestRun {
            id: r.id,
            name: r.name,
            passed: r.passed,
            expected: r.expected,
            got: r.got,
        })
        .collect())
}

/// Saves the conversation with `phone` as a bot test called `name`: its customer messages,
/// and the ending they must have — `as_now` (what the bot does with them today), `handoff`
/// or `no_invoice`. Returns what was saved, in words.
#[tauri::command]
pub async fn save_bot_test(
    state: State<'_, AppState>,
    phone: String,
    name: String,
    ending: String,
) -> Result<String> {
    let uid = state.session().shop.uid.clone();
    let messages: Vec<String> = conversations::thread(&state.db, &uid, &phone)
        .await?
        .into_iter()
        .filter(|m| m.direction == "in")
        .map(|m| m.body)
        .filter(|b| !b.trim().is_empty())
        .collect();
    if messages.is_empty() {
        return Err(Error::new(
            ErrorCode::TestInvalid,
            "this conversation has no customer messages to test with",
        ));
    }
    let (setup, _) = setup_and_tests(&state, false).await?;
    let shop = setup.shop();
    let expect = match ending.as_str() {
        "as_now" => bottests::play(&setup, &messages).0,
        "handoff" => Ending::Handoff,
        "no_invoice" => Ending::NoInvoice,
        other => {
            return Err(Error::new(
                ErrorCode::TestInvalid,
                format!("a test ends as_now, handoff or no_invoice, not {other:?}"),
            ))
        }
    };
    let said = expect.describe(&shop);
    let expect = serde_json::to_value(&expect)
        .map_err(|e| Error::new(ErrorCode::TestInvalid, e.to_string()))?;
    relay(
        &state,
        dto::Command::AgentTestSave {
            name: name.trim().to_string(),
            messages,
            expect,
        },
        ErrorCode::TestInvalid,
    )
    .await?;
    Ok(format!("Saved \"{}\": it must end in {said}.", name.trim()))
}

/// Deletes a bot test.
#[tauri::command]
pub async fn delete_bot_test(state: State<'_, AppState>, id: i64) -> Result<String> {
    relay(
        &state,
        dto::Command::AgentTestDelete { id },
        ErrorCode::TestInvalid,
    )
    .await?;
    Ok("Deleted.".into())
}

/// The bot tests a catalog file's text would change if it were imported (nothing is saved).
#[tauri::command]
pub async fn preview_catalog(
    state: State<'_, AppState>,
    text: String,
) -> Result<Vec<dto::BotTestChange>> {
    let (now, tests) = setup_and_tests(&state, true).await?;
    let (proposed, _) = parse_catalog_text(&state, &text).await?;
    let mut after = now.clone();
    after.catalog = proposed;
    Ok(changes(&tests, &now, &after))
}

/// The bot tests a scenario would change if it were saved — its quantity limit and
/// auto-invoice (nothing is saved).
#[tauri::command]
pub async fn preview_scenario(
    state: State<'_, AppState>,
    scenario: dto::Scenario,
) -> Result<Vec<dto::BotTestChange>> {
    ziflow_core::scenario::check(&scenario)
        .map_err(|e| Error::new(ErrorCode::ScenarioInvalid, e.to_string()))?;
    let (now, tests) = setup_and_tests(&state, true).await?;
    let mut after = now.clone();
    after.max_qty = scenario
        .max_quantity
        .map_or(ziflow_core::agent::DEFAULT_MAX_QTY, i64::from);
    after.auto_invoice = scenario.auto_invoice;
    Ok(changes(&tests, &now, &after))
}

pub(crate) fn changes(
    tests: &[bottests::BotTest],
    now: &Setup,
    after: &Setup,
) -> Vec<dto::BotTestChange> {
    bottests::changes(tests, now, after)
        .into_iter()
        .map(|c| dto::BotTestChange {
            id: c.id,
            name: c.name,
            expected: c.expected,
            now: c.now,
            after: c.after,
            passes_after: c.passes_after,
        })
        .collect()
}
