//! Fuzzing the parsers an outsider or an owner feeds: the `Stripe-Signature` and
//! `X-Hub-Signature-256` checks, WhatsApp payloads, the catalog CSV, message templates, the
//! inbox search query and the automation rules. Each target gets random bytes and mutations of
//! real inputs (bytes flipped, cut, repeated, spliced with tokens that mean something to the
//! parser) and must hold its property: no panic, a bounded time per case, and what it accepts
//! is what it should accept.
//!
//! The test command runs a short round ([`DEFAULT_CASES`] per target);
//! `cargo xtask fuzz` runs a million per target (`ZIFLOW_FUZZ_CASES`). Inputs that once broke
//! something live in `tests/fuzz-corpus/<target>/` and are replayed on every run; put a new
//! one there (the failing input proptest prints) when a fuzz run finds it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use ziflow_core::catalog::{csv_form, Catalog};
use ziflow_core::crm::{self, Rule};
use ziflow_core::storage::conversations::{self, Direction};
use ziflow_core::storage::invoices::LineItem;
use ziflow_core::storage::{events, settings, shops};
use ziflow_core::template::{self, InvoiceMessage, Template};
use ziflow_core::webhook::{stripe, whatsapp};

/// Cases per target in the test command's short round.
const DEFAULT_CASES: u32 = 3_000;

/// The longest one case may take. Every parser here works in microseconds; a case near this
/// is a quadratic (or worse) path, not a slow machine.
const CASE_LIMIT: Duration = Duration::from_millis(250);

const SECRET: &str = "whsec_fuzz_secret";
const NOW: i64 = 1_790_000_000;

fn cases() -> u32 {
    std::env::var("ZIFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Tokens spliced into inputs: what the parsers split on, escape, or count.
const TOKENS: &[&str] = &[
    ",",
    "=",
    "t=",
    ",v1=",
    ",v0=",
    "v1=",
    "sha256=",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ":",
    "\n",
    "\r\n",
    "\\",
    "\\u0000",
    "{{",
    "}}",
    "{amount}",
    "{items}",
    "{link}",
    "{nope}",
    "*",
    "NEAR(",
    " OR ",
    " AND ",
    "NOT ",
    "^",
    "(",
    ")",
    "-",
    "+",
    "@",
    "=HYPERLINK(",
    "|",
    "\u{feff}",
    "\u{0}",
    "é",
    "ñ",
    "😀",
    "\u{202e}",
    "99999999999999999999",
    "-1",
    "0",
    "1e308",
    "null",
    "true",
    "\"messages\":",
    "\"statuses\":",
    "\"entry\":",
    "\"changes\":",
    "\"value\":",
    "\"metadata\":",
    "\"phone_number_id\":",
    "\"text\":{\"body\":",
    "\"id\":",
    "\"on\":",
    "\"if\":",
    "\"actions\":",
    "\"type\":",
    "sku",
    "zone",
    "price",
    "variants",
];

/// Words the JSON targets give meaning to (a replaced value is often one of them, so the
/// parser gets past its shape checks into the code behind them): the pipeline's stages, the
/// rules' triggers and channels, the rules' actions, WhatsApp's shapes.
fn vocab() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = crm::STAGES.to_vec();
    v.extend(crm::Trigger::ALL.iter().map(|t| t.key()));
    v.extend(ziflow_protocol::automation::CHANNELS);
    v.extend([
        "set_stage",
        "add_tag",
        "remove_tag",
        "set_field",
        "add_to_field",
        "notify",
        "send_message",
        "handoff",
        "amount",
        "date",
        "order",
        "text",
        "image",
        "messages",
        "statuses",
        "delivered",
        "read",
        "failed",
        "PNID",
    ]);
    v
}

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Token(usize, usize),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Token(i, t)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..24, 2usize..300).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Inputs stay under this size (a case is about its shape, not its bulk).
const MAX_INPUT: usize = 64 * 1024;

fn mutate(seed: &[u8], changes: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in changes {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *m {
            Mutation::Flip(i, b) if !out.is_empty() => {
                let i = i % out.len();
                out[i] ^= b;
            }
            Mutation::Flip(..) => {}
            Mutation::Token(i, t) => {
                let i = at(i, out.len());
                out.splice(i..i, TOKENS[t].bytes());
            }
            Mutation::Delete(i, n) => {
                let i = at(i, out.len());
                let end = (i + n).min(out.len());
                out.drain(i..end);
            }
            Mutation::Repeat(i, n, k) => {
                let i = at(i, out.len());
                let end = (i + n).min(out.len());
                let piece = out[i..end].to_vec();
                for _ in 0..k {
                    if out.len() + piece.len() > MAX_INPUT {
                        break;
                    }
                    out.splice(end..end, piece.iter().copied());
                }
            }
            Mutation::Truncate(i) => {
                let i = at(i, out.len());
                out.truncate(i);
            }
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// One generated input, printed as text when a case fails.
#[derive(Clone)]
struct Input(Vec<u8>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(t) => write!(f, "{t:?}"),
            Err(_) => write!(f, "bytes {:?}", self.0),
        }
    }
}

/// Random bytes, random text, a real input mutated, or (for JSON targets) a real input with
/// its values replaced — each a quarter of the cases or so.
fn input(seeds: Vec<Vec<u8>>, shaped: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Input> {
    let n = seeds.len();
    let generated = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        1 => ".{0,256}".prop_map(String::into_bytes),
        4 => (0..n, proptest::collection::vec(mutation(), 1..8))
            .prop_map(move |(i, m)| mutate(&seeds[i], &m)),
        4 => shaped,
    ];
    generated.prop_map(Input)
}

/// A JSON value a parser might meet where another was expected.
fn leaf() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        1 => ".{0,40}".prop_map(Value::from),
        1 => (0..TOKENS.len()).prop_map(|t| Value::from(TOKENS[t])),
        4 => proptest::sample::select(vocab()).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(serde_json::json!([])),
        1 => Just(serde_json::json!({})),
    ]
}

/// Replaces the `i`-th value (in document order, containers included) with `with`.
fn replace_nth(v: &mut serde_json::Value, i: &mut usize, with: &serde_json::Value) -> bool {
    if *i == 0 {
        *v = with.clone();
        return true;
    }
    *i -= 1;
    match v {
        serde_json::Value::Array(items) => items.iter_mut().any(|x| replace_nth(x, i, with)),
        serde_json::Value::Object(map) => map.values_mut().any(|x| replace_nth(x, i, with)),
        _ => false,
    }
}

fn count_values(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(items) => items.iter().map(count_values).sum(),
        serde_json::Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

/// Real JSON inputs with one to four of their values replaced by [`leaf`]s.
fn json_shaped(seeds: Vec<serde_json::Value>) -> BoxedStrategy<Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        proptest::collection::vec((any::<usize>(), leaf()), 1..3),
    )
        .prop_map(move |(s, changes)| {
            let mut v = seeds[s].clone();
            for (at, with) in changes {
                let mut i = at % count_values(&v);
                replace_nth(&mut v, &mut i, &with);
            }
            serde_json::to_vec(&v).unwrap()
        })
        .boxed()
}

/// For targets that are not JSON: more plain mutations.
fn no_shape(seeds: &[Vec<u8>]) -> BoxedStrategy<Vec<u8>> {
    let seeds = seeds.to_vec();
    let n = seeds.len();
    (0..n, proptest::collection::vec(mutation(), 1..3))
        .prop_map(move |(i, m)| mutate(&seeds[i], &m))
        .boxed()
}

/// The corpus of `target`: inputs that once broke something (or came close), replayed first.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus folder {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds inputs", dir.display());
    files
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect()
}

/// Runs `check` on the corpus, then on `cases()` generated inputs; each case within
/// [`CASE_LIMIT`]. Reports the cases run and the slowest.
fn fuzz(
    target: &str,
    seeds: Vec<Vec<u8>>,
    shaped: Option<BoxedStrategy<Vec<u8>>>,
    check: impl FnMut(&[u8]) -> Result<(), TestCaseError>,
) {
    // The runner wants `Fn`; the checks keep counters.
    let check = std::cell::RefCell::new(check);
    let slowest = AtomicU64::new(0);
    let timed = |bytes: &[u8]| -> Result<(), TestCaseError> {
        let started = Instant::now();
        (check.borrow_mut())(bytes)?;
        let took = started.elapsed();
        slowest.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
        prop_assert!(
            took < CASE_LIMIT,
            "one case took {took:?} ({} bytes)",
            bytes.len()
        );
        Ok(())
    };
    let regressions = corpus(target);
    for (i, bytes) in regressions.iter().enumerate() {
        if let Err(e) = timed(bytes) {
            panic!("{target}: corpus input {i} fails again: {e}");
        }
    }
    let mut all_seeds = seeds;
    all_seeds.extend(regressions);
    let shaped = shaped.unwrap_or_else(|| no_shape(&all_seeds));
    let n = cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        // Shrinking a megabyte of mutations takes long; the failing input is printed whole.
        max_shrink_iters: 256,
        ..Config::default()
    });
    let result = runner.run(&input(all_seeds, shaped), |input| timed(&input.0));
    if let Err(e) = result {
        panic!("{target}: {e}\nadd the input to tests/fuzz-corpus/{target}/ once fixed");
    }
    println!(
        "fuzz {target}: {n} cases, slowest {} µs",
        slowest.load(Ordering::Relaxed)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn fuzz_stripe_signature_header() {
    let body = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    let good = stripe::sign(SECRET, body, NOW);
    let genuine_v1 = good.split_once(",v1=").unwrap().1.to_string();
    let seeds = vec![
        good.clone().into_bytes(),
        format!("t={NOW},v1={},v1={genuine_v1}", "0".repeat(64)).into_bytes(),
        format!("t={NOW}{}", ",v1=".repeat(40)).into_bytes(),
        b"t=,v1=".to_vec(),
    ];
    fuzz("stripe-signature", seeds, None, |bytes| {
        let header = text(bytes);
        let verdict = stripe::verify(SECRET, Some(&header), body, NOW);
        if verdict.is_ok() {
            // Accepted only when the header carries the genuine MAC for its own timestamp.
            let t = header
                .split(',')
                .find_map(|p| p.trim().strip_prefix("t="))
                .and_then(|t| t.parse::<i64>().ok());
            prop_assert!(t.is_some(), "accepted without a timestamp: {header:?}");
            let want = stripe::sign(SECRET, body, t.unwrap());
            let want = want.split_once(",v1=").unwrap().1;
            // (Hex digits in either case: the same 32 bytes.)
            prop_assert!(
                header.split(',').any(|p| p
                    .trim()
                    .strip_prefix("v1=")
                    .is_some_and(|v| v.eq_ignore_ascii_case(want))),
                "accepted without the genuine v1: {header:?}"
            );
            prop_assert!(header.len() <= stripe::MAX_HEADER_LEN);
        }
        // The genuine header over a changed body is refused.
        if bytes != body.as_slice() {
            prop_assert!(stripe::verify(SECRET, Some(&good), bytes, NOW).is_err());
        }
        Ok(())
    });
}

fn whatsapp_seed() -> serde_json::Value {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PNID"},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15125550123"}],
        "messages": [{"from": "15125550123", "id": "wamid.A", "timestamp": "1790000000",
                      "type": "text", "text": {"body": "how much is the serum?"}}],
        "statuses": [{"id": "wamid.B", "status": "delivered", "timestamp": "1790000001",
                      "recipient_id": "15125550123"}]
    }}]}]})
}

#[test]
fn fuzz_whatsapp_payloads() {
    let seeds = vec![
        serde_json::to_vec(&whatsapp_seed()).unwrap(),
        serde_json::to_vec(&serde_json::json!({"entry": [{"changes": [{"value": {
            "messages": [{"from": "1", "id": "x", "type": "image", "image": {"id": "m"}}]}}]}]}))
        .unwrap(),
    ];
    let shaped = json_shaped(vec![whatsapp_seed()]);
    fuzz("whatsapp-payload", seeds, Some(shaped), |bytes| {
        // The header check on random headers.
        let header = text(&bytes[..bytes.len().min(120)]);
        let accepted = whatsapp::verify(SECRET, Some(&header), bytes).is_ok();
        prop_assert!(!accepted || header.trim() == whatsapp::sign(SECRET, bytes));
        // A correctly signed payload of any shape: parsed or refused, never a panic; each
        // event names its provider id; the foreign-number filter loses nothing uncounted.
        let signature = whatsapp::sign(SECRET, bytes);
        let verified = whatsapp::verify(SECRET, Some(&signature), bytes);
        prop_assert!(verified.is_ok(), "a genuine signature verifies");
        if let Ok(events) = whatsapp::events(&verified.unwrap()) {
            for e in &events {
                prop_assert!(!e.provider_id.is_empty(), "an event without its id");
            }
            let total = events.len();
            let (kept, dropped) = whatsapp::for_number(events, "PNID");
            prop_assert_eq!(kept.len() + dropped, total);
        }
        Ok(())
    });
}

fn seed_catalog() -> Catalog {
    let f: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/agent-samples.json"
    ))
    .unwrap();
    Catalog::parse(&serde_json::json!({"catalog": f["catalog"], "shipping": f["shipping"]}))
        .unwrap()
}

#[test]
fn fuzz_catalog_csv() {
    let base = seed_catalog();
    let seeds = vec![
        csv_form::export_products(&base, "USD")
            .unwrap()
            .into_bytes(),
        csv_form::export_zones(&base, "USD").unwrap().into_bytes(),
    ];
    fuzz("catalog-csv", seeds, None, |bytes| {
        let csv = text(bytes);
        if let Ok((catalog, kind)) = csv_form::import(&csv, "USD", &base) {
            // What was accepted survives its own export and import unchanged, and every
            // exported cell is safe to open in a spreadsheet.
            let exported = match kind {
                csv_form::Kind::Products => csv_form::export_products(&catalog, "USD"),
                csv_form::Kind::Zones => csv_form::export_zones(&catalog, "USD"),
            };
            let exported = exported.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (again, _) = csv_form::import(&exported, "USD", &base)
                .map_err(|e| TestCaseError::fail(format!("re-import: {e}\n{exported}")))?;
            prop_assert_eq!(&again, &catalog, "round trip of {:?}", csv);
            let mut reader = csv::Reader::from_reader(exported.as_bytes());
            for record in reader.records() {
                let record = record.map_err(|e| TestCaseError::fail(e.to_string()))?;
                for cell in record.iter() {
                    prop_assert!(
                        !cell.starts_with(['=', '+', '@', '\t', '\r']),
                        "a formula cell: {cell:?} in {exported:?}"
                    );
                }
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_template() {
    let items = [LineItem {
        sku: "SRM".into(),
        name: "Vitamin C serum".into(),
        variant: Some("30ml".into()),
        qty: 2,
        unit_minor: 6_400,
    }];
    let message = InvoiceMessage {
        items: &items,
        shipping_minor: 600,
        currency: "USD",
        total_minor: 13_400,
        link: "https://pay.example/x",
        expires: "in 48 hours",
        order: 7,
        customer: "Ana",
        shop: "Glow Bar",
    };
    let seeds = vec![
        template::DEFAULT_INVOICE.as_bytes().to_vec(),
        b"{items} {amount} {{literal}} {link}".to_vec(),
    ];
    fuzz("template", seeds, None, |bytes| {
        let source = text(bytes);
        if let Ok(t) = Template::parse(&source, template::INVOICE_VARIABLES) {
            for v in t.variables() {
                prop_assert!(template::INVOICE_VARIABLES.contains(&v), "{v} allowed");
            }
            let out = message.render(&t);
            if t.variables().contains(&"amount") {
                prop_assert!(out.contains("$134"), "the total is shown: {out:?}");
            }
            // Rendering adds only the variables' values: bounded by the source's size.
            let uses = source.matches('{').count();
            prop_assert!(out.len() <= source.len() + uses * 200);
        }
        Ok(())
    });
}

#[test]
fn fuzz_search_query() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(async {
        let db = super::fresh_db(&dir).await;
        shops::create(&db, "s1", "Glow Bar", "USD", "America/Denver", 1_000)
            .await
            .unwrap();
        for (i, text) in [
            "how much is the serum?",
            "¿cuánto cuesta la mascarilla?",
            "NEAR the \"quoted\" * OR thing",
            "2 lip tints please 😀",
        ]
        .iter()
        .enumerate()
        {
            let phone = format!("+1512555000{i}");
            conversations::record_message(&db, "s1", &phone, None, Direction::Inbound, text, 10)
                .await
                .unwrap();
        }
        db
    });
    let seeds = vec![
        b"serum".to_vec(),
        b"cuanto mascarilla".to_vec(),
        b"\"serum\" OR NEAR(lip, tint) *".to_vec(),
    ];
    fuzz("search-query", seeds, None, |bytes| {
        let q = text(bytes);
        let hits = rt.block_on(conversations::search(&db, "s1", &q));
        prop_assert!(hits.is_ok(), "{q:?} is an error: {:?}", hits.err());
        prop_assert!(hits.unwrap().len() <= 50);
        Ok(())
    });
    rt.block_on(db.close());
}

/// Rule sets of the right shape with random parts: most get past the shape into the checks
/// and the engine.
fn random_rules() -> BoxedStrategy<Vec<u8>> {
    use crm::{Condition, RuleAction, Source, Trigger};
    let word = || {
        prop_oneof![
            3 => proptest::sample::select(vocab()).prop_map(str::to_string),
            1 => ".{0,30}",
        ]
    };
    let action = prop_oneof![
        word().prop_map(|stage| RuleAction::SetStage { stage }),
        word().prop_map(|tag| RuleAction::AddTag { tag }),
        word().prop_map(|tag| RuleAction::RemoveTag { tag }),
        (
            word(),
            prop::sample::select(vec![Source::Amount, Source::Date, Source::Order])
        )
            .prop_map(|(name, from)| RuleAction::SetField { name, from }),
        word().prop_map(|name| RuleAction::AddToField { name }),
        proptest::collection::vec(word(), 0..4)
            .prop_map(|channels| RuleAction::Notify { channels }),
        word().prop_map(|text| RuleAction::SendMessage { text }),
        word().prop_map(|reason| RuleAction::Handoff { reason }),
    ];
    let condition = (
        proptest::option::of(any::<i64>()),
        proptest::option::of(word()),
        proptest::option::of(word()),
    )
        .prop_map(|(amount_at_least, has_tag, stage_is)| Condition {
            amount_at_least,
            has_tag,
            stage_is,
        });
    let rule = (
        word(),
        prop::sample::select(Trigger::ALL.to_vec()),
        proptest::option::of(condition),
        proptest::collection::vec(action, 0..5),
    )
        .prop_map(|(id, on, when, actions)| Rule {
            id,
            on,
            when,
            actions,
        });
    proptest::collection::vec(rule, 0..5)
        .prop_map(|rules| serde_json::to_vec(&rules).unwrap())
        .boxed()
}

#[test]
fn fuzz_automation_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (db, invoice) = rt.block_on(async {
        let db = super::fresh_db(&dir).await;
        shops::create(&db, "s1", "Glow Bar", "USD", "America/Denver", 1_000)
            .await
            .unwrap();
        let inv = crate::ordered(&db, "s1", &crate::cream_order("+15125550123"), 1_000)
            .await
            .unwrap();
        (db, inv.id)
    });
    let stages: Vec<String> = crm::STAGES.iter().map(|s| s.to_string()).collect();
    let every_action = serde_json::json!([
        {"id": "vip", "on": "payment_succeeded", "if": {"amount_at_least": 20000},
         "actions": [{"do": "add_tag", "tag": "vip"}, {"do": "set_stage", "stage": "Paid"}]},
        {"id": "all", "on": "payment_succeeded", "if": {"has_tag": "vip", "stage_is": "New"},
         "actions": [{"do": "remove_tag", "tag": "new"},
                     {"do": "set_field", "name": "last", "from": "amount"},
                     {"do": "add_to_field", "name": "ltv"},
                     {"do": "notify", "channels": ["desktop", "slack"]},
                     {"do": "send_message", "text": "Thanks {customer}! <!channel>"},
                     {"do": "handoff", "reason": "big order"}]}
    ]);
    let default_rules = serde_json::to_value(crm::default_rules()).unwrap();
    let seeds = vec![
        serde_json::to_vec(&default_rules).unwrap(),
        serde_json::to_vec(&every_action).unwrap(),
    ];
    let shaped = prop_oneof![
        json_shaped(vec![default_rules, every_action]),
        random_rules()
    ]
    .boxed();
    let mut applied = 0u64;
    fuzz("automation-rules", seeds, Some(shaped), |bytes| {
        let Ok(rules) = serde_json::from_slice::<Vec<Rule>>(bytes) else {
            return Ok(());
        };
        if crm::check_rules(&rules, &stages).is_err() {
            return Ok(());
        }
        applied += 1;
        // Rules the owner may save: applying a payment under them never fails or panics.
        let result: Result<(), String> = rt.block_on(async {
            let mut tx = db.begin_immediate().await.map_err(|e| e.to_string())?;
            settings::set_in(
                &mut tx,
                "s1",
                "automations",
                &serde_json::to_string(&rules).unwrap(),
            )
            .await
            .map_err(|e| e.to_string())?;
            let event = events::Event {
                id: 100,
                shop_uid: "s1".into(),
                kind: "invoice.paid".into(),
                payload: serde_json::json!({"invoice_id": invoice}).to_string(),
                provider_id: None,
                created_at: 2_000,
            };
            ziflow_core::projection::apply(&mut tx, &event)
                .await
                .map_err(|e| e.to_string())?;
            tx.rollback().await.map_err(|e| e.to_string())
        });
        prop_assert!(result.is_ok(), "{:?} under {}", result, text(bytes));
        Ok(())
    });
    println!("fuzz automation-rules: {applied} rule sets accepted and applied");
    rt.block_on(db.close());
}
