//! The CRM's tables: `leads` (stage, tags as a JSON array, custom fields as a JSON object),
//! `lead_history` (what happened to a lead, one line each) and `automation_runs` (which rule
//! weighed which event, so nothing runs twice).

use crate::storage::Conn;

use crate::{Db, Result};

/// A change to a lead's stage or tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Moves it to a stage.
    Stage,
    /// Adds a tag (once).
    AddTag,
    /// Removes a tag.
    RemoveTag,
}

/// Makes the lead of `phone` if there is none.
pub async fn ensure_in(conn: &mut Conn, shop: &str, phone: &str, at: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "INSERT INTO leads (shop_uid, phone, created_at, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        shop,
        phone,
        at,
        at
    )?;
    Ok(())
}

/// Changes the lead's stage or tags to `value` at `at`.
pub async fn change_in(
    conn: &mut Conn,
    change: Change,
    value: &str,
    at: i64,
    shop: &str,
    phone: &str,
) -> Result<()> {
    match change {
        Change::Stage => execute!(
            conn,
            "UPDATE leads SET stage = $1, updated_at = $2 WHERE shop_uid = $3 AND phone = $4",
            value,
            at,
            shop,
            phone
        )?,
        Change::AddTag => execute!(
            conn,
            sqlite: "UPDATE leads SET tags = CASE WHEN EXISTS (SELECT 1 FROM json_each(tags) WHERE value = $1)
                 THEN tags ELSE json_insert(tags, '$[#]', $1) END, updated_at = $2
             WHERE shop_uid = $3 AND phone = $4",
            postgres: "UPDATE leads SET tags = CASE WHEN tags::jsonb ? $1 THEN tags
                 ELSE (tags::jsonb || to_jsonb($1::text))::text END, updated_at = $2
             WHERE shop_uid = $3 AND phone = $4",
            value,
            at,
            shop,
            phone
        )?,
        Change::RemoveTag => execute!(
            conn,
            sqlite: "UPDATE leads SET tags = (SELECT json_group_array(value) FROM json_each(tags)
                 WHERE value <> $1), updated_at = $2 WHERE shop_uid = $3 AND phone = $4",
            postgres: "UPDATE leads SET tags = (SELECT COALESCE(jsonb_agg(t), '[]'::jsonb)::text
                 FROM jsonb_array_elements_text(tags::jsonb) t WHERE t <> $1), updated_at = $2
             WHERE shop_uid = $3 AND phone = $4",
            value,
            at,
            shop,
            phone
        )?,
    };
    Ok(())
}

/// Sets custom field `name` to `value` (JSON text).
pub async fn set_field_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
    name: &str,
    value: &str,
    at: i64,
) -> Result<()> {
    execute!(
        &mut *conn,
        sqlite: "UPDATE leads SET fields = json_set(fields, '$.' || $1, json($2)), updated_at = $3
         WHERE shop_uid = $4 AND phone = $5",
        postgres: "UPDATE leads SET fields = jsonb_set(fields::jsonb, ARRAY[$1::text], $2::jsonb)::text,
             updated_at = $3 WHERE shop_uid = $4 AND phone = $5",
        name,
        value,
        at,
        shop,
        phone
    )?;
    Ok(())
}

/// Adds `minor` of `currency` to the amount in custom field `name`.
pub async fn add_to_field_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
    name: &str,
    minor: i64,
    currency: &str,
    at: i64,
) -> Result<()> {
    execute!(
        &mut *conn,
        sqlite: "UPDATE leads SET fields = json_set(fields, '$.' || $1, json_object(
             'minor', COALESCE(json_extract(fields, '$.' || $1 || '.minor'), 0) + $2,
             'currency', $3)), updated_at = $4
         WHERE shop_uid = $5 AND phone = $6",
        postgres: "UPDATE leads SET fields = jsonb_set(fields::jsonb, ARRAY[$1::text], jsonb_build_object(
             'minor', COALESCE((fields::jsonb -> $1::text ->> 'minor')::bigint, 0) + $2,
             'currency', $3::text))::text, updated_at = $4
         WHERE shop_uid = $5 AND phone = $6",
        name,
        minor,
        currency,
        at,
        shop,
        phone
    )?;
    Ok(())
}

/// Adds a line to the lead's history: `what` happened at `at` (by `rule`, from `event_id`).
pub async fn history_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
    event_id: i64,
    rule: Option<&str>,
    what: &str,
    at: i64,
) -> Result<()> {
    execute!(
        &mut *conn,
        "INSERT INTO lead_history (shop_uid, phone, event_id, rule, what, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        shop,
        phone,
        event_id,
        rule,
        what,
        at
    )?;
    Ok(())
}

/// Records that `rule` weighed event `event_id`; false if it already had.
pub async fn first_run_in(conn: &mut Conn, shop: &str, rule: &str, event_id: i64) -> Result<bool> {
    Ok(execute!(
        &mut *conn,
        "INSERT INTO automation_runs (shop_uid, rule, event_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        shop,
        rule,
        event_id
    )? == 1)
}

/// The lead's stage and tags (a JSON array).
pub async fn stage_and_tags_in(
    conn: &mut Conn,
    shop: &str,
    phone: &str,
) -> Result<(String, String)> {
    let row = query_as!(
        fetch_one,
        conn,
        StageTags,
        "SELECT stage, tags FROM leads WHERE shop_uid = $1 AND phone = $2",
        shop,
        phone
    )?;
    Ok((row.stage, row.tags))
}

/// How many leads are in each stage.
pub async fn stage_counts_in(conn: &mut Conn, shop: &str) -> Result<Vec<(String, i64)>> {
    Ok(query_as!(
        fetch_all,
        conn,
        StageCount,
        r#"SELECT stage, count(*) AS "n!: i64" FROM leads WHERE shop_uid = $1 GROUP BY stage"#,
        shop
    )?
    .into_iter()
    .map(|r| (r.stage, r.n))
    .collect())
}

/// A lead in the list as stored: phone, the customer's name, stage, tags (JSON), fields
/// (JSON), last change.
pub type ListRow = (String, Option<String>, String, String, String, i64);

/// The shop's leads, most recently changed first.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<ListRow>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        LeadLine,
        r#"SELECT l.phone, c.customer_name AS "customer_name?", l.stage, l.tags, l.fields,
                  l.updated_at
           FROM leads l LEFT JOIN conversations c
             ON c.shop_uid = l.shop_uid AND c.customer_phone = l.phone
           WHERE l.shop_uid = $1 ORDER BY l.updated_at DESC, l.phone"#,
        shop
    )?
    .into_iter()
    .map(|r| {
        (
            r.phone,
            r.customer_name,
            r.stage,
            r.tags,
            r.fields,
            r.updated_at,
        )
    })
    .collect())
}

/// The lead of `phone` as stored — stage, tags (JSON), fields (JSON) — and its history
/// (when, what), oldest first; `None` if there is no such lead.
pub async fn get(
    db: &Db,
    shop: &str,
    phone: &str,
) -> Result<Option<((String, String, String), Vec<(i64, String)>)>> {
    let mut conn = db.acquire().await?;
    let row = query_as!(
        fetch_optional,
        &mut conn,
        LeadState,
        "SELECT stage, tags, fields FROM leads WHERE shop_uid = $1 AND phone = $2",
        shop,
        phone
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let history = query_as!(
        fetch_all,
        &mut conn,
        HistoryLine,
        "SELECT at, what FROM lead_history WHERE shop_uid = $1 AND phone = $2 ORDER BY id",
        shop,
        phone
    )?
    .into_iter()
    .map(|r| (r.at, r.what))
    .collect();
    Ok(Some(((row.stage, row.tags, row.fields), history)))
}

#[derive(sqlx::FromRow)]
struct StageTags {
    stage: String,
    tags: String,
}

#[derive(sqlx::FromRow)]
struct StageCount {
    stage: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct LeadLine {
    phone: String,
    customer_name: Option<String>,
    stage: String,
    tags: String,
    fields: String,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct LeadState {
    stage: String,
    tags: String,
    fields: String,
}

#[derive(sqlx::FromRow)]
struct HistoryLine {
    at: i64,
    what: String,
}
