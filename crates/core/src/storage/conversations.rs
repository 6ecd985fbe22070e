//! Conversations (one per customer phone per shop) and their messages.

use sqlx::FromRow;

use crate::{Db, Error, Result};

/// A conversation as the inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ConversationRow {
    /// Conversation id.
    pub id: i64,
    /// Customer phone, E.164.
    pub customer_phone: String,
    /// Name WhatsApp gave, if any.
    pub customer_name: Option<String>,
    /// Newest message text.
    pub last_message: String,
    /// Newest message time.
    pub last_message_at: i64,
    /// Bot still answering.
    pub bot_enabled: bool,
    /// Unread inbound messages.
    pub unread: i64,
    /// Why the bot handed the conversation to a person, while it is with one.
    pub handoff_reason: Option<String>,
}

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From the shop (bot or rep).
    Outbound,
}

/// Records a message, creating the conversation on the first one. Inbound messages count as
/// unread. Returns the conversation id.
pub async fn record_message(
    db: &Db,
    shop: &str,
    customer_phone: &str,
    customer_name: Option<&str>,
    direction: Direction,
    body: &str,
    at: i64,
) -> Result<i64> {
    let mut tx = db.pool().begin().await?;
    let id = record_message_in(
        &mut tx,
        shop,
        customer_phone,
        customer_name,
        direction,
        body,
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// [`record_message`] inside the caller's transaction.
pub async fn record_message_in(
    tx: &mut sqlx::SqliteConnection,
    shop: &str,
    customer_phone: &str,
    customer_name: Option<&str>,
    direction: Direction,
    body: &str,
    at: i64,
) -> Result<i64> {
    if !is_e164(customer_phone) {
        return Err(Error::InvalidInput(format!(
            "customer phone must be E.164 like +15125550123, got {customer_phone:?}"
        )));
    }
    let unread_inc = i64::from(direction == Direction::Inbound);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (shop_uid, customer_phone, customer_name, unread)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (shop_uid, customer_phone) DO UPDATE SET
             customer_name = COALESCE(excluded.customer_name, conversations.customer_name),
             unread = conversations.unread + excluded.unread
         RETURNING id",
    )
    .bind(shop)
    .bind(customer_phone)
    .bind(customer_name)
    .bind(unread_inc)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO messages (conversation_id, direction, body, sent_at) VALUES (?, ?, ?, ?)",
    )
    .bind(id)
    .bind(match direction {
        Direction::Inbound => "in",
        Direction::Outbound => "out",
    })
    .bind(body)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// The shop's conversations, most recent activity first.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<ConversationRow>> {
    Ok(sqlx::query_as::<_, ConversationRow>(
        "SELECT c.id, c.customer_phone, c.customer_name, m.body AS last_message,
                m.sent_at AS last_message_at, c.bot_enabled, c.unread, c.handoff_reason
         FROM conversations c
         JOIN messages m ON m.id = (
             SELECT id FROM messages WHERE conversation_id = c.id ORDER BY sent_at DESC, id DESC LIMIT 1)
         WHERE c.shop_uid = ?
         ORDER BY m.sent_at DESC, c.id DESC",
    )
    .bind(shop)
    .fetch_all(db.pool())
    .await?)
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ThreadMessage {
    /// `in` (the customer) or `out` (the shop).
    pub direction: String,
    /// Text.
    pub body: String,
    /// Unix seconds.
    pub sent_at: i64,
}

/// A conversation's messages, oldest first.
pub async fn thread(db: &Db, shop: &str, phone: &str) -> Result<Vec<ThreadMessage>> {
    Ok(sqlx::query_as::<_, ThreadMessage>(
        "SELECT m.direction, m.body, m.sent_at FROM messages m
         JOIN conversations c ON c.id = m.conversation_id
         WHERE c.shop_uid = ? AND c.customer_phone = ? ORDER BY m.sent_at, m.id",
    )
    .bind(shop)
    .bind(phone)
    .fetch_all(db.pool())
    .await?)
}

/// `+` followed by 8 to 15 digits, the first not zero.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_real_numbers_and_refuses_local_forms() {
        assert!(is_e164("+15125550123"));
        assert!(is_e164("+5215512345678"));
        assert!(!is_e164("5125550123"), "no plus sign");
        assert!(!is_e164("+1 512 555 0123"), "spaces are display only");
        assert!(!is_e164("+0123456789"), "country codes never start with 0");
    }
}
