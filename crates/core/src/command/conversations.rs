//! Conversation commands: a rep's message, taking a conversation over from the bot (or
//! giving it back), and a lead's stage and tags.

use crate::storage::Conn;
use ziflow_protocol::answer as A;
use ziflow_protocol::event as ev;
use ziflow_protocol::{Command, Event};

use super::{answer, Outcome};
use crate::log::record;
use crate::{Error, Result};

/// Runs one of the conversation commands ([`super::execute`] routes them here).
pub(super) async fn execute(
    conn: &mut Conn,
    shop: &str,
    cmd: &Command,
    now: i64,
) -> Result<Outcome> {
    match cmd {
        Command::MessageSend { to, text } => {
            if !crate::storage::conversations::is_e164(to) {
                return Err(Error::InvalidInput(format!(
                    "to: a phone in E.164 like +15125550123, got {to:?}"
                )));
            }
            let text = text.trim();
            if text.is_empty() || text.chars().count() > 4096 {
                return Err(Error::InvalidInput(
                    "a message has 1 to 4096 characters".into(),
                ));
            }
            let sent = Event::MessageSent(ev::MessageSent::new(to, text, "rep"));
            let id = record(conn, shop, &sent, now).await?;
            Ok(Outcome {
                answer: answer(&A::MessageSend { sent: true }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::ConversationBot { phone, enabled } => {
            if crate::storage::conversations::reach_in(conn, shop, phone)
                .await?
                .is_none()
            {
                return Err(Error::NotFound(format!("conversation with {phone}")));
            }
            let set = Event::ConversationBotSet(ev::BotSet {
                phone: phone.clone(),
                enabled: *enabled,
            });
            let id = record(conn, shop, &set, now).await?;
            Ok(Outcome {
                answer: answer(&A::ConversationBot {
                    phone: phone.clone(),
                    bot_enabled: *enabled,
                }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::LeadUpdate {
            phone,
            stage,
            add_tag,
            remove_tag,
        } => {
            if !crate::storage::conversations::is_customer_in(conn, shop, phone).await? {
                return Err(Error::NotFound(format!("a customer {phone}")));
            }
            if let Some(s) = stage {
                let stages = crate::crm::stages_in(conn, shop).await?;
                if !stages.contains(s) {
                    return Err(Error::InvalidInput(format!(
                        "{s:?} is not a stage; stages: {}",
                        stages.join(", ")
                    )));
                }
            }
            let tags = [add_tag, remove_tag];
            if tags.iter().any(|t| {
                t.as_ref()
                    .is_some_and(|t| t.trim().is_empty() || t.len() > 40)
            }) {
                return Err(Error::InvalidInput("a tag has 1 to 40 characters".into()));
            }
            if stage.is_none() && tags.iter().all(|t| t.is_none()) {
                return Err(Error::InvalidInput("nothing to change".into()));
            }
            let trimmed = |t: &Option<String>| t.as_deref().map(|t| t.trim().to_string());
            let changed = Event::LeadChanged(ev::LeadChanged {
                phone: phone.clone(),
                stage: stage.clone(),
                add_tag: trimmed(add_tag),
                remove_tag: trimmed(remove_tag),
            });
            let id = record(conn, shop, &changed, now).await?;
            Ok(Outcome {
                answer: answer(&A::LeadUpdate {
                    phone: phone.clone(),
                    changed: true,
                }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        other => Err(Error::InvalidInput(format!(
            "not a conversation command: {other:?}"
        ))),
    }
}
