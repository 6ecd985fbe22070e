//! The shop's words to a customer: which language it talks in with them, and its own wording
//! of a reply (the settings `reply.<lang>.<key>`) with the defaults behind it. Used by the
//! agent, reminders and the channel; it reads, it never records.

use crate::storage::Conn;

use super::{Lang, State};
use crate::Result;

/// The language the agent talks with this customer in (English until it knows).
pub async fn customer_lang(conn: &mut Conn, shop: &str, phone: &str) -> Result<Lang> {
    let state = crate::storage::conversations::agent_state_in(conn, shop, phone).await?;
    Ok(state
        .and_then(|s| serde_json::from_str::<State>(&s).ok())
        .and_then(|s| s.lang)
        .unwrap_or_default())
}

/// One of the shop's messages in `lang`: its own wording of reply `key` (setting
/// `reply.<lang>.<key>`) or `default`, with `variables` filled by `fill`.
pub async fn shop_reply(
    conn: &mut Conn,
    shop: &str,
    lang: Lang,
    key: &str,
    default: &str,
    variables: &[&'static str],
    fill: impl Fn(&str) -> String,
) -> Result<String> {
    let setting = format!("reply.{}.{key}", super::lang_code(lang));
    let wording = crate::storage::settings::get_in(conn, shop, &setting)
        .await?
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| default.to_string());
    Ok(
        match crate::template::Template::parse(&wording, variables) {
            Ok(t) => t.render(fill),
            Err(_) => wording,
        },
    )
}
