//! The shop's setup: catalog, payment scenario, message templates, CRM automations and
//! pipeline, and the bot's saved tests. Each is a `settings.changed` (or its own event)
//! checked before it is recorded.

use crate::storage::Conn;
use ziflow_protocol::answer as A;
use ziflow_protocol::event as ev;
use ziflow_protocol::{Command, Event};

use super::{answer, Outcome};
use crate::log::record;
use crate::{Error, Result};

/// Runs one of the setup commands ([`super::execute`] routes them here).
pub(super) async fn execute(
    conn: &mut Conn,
    shop: &str,
    cmd: &Command,
    now: i64,
) -> Result<Outcome> {
    match cmd {
        Command::CatalogSet { catalog } => {
            let parsed = crate::catalog::Catalog::parse(catalog)?;
            let payload = serde_json::to_value(&parsed)
                .map_err(|e| Error::InvalidInput(format!("the catalog: {e}")))?;
            let replaced = Event::CatalogReplaced(ev::CatalogReplaced(payload));
            let id = record(conn, shop, &replaced, now).await?;
            Ok(Outcome {
                answer: answer(&A::CatalogSet {
                    products: parsed.catalog.len(),
                    zones: parsed.shipping.len(),
                }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::ScenarioSet { scenario } => {
            crate::scenario::check(scenario)?;
            let changed = Event::ScenarioChanged(scenario.clone());
            let id = record(conn, shop, &changed, now).await?;
            // A new reminder schedule moves the steps already waiting.
            crate::reminders::reschedule_in(conn, shop, now).await?;
            Ok(Outcome {
                answer: answer(&A::Saved {
                    key: None,
                    saved: true,
                }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::TemplateSet { name, text } => {
            let allowed = match name.as_str() {
                "invoice" => crate::template::INVOICE_VARIABLES,
                n if n
                    .strip_prefix("notify.")
                    .and_then(ziflow_protocol::automation::Trigger::from_key)
                    .is_some() =>
                {
                    crate::notify::VARIABLES
                }
                other => match other
                    .strip_prefix("reply.")
                    .and_then(crate::agent::reply_variables)
                {
                    Some(vars) => vars,
                    None => {
                        return Err(Error::InvalidInput(format!(
                            "there is no {other:?} template; templates: invoice, the \
                             agent's replies (reply.en.greeting, reply.es.paid, …) and the \
                             notifications (notify.payment_succeeded, notify.handoff, …)"
                        )))
                    }
                },
            };
            // An empty reply or notification goes back to the built-in wording.
            let reset = (name.starts_with("reply.") || name.starts_with("notify."))
                && text.trim().is_empty();
            if !reset {
                let checked = if name == "invoice" {
                    crate::template::parse_invoice(text)
                } else {
                    crate::template::Template::parse(text, allowed)
                };
                checked.map_err(|e| Error::InvalidInput(format!("the {name} template: {e}")))?;
            }
            let key = if name.starts_with("reply.") {
                name.clone() // the agent's replies live under reply.<lang>.<reply>
            } else {
                format!("template.{name}")
            };
            settings_event(conn, shop, &key, text, now).await
        }
        Command::AutomationsSet { rules } => {
            let stages = crate::crm::stages_in(conn, shop).await?;
            crate::crm::check_rules(rules, &stages)?;
            let text = serde_json::to_string(rules)
                .map_err(|e| Error::InvalidInput(format!("the rules: {e}")))?;
            settings_event(conn, shop, "automations", &text, now).await
        }
        Command::PipelineSet { stages } => {
            crate::crm::check_pipeline(conn, shop, stages).await?;
            let text = serde_json::to_string(stages)
                .map_err(|e| Error::InvalidInput(format!("the stages: {e}")))?;
            settings_event(conn, shop, "pipeline", &text, now).await
        }
        Command::AgentTestSave {
            name,
            messages,
            expect,
        } => {
            let ending: crate::agent::bottests::Ending = serde_json::from_value(expect.clone())
                .map_err(|e| Error::InvalidInput(format!("the test's ending: {e}")))?;
            crate::agent::bottests::validate(name, messages, &ending)
                .map_err(Error::InvalidInput)?;
            let saved = Event::AgentTestSaved(ev::AgentTestSaved {
                name: name.trim().to_string(),
                messages: messages.clone(),
                expect: serde_json::to_value(&ending)
                    .map_err(|e| Error::InvalidInput(format!("the test's ending: {e}")))?,
            });
            let id = record(conn, shop, &saved, now).await?;
            Ok(Outcome {
                answer: answer(&A::AgentTest {
                    id,
                    saved: true,
                    deleted: false,
                }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::AgentTestDelete { id } => {
            if !crate::storage::agent_tests::exists_in(conn, shop, *id).await? {
                return Err(Error::NotFound(format!("bot test {id}")));
            }
            let deleted = Event::AgentTestDeleted(ev::AgentTestDeleted { id: *id });
            let event = record(conn, shop, &deleted, now).await?;
            Ok(Outcome {
                answer: answer(&A::AgentTest {
                    id: *id,
                    saved: false,
                    deleted: true,
                }),
                event_ids: vec![event],
                jobs: Vec::new(),
            })
        }
        other => Err(Error::InvalidInput(format!(
            "not a setup command: {other:?}"
        ))),
    }
}

/// Records a `settings.changed` of `key` to `value` (already checked).
async fn settings_event(
    conn: &mut Conn,
    shop: &str,
    key: &str,
    value: &str,
    now: i64,
) -> Result<Outcome> {
    let changed = Event::SettingsChanged(ev::SettingChanged {
        key: key.to_string(),
        value: value.to_string(),
    });
    let id = record(conn, shop, &changed, now).await?;
    Ok(Outcome {
        answer: answer(&A::Saved {
            key: Some(key.to_string()),
            saved: true,
        }),
        event_ids: vec![id],
        jobs: Vec::new(),
    })
}
