//! The agent on a shop it was not built on: the conversations of
//! `tests/fixtures/agent-corpus/` (a Miami coffee shop, English and Spanish, written in the
//! ways people write on WhatsApp), scored per kind. A wrong invoice — one sent when none
//! should be, or with other items, quantities or total than the customer stated — fails the
//! suite; a handoff or a question where a person would have understood is a miss, counted
//! but allowed.
//!
//! `held-out.json` was written before any tuning and is only scored, never tuned on.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

/// How one conversation came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// What the customer asked for, exactly.
    Right,
    /// Safe, but not what a person would have done (a handoff, a question, no quote).
    Missed(String),
    /// An invoice that should not have gone out, or with the wrong items or total.
    WrongTotal(String),
}

/// Scores of one file: per kind (right, missed, wrong), and every non-right verdict.
#[derive(Debug, Default)]
pub struct Score {
    /// kind → (right, missed, wrong totals).
    pub kinds: BTreeMap<String, (usize, usize, usize)>,
    /// (id, kind, verdict) of each conversation not right.
    pub failures: Vec<(String, String, Verdict)>,
}

impl Score {
    /// Conversations scored.
    pub fn total(&self) -> usize {
        self.kinds.values().map(|(r, m, w)| r + m + w).sum()
    }

    /// Invoices that were wrong.
    pub fn wrong(&self) -> usize {
        self.kinds.values().map(|(_, _, w)| w).sum()
    }

    /// The per-kind table as text.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<12} {:>5} {:>7} {:>6} {:>7} {:>8}\n",
            "kind", "convs", "right", "missed", "wrong", "accuracy"
        );
        let mut add = |kind: &str, (r, m, w): (usize, usize, usize)| {
            let n = r + m + w;
            let pct = if n == 0 {
                0.0
            } else {
                100.0 * r as f64 / n as f64
            };
            out.push_str(&format!(
                "{kind:<12} {n:>5} {r:>7} {m:>6} {w:>7} {pct:>7.1}%\n"
            ));
        };
        let mut all = (0, 0, 0);
        for (kind, counts) in &self.kinds {
            add(kind, *counts);
            all = (all.0 + counts.0, all.1 + counts.1, all.2 + counts.2);
        }
        add("all", all);
        out
    }
}

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/agent-corpus")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

type Item = (String, Option<String>, i64);

fn items_of(order: &Order) -> Vec<Item> {
    let mut items: Vec<Item> = order
        .items
        .iter()
        .map(|i| (i.sku.clone(), i.variant.clone(), i.qty))
        .collect();
    items.sort();
    items
}

/// Judges one conversation against its expectations.
pub fn judge(shop: &Shop<'_>, conv: &Value) -> Verdict {
    let messages: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let (replies, order, handoff, _) = super::tests::play(shop, &messages);
    let expect = &conv["expect"];
    let all = replies.join(" | ");
    let invoice_expected = expect["invoice_sent"].as_bool().unwrap_or(false);
    match (&order, invoice_expected) {
        (Some(o), false) => {
            return Verdict::WrongTotal(format!(
                "sent an invoice nobody asked for: {:?} total {}",
                items_of(o),
                o.total_cents
            ))
        }
        (Some(o), true) => {
            let mut want: Vec<Item> = expect["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    (
                        i[0].as_str().unwrap().to_string(),
                        i[1].as_str().map(str::to_string),
                        i[2].as_i64().unwrap(),
                    )
                })
                .collect();
            want.sort();
            let total = expect["total_cents"].as_i64().unwrap();
            let got = items_of(o);
            if got != want || o.total_cents != total {
                return Verdict::WrongTotal(format!(
                    "invoiced {got:?} total {} — wanted {want:?} total {total}",
                    o.total_cents
                ));
            }
        }
        (None, true) => {
            return Verdict::Missed(format!("no invoice (handoff {handoff}); replies: {all}"))
        }
        (None, false) => {}
    }
    if let Some(h) = expect["handoff"].as_bool() {
        if h != handoff {
            return Verdict::Missed(format!("handoff {handoff}, wanted {h}; replies: {all}"));
        }
    }
    for q in expect["quote_contains"].as_array().into_iter().flatten() {
        let q = q.as_str().unwrap();
        if !all.contains(q) {
            return Verdict::Missed(format!("no {q} in the replies: {all}"));
        }
    }
    Verdict::Right
}

/// Scores every conversation of a corpus file.
pub fn score(file: &Value) -> Score {
    let catalog = Catalog::parse(&serde_json::json!({
        "catalog": file["catalog"], "shipping": file["shipping"]
    }))
    .unwrap();
    let city = file["shop"]["city"].as_str().unwrap_or_default();
    let currency = file["shop"]["currency"].as_str().unwrap_or("USD");
    let shop = Shop {
        city,
        currency,
        catalog: &catalog,
        replies: None,
        max_qty: safety::DEFAULT_MAX_QTY,
    };
    let mut s = Score::default();
    for conv in file["conversations"].as_array().unwrap() {
        let id = conv["id"].as_str().unwrap().to_string();
        let kind = conv["kind"].as_str().unwrap_or("other").to_string();
        let verdict = judge(&shop, conv);
        let counts = s.kinds.entry(kind.clone()).or_default();
        match &verdict {
            Verdict::Right => counts.0 += 1,
            Verdict::Missed(_) => counts.1 += 1,
            Verdict::WrongTotal(_) => counts.2 += 1,
        }
        if verdict != Verdict::Right {
            s.failures.push((id, kind, verdict));
        }
    }
    s
}

/// Plays a file open for tuning: prints its table and every conversation not right.
fn tuned_on(name: &str, size: usize) -> Score {
    let s = score(&load(name));
    println!("{name}:\n{}", s.table());
    for (id, kind, v) in &s.failures {
        println!("{id} [{kind}] {v:?}");
    }
    assert_eq!(s.total(), size, "the whole of {name} was played");
    s
}

#[test]
fn the_tuning_corpus_gets_no_wrong_total() {
    let s = tuned_on("tuning.json", 210);
    assert_eq!(s.wrong(), 0, "wrong invoices:\n{}", s.table());
}

#[test]
fn the_first_held_out_parts_get_no_wrong_total() {
    // Each was written first and scored once (held-out.json: 68.3 % right, 2 wrong;
    // held-out-2.json: 79.0 % right, 3 wrong; held-out-3.json: 80.4 % right, 1 wrong;
    // held-out-4.json: 84.2 % right, 2 wrong), then
    // opened for tuning once the next part had been written to take its place.
    for (name, size) in [
        ("held-out.json", 101),
        ("held-out-2.json", 62),
        ("held-out-3.json", 51),
        ("held-out-4.json", 38),
    ] {
        let s = tuned_on(name, size);
        assert_eq!(s.wrong(), 0, "wrong invoices in {name}:\n{}", s.table());
    }
}

#[test]
fn the_held_out_corpus_gets_no_wrong_total() {
    // Scored only: its conversations are not printed, so nobody tunes on them.
    let s = score(&load("held-out-5.json"));
    println!("held-out corpus (held-out-5.json):\n{}", s.table());
    assert_eq!(s.total(), 42, "the whole corpus was played");
    assert_eq!(s.wrong(), 0, "wrong invoices on held-out:\n{}", s.table());
}
