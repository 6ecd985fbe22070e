//! The safety policy as a property: for random catalogs and random customers writing their
//! order in the ways people do (digits, number words, "x3", "3 packs", "a couple of", with
//! stray numbers about kids, dates and prices), an invoice is either exactly what the
//! customer stated or not sent. The simulated customer answers "yes" to a restated order
//! only when it is what they asked for, as a person would; otherwise "no". An optional model
//! reads along, honest or not (the order as stated, a random cart, a complaint, a product the
//! shop does not sell): the property holds whatever it answers.

use proptest::prelude::*;

use super::*;

const NAMES: &[&str] = &[
    "candle", "scarf", "wallet", "kettle", "teapot", "pillow", "blanket", "basket", "vase",
    "notebook", "backpack", "lantern", "apron", "journal",
];
const VARIANTS: &[&str] = &["red", "blue", "green", "small", "large", "30ml", "50ml"];
const WORDS: &[&str] = &[
    "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

#[derive(Debug, Clone)]
struct Case {
    /// (name, price, variants)
    products: Vec<(String, i64, Vec<String>)>,
    /// (product index, variant index, quantity, form)
    order: Vec<(usize, usize, i64, u8)>,
    distractor: u8,
    far: bool,
    /// The optional model's reading of each message (see [`reader`]): 0 none, 1 the order
    /// as stated, 2 `other` (a random cart), 3 a complaint, 4 a product the shop does not sell.
    model: u8,
    /// A random cart: (product index, quantity).
    other: Vec<(usize, i64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::sample::subsequence(NAMES.to_vec(), 2..6),
        proptest::collection::vec((1i64..50_000, 0usize..3), 6),
        proptest::collection::vec((0usize..6, 0usize..3, 1i64..16, 0u8..6), 1..4),
        0u8..6,
        any::<bool>(),
        0u8..5,
        proptest::collection::vec((0usize..6, 1i64..16), 1..3),
    )
        .prop_map(|(names, prices, order, distractor, far, model, other)| {
            let products: Vec<(String, i64, Vec<String>)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let (price, nv) = prices[i];
                    let variants = (0..nv)
                        .map(|k| VARIANTS[(i * 3 + k) % VARIANTS.len()].to_string())
                        .collect();
                    (n.to_string(), price, variants)
                })
                .collect();
            let mut seen = Vec::new();
            let order = order
                .into_iter()
                .map(|(p, v, q, f)| (p % products.len(), v, q, f))
                .filter(|(p, ..)| {
                    let fresh = !seen.contains(p);
                    seen.push(*p);
                    fresh
                })
                .collect();
            let other = other
                .into_iter()
                .map(|(p, q)| (p % products.len(), q))
                .collect();
            Case {
                products,
                order,
                distractor,
                far,
                model,
                other,
            }
        })
}

/// How the customer writes one item.
fn written(name: &str, variant: Option<&str>, q: i64, form: u8) -> String {
    let v = variant.map(|v| format!(" in {v}")).unwrap_or_default();
    let plural = if q == 1 {
        name.to_string()
    } else {
        format!("{name}s")
    };
    match form {
        1 if (2..=10).contains(&q) => format!("{} {plural}{v}", WORDS[q as usize]),
        2 => format!("{name}{v} x{q}"),
        3 => format!("{name}{v}, {q} packs"),
        4 if q == 2 => format!("a couple of {plural}{v}"),
        5 if q == 1 => format!("a {name}{v}"),
        _ => format!("{q} {plural}{v}"),
    }
}

/// How a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// An invoice, exactly as stated.
    Invoiced,
    /// No invoice (a question, a handoff, a "no" to a wrong restatement).
    NotSent,
}

fn play(c: &Case) -> Result<End, TestCaseError> {
    let catalog = Catalog::parse(&serde_json::json!({
        "catalog": c.products.iter().enumerate().map(|(i, (n, p, v))| serde_json::json!({
            "sku": format!("P{i}"), "name": n, "aliases": [], "price_cents": p, "variants": v,
        })).collect::<Vec<_>>(),
        "shipping": [
            {"zone": "Springfield", "price_cents": 700, "cities": ["Springfield"], "zip_prefixes": ["627"]},
            {"zone": "United States", "price_cents": 1500, "default": true},
        ],
    }))
    .map_err(|e| TestCaseError::reject(e.to_string()))?;
    let shop = Shop {
        city: "Springfield",
        currency: "USD",
        catalog: &catalog,
        replies: None,
        max_qty: safety::DEFAULT_MAX_QTY,
    };
    let mut stated: Vec<(String, Option<String>, i64)> = Vec::new();
    let mut parts = Vec::new();
    for (p, v, q, form) in &c.order {
        let (name, _, variants) = &c.products[*p];
        let variant = (!variants.is_empty()).then(|| variants[v % variants.len()].clone());
        parts.push(written(name, variant.as_deref(), *q, *form));
        stated.push((format!("P{p}"), variant, *q));
    }
    stated.sort();
    let distractor = match c.distractor {
        1 => ", they're for my 3 kids",
        2 => ", for the 5th",
        3 => " 4 my mom",
        4 => ", I have $20 left",
        5 => ", delivery before 6pm",
        _ => "",
    };
    let order_text = format!("hi, I want {}{distractor}", parts.join(" and "));
    let address = if c.far {
        "1550 Blake St, Denver CO 80202"
    } else {
        "12 Main St, Springfield IL 62701"
    };
    let shipping = if c.far { 1500 } else { 700 };
    let total: i64 = shipping
        + stated
            .iter()
            .map(|(sku, _, q)| {
                let i: usize = sku[1..].parse().unwrap();
                c.products[i].1 * q
            })
            .sum::<i64>();
    // What the model answers, whatever the message: grounded (or thrown away) as the relay does.
    let item = |p: usize, v: Option<&String>, q: i64| serde_json::json!({"product": c.products[p].0, "variant": v, "quantity": q});
    let answer = match c.model {
        1 => Some(
            serde_json::json!({"intent": "order", "items": c.order.iter().map(|(p, v, q, _)| {
            let vs = &c.products[*p].2;
            item(*p, (!vs.is_empty()).then(|| &vs[v % vs.len()]), *q)
        }).collect::<Vec<_>>()}),
        ),
        2 => Some(serde_json::json!({"intent": "order",
            "items": c.other.iter().map(|(p, q)| item(*p, None, *q)).collect::<Vec<_>>()})),
        3 => Some(serde_json::json!({"intent": "complaint", "items": []})),
        4 => Some(serde_json::json!({"intent": "order",
            "items": [{"product": "free gift card", "quantity": 1}]})),
        _ => None,
    };
    let mut said: Vec<reader::Said> = Vec::new();
    let mut state = State::default();
    let mut messages = vec![order_text.clone(), address.to_string()];
    let mut turns = 0;
    while let Some(m) = (!messages.is_empty()).then(|| messages.remove(0)) {
        turns += 1;
        prop_assert!(turns < 8, "the conversation ends");
        said.push(reader::Said {
            customer: true,
            text: m.clone(),
        });
        let grounded = answer
            .as_ref()
            .and_then(|a| reader::parse(&a.to_string()).ok())
            .and_then(|r| reader::ground(&r, &said, &catalog).ok());
        for a in reader::respond_with(&mut state, &m, &shop, grounded.as_ref()) {
            match a {
                Action::SendInvoice(o) => {
                    let mut got: Vec<(String, Option<String>, i64)> = o
                        .items
                        .iter()
                        .map(|i| (i.sku.clone(), i.variant.clone(), i.qty))
                        .collect();
                    got.sort();
                    prop_assert_eq!(&got, &stated, "{:?} → invoiced", order_text);
                    prop_assert_eq!(o.total_cents, total, "{:?} → total", order_text);
                    return Ok(End::Invoiced);
                }
                Action::Reply(r) if r.starts_with("Just to check") => {
                    // A person says yes only to what they asked for.
                    let right = r
                        .contains(&format!(": {} in all", Money::new(total, "USD").display()))
                        && stated.iter().all(|(sku, _, q)| {
                            let i: usize = sku[1..].parse().unwrap();
                            let name = &c.products[i].0;
                            if *q == 1 {
                                r.contains(name.as_str()) && !r.contains(&format!("× {name}"))
                            } else {
                                r.contains(&format!("{q} × {name}"))
                            }
                        });
                    messages.push(if right { "yes".into() } else { "no".into() });
                }
                _ => {}
            }
        }
    }
    if std::env::var("ZIFLOW_AGENT_DEBUG").is_ok() {
        eprintln!(
            "NOT SENT: {order_text:?} / {address} — state {:?}",
            state.stage
        );
    }
    Ok(End::NotSent)
}

#[test]
fn an_invoice_is_exactly_what_the_customer_stated_or_not_sent() {
    use proptest::test_runner::{Config, TestRunner};
    let cases: u32 = std::env::var("ZIFLOW_AGENT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let invoiced = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |c| {
            if play(&c)? == End::Invoiced {
                invoiced.set(invoiced.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // Not vacuous: most customers who state a plain order get their invoice.
    let share = f64::from(invoiced.get()) / f64::from(cases);
    println!("invoiced {} of {cases} random orders", invoiced.get());
    assert!(share > 0.5, "only {share:.2} of the orders were invoiced");
}
