//! Conversations (one per customer phone per shop) and their messages.

use crate::storage::Conn;
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
    /// Where the sale stands, from its newest invoice: `New`, `Awaiting payment`, `Paid`,
    /// `Link expired`, `Refunded`, `Abandoned` (unpaid after the last reminder).
    pub stage: String,
    /// The customer wrote STOP and has not written since.
    pub opted_out: bool,
    /// The lead's tags, as a JSON array.
    pub tags: String,
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
    let mut tx = db.begin().await?;
    let id = record_message_in(
        &mut tx,
        shop,
        customer_phone,
        customer_name,
        direction,
        body,
        at,
        &MessageMeta::default(),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Where a message came from, beyond its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageMeta<'a> {
    /// The log event that recorded it.
    pub event_id: Option<i64>,
    /// WhatsApp's id of an inbound message.
    pub wamid: Option<&'a str>,
    /// Who wrote an outbound message: `bot` or `rep`.
    pub author: Option<&'a str>,
}

/// `text` without NUL characters (which a customer can send, and PostgreSQL cannot store in
/// text), borrowed when it has none.
fn without_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// [`record_message`] inside the caller's transaction. An inbound message opens the 24-hour
/// window and ends an opt-out (the customer wrote again).
#[allow(clippy::too_many_arguments)]
pub async fn record_message_in(
    tx: &mut Conn,
    shop: &str,
    customer_phone: &str,
    customer_name: Option<&str>,
    direction: Direction,
    body: &str,
    at: i64,
    meta: &MessageMeta<'_>,
) -> Result<i64> {
    // A NUL cannot be stored as text by PostgreSQL: a customer's message keeps the rest.
    let body = without_nul(body);
    let customer_name = customer_name.map(without_nul);
    let (body, customer_name) = (body.as_ref(), customer_name.as_deref());
    if !is_e164(customer_phone) {
        return Err(Error::InvalidInput(format!(
            "customer phone must be E.164 like +15125550123, got {customer_phone:?}"
        )));
    }
    let inbound = direction == Direction::Inbound;
    let id: i64 = query_scalar!(
        fetch_one,
        &mut *tx,
        "INSERT INTO conversations (shop_uid, customer_phone, customer_name, unread,
                                    last_inbound_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (shop_uid, customer_phone) DO UPDATE SET
             customer_name = COALESCE(excluded.customer_name, conversations.customer_name),
             unread = conversations.unread + excluded.unread,
             last_inbound_at = CASE
                 WHEN COALESCE(conversations.last_inbound_at, 0)
                      > COALESCE(excluded.last_inbound_at, 0)
                 THEN COALESCE(conversations.last_inbound_at, 0)
                 ELSE COALESCE(excluded.last_inbound_at, 0) END,
             opted_out = CASE WHEN excluded.unread > 0 THEN FALSE ELSE conversations.opted_out END
         RETURNING id",
        shop,
        customer_phone,
        customer_name,
        i64::from(inbound),
        inbound.then_some(at)
    )?;
    execute!(
        &mut *tx,
        "INSERT INTO messages (conversation_id, direction, body, sent_at, event_id, wamid, author)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        id,
        match direction {
            Direction::Inbound => "in",
            Direction::Outbound => "out",
        },
        body,
        at,
        meta.event_id,
        meta.wamid,
        meta.author
    )?;
    Ok(id)
}

/// The shop's conversations, most recent activity first.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<ConversationRow>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        ConversationRow,
        r#"SELECT c.id, c.customer_phone, c.customer_name, m.body AS last_message,
                m.sent_at AS last_message_at, c.bot_enabled AS "bot_enabled: bool", c.unread, c.handoff_reason,
                COALESCE((SELECT l.stage FROM leads l WHERE l.shop_uid = c.shop_uid
                          AND l.phone = c.customer_phone AND l.stage <> 'New'),
                CASE (SELECT CASE WHEN i.abandoned_at IS NOT NULL AND i.paid_at IS NULL
                                  THEN 'abandoned' ELSE i.status END FROM invoices i
                      WHERE i.shop_uid = c.shop_uid AND i.customer_phone = c.customer_phone
                      ORDER BY i.id DESC LIMIT 1)
                    WHEN 'abandoned' THEN 'Abandoned'
                    WHEN 'sent' THEN 'Awaiting payment'
                    WHEN 'draft' THEN 'Awaiting payment'
                    WHEN 'failed' THEN 'Awaiting payment'
                    WHEN 'paid' THEN 'Paid'
                    WHEN 'partially_refunded' THEN 'Paid'
                    WHEN 'expired' THEN 'Link expired'
                    WHEN 'refunded' THEN 'Refunded'
                    ELSE 'New' END) AS stage,
                c.opted_out AS "opted_out: bool",
                COALESCE((SELECT l.tags FROM leads l WHERE l.shop_uid = c.shop_uid
                          AND l.phone = c.customer_phone), '[]') AS tags
         FROM conversations c
         JOIN messages m ON m.id = (
             SELECT id FROM messages WHERE conversation_id = c.id ORDER BY sent_at DESC, id DESC LIMIT 1)
         WHERE c.shop_uid = $1
         ORDER BY m.sent_at DESC, c.id DESC"#,
        shop
    )?)
}

/// A conversation a search found.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SearchHit {
    /// The customer.
    pub customer_phone: String,
    /// The best matching message with the match in `[` `]`.
    pub snippet: String,
    /// When that message was written.
    pub sent_at: i64,
}

/// Conversations whose messages contain every word of `query` (prefixes match, accents and
/// case are ignored), the best match per conversation, newest first. The query's words are
/// quoted, so FTS5 syntax in it is read as text.
pub async fn search(db: &Db, shop: &str, query: &str) -> Result<Vec<SearchHit>> {
    let words: Vec<&str> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = db.acquire().await?;
    // Every word as a prefix: FTS5's `"w"*` on SQLite, a `w:*` text-search query on
    // PostgreSQL (the words are letters and digits only, so neither syntax can be injected).
    let matching = match conn.backend() {
        super::Backend::Sqlite => words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
        super::Backend::Postgres => words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & "),
    };
    Ok(query_as!(
        fetch_all,
        &mut conn,
        SearchHit,
        sqlite: r#"WITH hits AS MATERIALIZED (
             SELECT c.id AS cid, c.customer_phone,
                    snippet(messages_fts, 0, '[', ']', '…', 12) AS snippet,
                    m.sent_at, m.id AS mid
             FROM messages_fts
             JOIN messages m ON m.id = messages_fts.rowid
             JOIN conversations c ON c.id = m.conversation_id
             WHERE messages_fts MATCH $1 AND c.shop_uid = $2)
         SELECT customer_phone AS "customer_phone!", snippet AS "snippet!: String",
                sent_at AS "sent_at!" FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY cid ORDER BY sent_at DESC, mid DESC) AS n
             FROM hits)
         WHERE n = 1 ORDER BY sent_at DESC LIMIT 50"#,
        postgres: r#"WITH hits AS MATERIALIZED (
             SELECT c.id AS cid, c.customer_phone,
                    ts_headline('ziflow_search', m.body, to_tsquery('ziflow_search', $1),
                                'StartSel=[, StopSel=], MaxWords=12, MinWords=3') AS snippet,
                    m.sent_at, m.id AS mid
             FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             WHERE to_tsvector('ziflow_search', m.body) @@ to_tsquery('ziflow_search', $1)
               AND c.shop_uid = $2)
         SELECT customer_phone, snippet, sent_at FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY cid ORDER BY sent_at DESC, mid DESC) AS n
             FROM hits) AS best
         WHERE n = 1 ORDER BY sent_at DESC LIMIT 50"#,
        matching,
        shop
    )?)
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
    /// `bot` or `rep` for the shop's messages.
    pub author: Option<String>,
    /// Delivery on WhatsApp: `queued`, `accepted`, `sent`, `delivered`, `read` or `failed`
    /// (none for inbound and sandbox messages).
    pub status: Option<String>,
    /// Why it failed, in WhatsApp's words.
    pub error: Option<String>,
}

/// A conversation's messages, oldest first.
pub async fn thread(db: &Db, shop: &str, phone: &str) -> Result<Vec<ThreadMessage>> {
    // Delivery status: the furthest status WhatsApp reported (failed wins), `failed` when
    // sending was refused, `queued` while a WhatsApp send is pending, none for inbound and
    // sandbox messages.
    Ok(query_as!(fetch_all, &mut db.acquire().await?, ThreadMessage,
        "SELECT m.direction, m.body, m.sent_at, m.author,
            CASE
            WHEN m.direction = 'in' THEN NULL
            WHEN m.send_error IS NOT NULL THEN 'failed'
            WHEN m.wamid IS NULL THEN
                CASE WHEN (SELECT value FROM settings WHERE shop_uid = c.shop_uid AND key = 'channel')
                          = 'whatsapp' AND m.event_id IS NOT NULL THEN 'queued' END
            ELSE COALESCE((SELECT s.status FROM message_statuses s
                           WHERE s.shop_uid = c.shop_uid AND s.wamid = m.wamid
                           ORDER BY CASE s.status WHEN 'failed' THEN 5 WHEN 'read' THEN 4
                                    WHEN 'delivered' THEN 3 WHEN 'sent' THEN 2 ELSE 1 END DESC
                           LIMIT 1), 'accepted')
            END AS status,
            COALESCE(m.send_error, (SELECT s.error FROM message_statuses s
                WHERE s.shop_uid = c.shop_uid AND s.wamid = m.wamid AND s.status = 'failed'))
                AS error
         FROM messages m
         JOIN conversations c ON c.id = m.conversation_id
         WHERE c.shop_uid = $1 AND c.customer_phone = $2 ORDER BY m.sent_at, m.id",
        shop,
        phone)?)
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

/// The newest `limit` messages with `phone` sent at or before `upto`, oldest first: whether
/// each is the customer's (`in`) and its text. What the optional model reader sees.
pub async fn recent(
    db: &Db,
    shop: &str,
    phone: &str,
    upto: i64,
    limit: i64,
) -> Result<Vec<(bool, String)>> {
    let limit = limit.clamp(1, 100);
    let mut rows: Vec<(bool, String)> = query_as!(
        fetch_all,
        &mut db.acquire().await?,
        RecentLine,
        r#"SELECT m.direction = 'in' AS "inbound!: bool", m.body FROM messages m
           JOIN conversations c ON c.id = m.conversation_id
           WHERE c.shop_uid = $1 AND c.customer_phone = $2 AND m.sent_at <= $3
           ORDER BY m.sent_at DESC, m.id DESC LIMIT $4"#,
        shop,
        phone,
        upto,
        limit
    )?
    .into_iter()
    .map(|r| (r.inbound, r.body))
    .collect();
    rows.reverse();
    Ok(rows)
}

/// What became of the shop's message of event `event_id`: WhatsApp's id, or why it was not
/// sent (`message.delivery`).
pub async fn delivery_in(
    conn: &mut Conn,
    shop: &str,
    event_id: i64,
    wamid: Option<&str>,
    error: Option<&str>,
) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE messages SET wamid = COALESCE($1, wamid), send_error = $2 WHERE event_id = $3
         AND conversation_id IN (SELECT id FROM conversations WHERE shop_uid = $4)",
        wamid,
        error,
        event_id,
        shop
    )?;
    Ok(())
}

/// The customer wrote STOP (`conversation.opted_out`).
pub async fn opt_out_in(conn: &mut Conn, shop: &str, phone: &str) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE conversations SET opted_out = TRUE WHERE shop_uid = $1 AND customer_phone = $2",
        shop,
        phone
    )?;
    Ok(())
}

/// A person takes the conversation over, for `reason` (`conversation.handoff`).
pub async fn hand_off_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
    reason: Option<&str>,
) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE conversations SET bot_enabled = FALSE, handoff_reason = $1
         WHERE shop_uid = $2 AND customer_phone = $3",
        reason,
        shop,
        phone
    )?;
    Ok(())
}

/// Switches the bot off or on in a conversation (`conversation.bot_set`); switched on, the
/// hand-off reason goes and the agent starts the conversation afresh.
pub async fn set_bot_in(conn: &mut Conn, shop: &str, phone: &str, enabled: bool) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE conversations SET bot_enabled = $1,
                handoff_reason = CASE WHEN $2 THEN NULL ELSE handoff_reason END
         WHERE shop_uid = $3 AND customer_phone = $4",
        enabled,
        enabled,
        shop,
        phone
    )?;
    if enabled {
        execute!(
            &mut *conn,
            sqlite: "UPDATE agent_states SET state = json_set(state, '$.stage', 'Open')
             WHERE shop_uid = $1 AND customer_phone = $2",
            postgres: "UPDATE agent_states
             SET state = jsonb_set(state::jsonb, '{stage}', to_jsonb('Open'::text))::text
             WHERE shop_uid = $1 AND customer_phone = $2",
            shop,
            phone
        )?;
    }
    Ok(())
}

/// How the shop can reach a customer (see [`reach_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct Reach {
    /// When they last wrote (the 24-hour window), if ever.
    pub last_inbound_at: Option<i64>,
    /// They wrote STOP and not since.
    pub opted_out: bool,
    /// The bot talks in the conversation (no person took it over).
    pub bot_enabled: bool,
}

/// How the shop can reach `phone`; `None` when there is no conversation with them.
pub async fn reach_in(conn: &mut Conn, shop: &str, phone: &str) -> Result<Option<Reach>> {
    Ok(query_as!(
        fetch_optional,
        &mut *conn,
        Reach,
        r#"SELECT last_inbound_at, opted_out AS "opted_out: bool",
                  bot_enabled AS "bot_enabled: bool"
           FROM conversations WHERE shop_uid = $1 AND customer_phone = $2"#,
        shop,
        phone
    )?)
}

/// Whether `phone` is a customer of the shop: a lead or a conversation.
pub async fn is_customer_in(conn: &mut Conn, shop: &str, phone: &str) -> Result<bool> {
    let known: Option<i64> = query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT CAST(1 AS BIGINT) FROM leads WHERE shop_uid = $1 AND phone = $2
         UNION SELECT CAST(1 AS BIGINT) FROM conversations WHERE shop_uid = $1 AND customer_phone = $2",
        shop,
        phone
    )?;
    Ok(known.is_some())
}

/// The shop's name and the customer's profile name, if they have one.
pub async fn names_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
) -> Result<(String, Option<String>)> {
    let row = query_as!(
        fetch_one,
        conn,
        Names,
        r#"SELECT s.name, c.customer_name AS "customer_name?" FROM shops s
           LEFT JOIN conversations c ON c.shop_uid = s.uid AND c.customer_phone = $1
           WHERE s.uid = $2"#,
        phone,
        shop
    )?;
    Ok((row.name, row.customer_name))
}

/// A status WhatsApp reported for the shop's message `wamid` (each status once).
pub async fn record_status_in(
    conn: &mut Conn,
    shop: &str,
    wamid: &str,
    status: &str,
    at: i64,
    error: Option<&str>,
) -> Result<()> {
    execute!(&mut *conn, "INSERT INTO message_statuses (shop_uid, wamid, status, at, error) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
        shop,
        wamid,
        status,
        at,
        error)?;
    Ok(())
}

/// The agent's state of its conversation with `phone` (JSON), if it has one.
pub async fn agent_state_in(conn: &mut Conn, shop: &str, phone: &str) -> Result<Option<String>> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT state FROM agent_states WHERE shop_uid = $1 AND customer_phone = $2",
        shop,
        phone
    )?)
}

/// Keeps the agent's state (JSON) of its conversation with `phone`.
pub async fn agent_state_set_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
    state: &str,
    now: i64,
) -> Result<()> {
    execute!(&mut *conn, "INSERT INTO agent_states (shop_uid, customer_phone, state, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (shop_uid, customer_phone) DO UPDATE SET state = excluded.state,
             updated_at = excluded.updated_at",
        shop,
        phone,
        state,
        now)?;
    Ok(())
}

/// The thread with `phone` as the customer sees it: direction, text and time of each
/// message, oldest first.
pub async fn plain_thread(db: &Db, shop: &str, phone: &str) -> Result<Vec<(String, String, i64)>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        PlainLine,
        "SELECT m.direction, m.body, m.sent_at FROM messages m
         JOIN conversations c ON c.id = m.conversation_id
         WHERE c.shop_uid = $1 AND c.customer_phone = $2 ORDER BY m.id",
        shop,
        phone
    )?
    .into_iter()
    .map(|r| (r.direction, r.body, r.sent_at))
    .collect())
}

#[derive(sqlx::FromRow)]
struct RecentLine {
    inbound: bool,
    body: String,
}

#[derive(sqlx::FromRow)]
struct Names {
    name: String,
    customer_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PlainLine {
    direction: String,
    body: String,
    sent_at: i64,
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
