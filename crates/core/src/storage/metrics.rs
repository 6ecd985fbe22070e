//! The owner metrics' aggregate reads over conversations and invoices.

use crate::{Db, Result};

/// Customers who wrote in `[from, to)`, and how many of them paid an invoice sent after their
/// first message in the range (chat → payment).
pub async fn chats_to_payment(db: &Db, shop: &str, from: i64, to: i64) -> Result<(i64, i64)> {
    let row = query_as!(
        fetch_one,
        &mut db.acquire().await?,
        ChatsPaid,
        r#"WITH chats AS (
             SELECT c.customer_phone AS phone, MIN(m.sent_at) AS first_at
             FROM conversations c JOIN messages m ON m.conversation_id = c.id
             WHERE c.shop_uid = $1 AND m.direction = 'in' AND m.sent_at >= $2 AND m.sent_at < $3
             GROUP BY c.customer_phone)
         SELECT COUNT(*) AS "chats!: i64", COUNT(*) FILTER (WHERE EXISTS (
             SELECT 1 FROM invoices i WHERE i.shop_uid = $4 AND i.customer_phone = chats.phone
             AND i.paid_at IS NOT NULL AND i.created_at >= chats.first_at)) AS "paid!: i64"
         FROM chats"#,
        shop,
        from,
        to,
        shop
    )?;
    Ok((row.chats, row.paid))
}

/// When the shop's first invoice was sent, if any (the metrics' default period starts there
/// when that is more than 30 days back).
pub async fn first_sent_at(db: &Db, shop: &str) -> Result<Option<i64>> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        r#"SELECT MIN(sent_at) AS "first: i64" FROM invoices WHERE shop_uid = $1"#,
        shop
    )?)
}

#[derive(sqlx::FromRow)]
struct ChatsPaid {
    chats: i64,
    paid: i64,
}
