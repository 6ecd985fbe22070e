//! Relays sharing one PostgreSQL database wake each other. Every commit a relay announces
//! (`Intake::announce`) is also sent, batched and outside any transaction, as one
//! notification on the database (`ziflow_core::storage::push`); every relay listens and
//! announces what the others committed to its own streams and engine. A device on relay A
//! is thus woken when relay B commits an event of its shop.
//!
//! Notifications are hints: the data is always pulled from the log by cursor. When the
//! listening connection drops and comes back, notifications sent meanwhile are lost, so
//! every stream of this relay is told to pull (`intake::EVERY_SHOP`) — clients re-pull,
//! never miss. On SQLite (one relay per file) nothing here runs.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use ziflow_core::storage::push::{self, Heard, Listener};
use ziflow_core::Db;

use crate::intake::{Committed, Intake, EVERY_SHOP};

/// Starts the notifier and the listener when `db` is PostgreSQL.
pub async fn start(
    db: &Db,
    intake: &Intake,
    stopping: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(listener) = Listener::connect(db).await? else {
        return Ok(());
    };
    let me = ziflow_core::secrets::new_token("relay")?;
    let (tx, rx) = mpsc::unbounded_channel();
    intake.forward_to(tx);
    tokio::spawn(notifier(db.clone(), me.clone(), rx));
    tokio::spawn(listen(listener, me, intake.clone(), stopping));
    Ok(())
}

/// Sends what this relay committed, as few notifications as fit: the newest id per shop.
async fn notifier(db: Db, me: String, mut rx: mpsc::UnboundedReceiver<Committed>) {
    while let Some(first) = rx.recv().await {
        let mut newest: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        let mut add = |c: Committed| {
            let id = newest.entry(c.shop_uid).or_insert(c.id);
            *id = (*id).max(c.id);
        };
        add(first);
        while let Ok(c) = rx.try_recv() {
            add(c);
        }
        for payload in payloads(&me, &newest) {
            if let Err(e) = push::notify(&db, &payload).await {
                // The others still catch up at their next wake-up or re-pull.
                tracing::warn!("telling the other relays about new events failed: {e}");
            }
        }
    }
}

/// `"<relay> <shop>:<id> …"`, split so each stays under PostgreSQL's payload limit.
fn payloads(me: &str, newest: &std::collections::BTreeMap<String, i64>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = me.to_string();
    for (shop, id) in newest {
        let item = format!(" {shop}:{id}");
        if current.len() + item.len() > push::MAX_PAYLOAD {
            out.push(std::mem::replace(&mut current, me.to_string()));
        }
        current.push_str(&item);
    }
    if current.len() > me.len() {
        out.push(current);
    }
    out
}

/// The commits in another relay's notification; none for this relay's own.
fn heard(me: &str, payload: &str) -> Vec<Committed> {
    let mut parts = payload.split(' ');
    if parts.next() == Some(me) {
        return Vec::new();
    }
    parts
        .filter_map(|item| {
            let (shop, id) = item.rsplit_once(':')?;
            Some(Committed {
                shop_uid: shop.to_string(),
                id: id.parse().ok()?,
            })
        })
        .collect()
}

async fn listen(
    mut listener: Listener,
    me: String,
    intake: Intake,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            _ = stopping.changed() => return,
            next = listener.next() => next,
        };
        match next {
            Ok(Heard::Payload(payload)) => {
                for c in heard(&me, &payload) {
                    intake.announce_here(c);
                }
            }
            Ok(Heard::Reconnected) => {
                tracing::warn!("the database's notifications were interrupted; devices pull again");
                intake.announce_here(Committed {
                    shop_uid: EVERY_SHOP.to_string(),
                    id: 0,
                });
            }
            Err(e) => {
                tracing::warn!("listening for the other relays' events: {e}; trying again");
                intake.announce_here(Committed {
                    shop_uid: EVERY_SHOP.to_string(),
                    id: 0,
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_carry_the_newest_id_per_shop_and_skip_the_sender() {
        let newest = [("shop_a".to_string(), 7), ("shop_b".to_string(), 9)]
            .into_iter()
            .collect();
        let sent = payloads("relay_1", &newest);
        assert_eq!(sent, vec!["relay_1 shop_a:7 shop_b:9".to_string()]);
        assert!(
            heard("relay_1", &sent[0]).is_empty(),
            "a relay ignores its own"
        );
        assert_eq!(
            heard("relay_2", &sent[0]),
            vec![
                Committed {
                    shop_uid: "shop_a".into(),
                    id: 7
                },
                Committed {
                    shop_uid: "shop_b".into(),
                    id: 9
                }
            ]
        );
    }

    #[test]
    fn a_long_list_is_split_under_the_payload_limit() {
        let newest = (0..2_000)
            .map(|n| (format!("shop_{n:06}"), i64::from(n)))
            .collect();
        let sent = payloads("r", &newest);
        assert!(sent.len() > 1);
        assert!(sent
            .iter()
            .all(|p| p.len() <= push::MAX_PAYLOAD && p.starts_with("r ")));
        let back: usize = sent.iter().map(|p| heard("other", p).len()).sum();
        assert_eq!(back, 2_000, "every shop is in one of them");
    }
}
