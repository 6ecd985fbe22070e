//! The inbox: conversations, one thread, sending a message, the bot switch, search.

use tauri::State;
use ziflow_core::storage::conversations;
use ziflow_protocol as dto;
use ziflow_protocol::answer;
use ziflow_protocol::ErrorCode;

use crate::commands::relay_for;
use crate::error::Result;
use crate::state::AppState;

/// The inbox: conversations with their newest message.
#[tauri::command]
pub async fn list_conversations(
    state: State<'_, AppState>,
) -> Result<Vec<dto::ConversationSummary>> {
    let rows = conversations::list(&state.db, &state.session().shop.uid).await?;
    Ok(rows
        .into_iter()
        .map(|c| dto::ConversationSummary {
            id: c.id,
            customer_phone: c.customer_phone,
            customer_name: c.customer_name,
            last_message: c.last_message,
            last_message_at: c.last_message_at,
            bot_enabled: c.bot_enabled,
            unread: c.unread,
            handoff_reason: c.handoff_reason,
            stage: c.stage,
            opted_out: c.opted_out,
            tags: serde_json::from_str(&c.tags).unwrap_or_default(),
        })
        .collect())
}

/// A conversation's messages, oldest first.
#[tauri::command]
pub async fn conversation_thread(
    state: State<'_, AppState>,
    phone: String,
) -> Result<Vec<dto::ThreadMessage>> {
    let rows = conversations::thread(&state.db, &state.session().shop.uid, &phone).await?;
    Ok(rows
        .into_iter()
        .map(|m| dto::ThreadMessage {
            direction: m.direction,
            text: m.body,
            at: m.sent_at,
            author: m.author,
            status: m.status,
            error: m.error,
        })
        .collect())
}

/// Sends a rep's message to a customer through the relay.
#[tauri::command]
pub async fn send_message(state: State<'_, AppState>, phone: String, text: String) -> Result<()> {
    let _: answer::MessageSend = relay_for(
        &state,
        &ziflow_protocol::Command::MessageSend { to: phone, text },
        ErrorCode::MessageRefused,
        "not sent",
    )
    .await?;
    Ok(())
}

/// Takes a conversation over from the bot, or gives it back.
#[tauri::command]
pub async fn set_bot(state: State<'_, AppState>, phone: String, enabled: bool) -> Result<()> {
    let _: answer::ConversationBot = relay_for(
        &state,
        &ziflow_protocol::Command::ConversationBot { phone, enabled },
        ErrorCode::Refused,
        "not changed",
    )
    .await?;
    Ok(())
}

/// Conversations whose messages match `query` (Ctrl+K in the inbox).
#[tauri::command]
pub async fn search_conversations(
    state: State<'_, AppState>,
    query: String,
) -> Result<Vec<dto::SearchHit>> {
    let hits = conversations::search(&state.db, &state.session().shop.uid, &query).await?;
    Ok(hits
        .into_iter()
        .map(|h| dto::SearchHit {
            customer_phone: h.customer_phone,
            snippet: h.snippet,
            at: h.sent_at,
        })
        .collect())
}
