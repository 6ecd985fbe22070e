//! Owner-run bot tests: a conversation the owner marked as a test, with the ending it must
//! have — an invoice of exactly these items and this total ("2 × Ceramic mug (white) + $5
//! shipping = $41"), a handoff to a person, or no invoice at all. The tests are played
//! through [`super::respond`] with the shop's current catalog, replies and scenario
//! ([`Setup`]: prices, the quantity limit, auto-invoice), so a change to any of them shows
//! which tests it would break *before* it is saved ([`changes`]); `ziflow-relay agent test
//! --uid UID` runs them all. A new version of the agent plays every test again wherever they
//! are shown. Reply wordings change words, never an ending. The optional model reader is not
//! played: a test pins what the deterministic agent does, which is also what the shop gets
//! whenever the model is off, slow or thrown away.
//!
//! Playing a test is pure and offline: no event is recorded, no message sent, no link made.

use crate::storage::Conn;
use serde::{Deserialize, Serialize};

use super::setup::Setup;
use super::{respond, Action, Shop, State};
use ziflow_protocol::Money;

/// A saved bot test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTest {
    /// Its id in the shop's log (`agent_test.saved`).
    pub id: i64,
    /// What the owner called it ("two white mugs to Doral").
    pub name: String,
    /// The customer's messages, in order.
    pub messages: Vec<String>,
    /// The ending the conversation must have.
    pub expect: Ending,
}

/// How a conversation ends, as far as money goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ending", rename_all = "snake_case")]
pub enum Ending {
    /// The bot sends an invoice of exactly these items and this total (minor units).
    Invoice {
        /// Items, in any order.
        items: Vec<Item>,
        /// Goods plus shipping (or the deposit), minor units of the shop's currency.
        total_minor: i64,
    },
    /// The bot hands the conversation to a person (and sends no invoice).
    Handoff,
    /// Neither an invoice nor a handoff (a price question, a greeting, a question back).
    NoInvoice,
}

/// One invoiced line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Item {
    /// The product.
    pub sku: String,
    /// Its variant, if it has any.
    pub variant: Option<String>,
    /// How many.
    pub qty: i64,
}

impl Ending {
    /// The ending in words for the owner: "2 × Ceramic mug (white) — $41 in all",
    /// "hands off to a person", "no invoice".
    pub fn describe(&self, shop: &Shop<'_>) -> String {
        match self {
            Self::Invoice { items, total_minor } => {
                let lines: Vec<String> = items
                    .iter()
                    .map(|i| {
                        let name = shop
                            .catalog
                            .catalog
                            .iter()
                            .find(|p| p.sku == i.sku)
                            .map_or(i.sku.as_str(), |p| p.name.as_str());
                        let variant = i
                            .variant
                            .as_ref()
                            .map(|v| format!(" ({v})"))
                            .unwrap_or_default();
                        if i.qty == 1 {
                            format!("{name}{variant}")
                        } else {
                            format!("{} × {name}{variant}", i.qty)
                        }
                    })
                    .collect();
                format!(
                    "invoice: {} — {} in all",
                    lines.join(", "),
                    Money::new(*total_minor, shop.currency).display()
                )
            }
            Self::Handoff => "hands off to a person".into(),
            Self::NoInvoice => "no invoice".into(),
        }
    }

    fn normalized(&self) -> Self {
        match self {
            Self::Invoice { items, total_minor } => {
                let mut items = items.clone();
                items.sort();
                Self::Invoice {
                    items,
                    total_minor: *total_minor,
                }
            }
            other => other.clone(),
        }
    }
}

/// The shop's saved tests, oldest first (from `agent_tests`).
pub async fn load_in(conn: &mut Conn, shop: &str) -> crate::Result<Vec<BotTest>> {
    crate::storage::agent_tests::list_in(conn, shop)
        .await?
        .into_iter()
        .map(|row| {
            let bad = |e: serde_json::Error| {
                crate::Error::InvalidInput(format!("bot test {}: {e}", row.id))
            };
            Ok(BotTest {
                id: row.id,
                messages: serde_json::from_str(&row.messages).map_err(bad)?,
                expect: serde_json::from_str(&row.expect).map_err(bad)?,
                name: row.name,
            })
        })
        .collect()
}

/// Plays `messages` as a new customer of `shop`; returns the ending and the bot's replies.
pub fn play(setup: &Setup, messages: &[String]) -> (Ending, Vec<String>) {
    let shop = &setup.shop();
    let mut state = State::default();
    let mut replies = Vec::new();
    let mut ending = Ending::NoInvoice;
    for m in messages {
        for action in respond(&mut state, m, shop) {
            match action {
                Action::Reply(r) => replies.push(r),
                // Auto-invoice off: the ready order goes to a person.
                Action::SendInvoice(_) if !setup.auto_invoice => ending = Ending::Handoff,
                Action::SendInvoice(order) => {
                    ending = Ending::Invoice {
                        items: order
                            .items
                            .iter()
                            .map(|i| Item {
                                sku: i.sku.clone(),
                                variant: i.variant.clone(),
                                qty: i.qty,
                            })
                            .collect(),
                        total_minor: order.total_cents,
                    }
                    .normalized();
                }
                Action::Handoff { .. } => {
                    if !matches!(ending, Ending::Invoice { .. }) {
                        ending = Ending::Handoff;
                    }
                }
                Action::OptOut => {}
            }
        }
    }
    (ending, replies)
}

/// A test's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The test's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether the conversation ended as it must.
    pub passed: bool,
    /// What it must end in, in words.
    pub expected: String,
    /// What it ended in, in words.
    pub got: String,
}

/// Plays `test` with the shop's `setup`.
pub fn run(setup: &Setup, test: &BotTest) -> Run {
    let shop = &setup.shop();
    let (got, _) = play(setup, &test.messages);
    Run {
        id: test.id,
        name: test.name.clone(),
        passed: got == test.expect.normalized(),
        expected: test.expect.describe(shop),
        got: got.describe(shop),
    }
}

/// Plays every test with the shop's `setup`.
pub fn run_all(setup: &Setup, tests: &[BotTest]) -> Vec<Run> {
    tests.iter().map(|t| run(setup, t)).collect()
}

/// A test whose ending a change would alter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The test.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// What it must end in.
    pub expected: String,
    /// What it ends in now.
    pub now: String,
    /// What it would end in after the change.
    pub after: String,
    /// Whether it passes after the change.
    pub passes_after: bool,
}

/// The tests whose ending differs between the shop as it is (`now`) and as a change would
/// make it (`after`) — shown to the owner before the change is saved.
pub fn changes(tests: &[BotTest], now: &Setup, after: &Setup) -> Vec<Change> {
    tests
        .iter()
        .filter_map(|t| {
            let (before, _) = play(now, &t.messages);
            let (then, _) = play(after, &t.messages);
            (before != then).then(|| Change {
                id: t.id,
                name: t.name.clone(),
                expected: t.expect.describe(&after.shop()),
                now: before.describe(&now.shop()),
                after: then.describe(&after.shop()),
                passes_after: then == t.expect.normalized(),
            })
        })
        .collect()
}

/// Checks a test before it is saved: a name, 1 to 50 messages of at most 2,000 characters,
/// and an invoice ending with at least one item, quantities of at least one and a total
/// that is not negative.
pub fn validate(name: &str, messages: &[String], expect: &Ending) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > 120 {
        return Err("a bot test needs a name of 1 to 120 characters".into());
    }
    if messages.is_empty() || messages.len() > 50 {
        return Err("a bot test has 1 to 50 customer messages".into());
    }
    if messages.iter().any(|m| m.chars().count() > 2_000) {
        return Err("a customer message of a bot test is at most 2,000 characters".into());
    }
    if let Ending::Invoice { items, total_minor } = expect {
        if items.is_empty() || items.len() > 50 {
            return Err("an invoice ending names 1 to 50 items".into());
        }
        if items.iter().any(|i| i.qty < 1 || i.sku.trim().is_empty()) {
            return Err(
                "every item of an invoice ending has a product and a quantity of at least 1".into(),
            );
        }
        if *total_minor < 0 {
            return Err("an invoice ending's total cannot be negative".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn catalog(price: i64) -> Catalog {
        Catalog::parse(&serde_json::json!({
            "catalog": [
                {"sku": "MUG", "name": "Ceramic mug", "aliases": ["mug"], "price_cents": price,
                 "variants": ["white", "black"]},
                {"sku": "TEA", "name": "Hibiscus tea", "aliases": ["hibiscus"], "price_cents": 1125,
                 "variants": []}
            ],
            "shipping": [
                {"zone": "Miami", "price_cents": 500, "cities": ["Miami"], "zip_prefixes": ["331"]},
                {"zone": "United States", "price_cents": 1295, "default": true}
            ]
        }))
        .unwrap()
    }

    fn shop(catalog: &Catalog) -> Setup {
        Setup {
            catalog: catalog.clone(),
            currency: "USD".into(),
            city: "Miami".into(),
            replies: Default::default(),
            max_qty: super::super::safety::DEFAULT_MAX_QTY,
            auto_invoice: true,
        }
    }

    fn two_mugs() -> BotTest {
        BotTest {
            id: 7,
            name: "two white mugs to Miami".into(),
            messages: vec![
                "2 white ceramic mugs please".into(),
                "88 SW 7th St, Miami, FL 33130".into(),
            ],
            expect: Ending::Invoice {
                items: vec![Item {
                    sku: "MUG".into(),
                    variant: Some("white".into()),
                    qty: 2,
                }],
                total_minor: 4100,
            },
        }
    }

    #[test]
    fn a_test_passes_with_its_shop_and_a_price_change_shows_before_it_is_saved() {
        let now = catalog(1800);
        let run = run(&shop(&now), &two_mugs());
        assert!(run.passed, "{run:?}");
        assert_eq!(
            run.got, "invoice: 2 × Ceramic mug (white) — $41 in all",
            "{run:?}"
        );
        let dearer = catalog(2000);
        let changed = changes(&[two_mugs()], &shop(&now), &shop(&dearer));
        assert_eq!(changed.len(), 1);
        assert!(!changed[0].passes_after);
        assert_eq!(
            changed[0].after,
            "invoice: 2 × Ceramic mug (white) — $45 in all"
        );
        // A change that leaves the ending alone lists nothing.
        let same = catalog(1800);
        assert!(changes(&[two_mugs()], &shop(&now), &shop(&same)).is_empty());
    }

    #[test]
    fn a_scenario_change_shows_the_tests_it_would_change() {
        let c = catalog(1800);
        let now = shop(&c);
        // Auto-invoice off: the ready order goes to a person.
        let manual = Setup {
            auto_invoice: false,
            ..shop(&c)
        };
        let changed = changes(&[two_mugs()], &now, &manual);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].after, "hands off to a person");
        assert!(!changed[0].passes_after);
        // A quantity limit of 1: the two mugs are restated and asked about first.
        let careful = Setup {
            max_qty: 1,
            ..shop(&c)
        };
        let changed = changes(&[two_mugs()], &now, &careful);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].after, "no invoice");
    }

    #[test]
    fn a_handoff_test_fails_when_the_bot_sells_instead() {
        let c = catalog(1800);
        let test = BotTest {
            id: 1,
            name: "complaint".into(),
            messages: vec!["my mug arrived broken, I want a refund".into()],
            expect: Ending::Handoff,
        };
        assert!(run(&shop(&c), &test).passed);
        let wrong = BotTest {
            expect: Ending::NoInvoice,
            ..test
        };
        let r = run(&shop(&c), &wrong);
        assert!(!r.passed);
        assert_eq!(r.got, "hands off to a person");
    }

    #[test]
    fn a_test_is_checked_before_it_is_saved() {
        let ok = two_mugs();
        assert!(validate(&ok.name, &ok.messages, &ok.expect).is_ok());
        assert!(validate(" ", &ok.messages, &ok.expect).is_err());
        assert!(validate("x", &[], &ok.expect).is_err());
        let zero = Ending::Invoice {
            items: vec![Item {
                sku: "MUG".into(),
                variant: None,
                qty: 0,
            }],
            total_minor: 0,
        };
        assert!(validate("x", &ok.messages, &zero).is_err());
    }
}
