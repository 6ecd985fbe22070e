//! The sales agent: reads each customer message of a conversation and decides what the shop
//! answers — a price quote, a question for what is missing (a variant, the address), an
//! invoice with a pay link, or a person from the team. Offline and deterministic: the same
//! conversation always gets the same answers.
//!
//! Invariants: items, prices and totals come only from the catalog and the shipping zones;
//! the agent never invents a product or an amount, and when it cannot place a message it
//! hands off instead of guessing. Once handed off (or after STOP) it stays quiet.

pub mod bottests;
pub mod phrase;
pub mod reader;
pub mod run;
pub mod setup;
pub mod text;
pub mod wording;

use serde::{Deserialize, Serialize};
use ziflow_protocol::Money;

use crate::catalog::{Catalog, Product};
use text::{find_address, fold, place_of, quantity, same_word, words, Place};

/// The conversation's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Spanish.
    Es,
}

/// A line of the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Catalog sku.
    pub sku: String,
    /// Chosen variant (`None` until chosen, or for products without variants).
    pub variant: Option<String>,
    /// Quantity.
    pub qty: i64,
}

/// Where the conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Stage {
    /// Nothing in progress.
    #[default]
    Open,
    /// Prices were quoted; the customer has not ordered.
    Quoted,
    /// The customer is ordering; something may still be missing.
    Ordering,
    /// A service booking waits for the customer's yes.
    Booking,
    /// The order was restated ("Just to check — …") and waits for the customer's yes.
    Confirming,
    /// The invoice went out.
    Invoiced,
    /// A person took over; the agent is quiet.
    HandedOff,
    /// The customer wrote STOP; quiet until they write again.
    OptedOut,
}

/// What the agent remembers of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct State {
    /// Language, once known.
    pub lang: Option<Lang>,
    /// Stage.
    pub stage: Stage,
    /// The cart.
    pub lines: Vec<Line>,
    /// The product talked about last.
    pub focus: Option<String>,
    /// The delivery address, once given.
    pub address: Option<String>,
    /// Its city, state and ZIP.
    pub city: Option<String>,
    /// USPS state code.
    pub state: Option<String>,
    /// 5-digit ZIP.
    pub zip: Option<String>,
    /// A booking's "when", as the customer said it.
    pub booking_when: Option<String>,
    /// Numbers of this order the reader could not place (see [`safety`]): the bot restates
    /// the order and asks before invoicing.
    #[serde(default)]
    pub doubts: Vec<String>,
}

/// An order the agent sends an invoice for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Items priced from the catalog.
    pub items: Vec<OrderItem>,
    /// Shipping from the zone table (0 for bookings).
    pub shipping_cents: i64,
    /// Items plus shipping.
    pub total_cents: i64,
    /// Delivery address.
    pub address: Option<String>,
    /// A service deposit rather than goods.
    pub deposit: bool,
}

/// One priced item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Sku.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Variant.
    pub variant: Option<String>,
    /// Quantity.
    pub qty: i64,
    /// Unit price (the deposit, for a booking).
    pub unit_cents: i64,
}

/// What the shop does in answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A text message.
    Reply(String),
    /// Create and send the invoice for this order (its message carries the pay link).
    SendInvoice(Order),
    /// Call a person in; the agent stops talking.
    Handoff {
        /// Why, for the handoff queue.
        reason: String,
    },
    /// The customer wrote STOP: nothing more from the bot (or reminders) until they write.
    OptOut,
}

/// The shop as the agent sees it.
#[derive(Debug, Clone, Copy)]
pub struct Shop<'a> {
    /// The local city (the first zone's), for "Shipping within Denver is $6".
    pub city: &'a str,
    /// ISO 4217.
    pub currency: &'a str,
    /// Products and zones.
    pub catalog: &'a Catalog,
    /// The shop's own wording of replies (built-in texts when `None` or not overridden).
    pub replies: Option<&'a Replies>,
    /// Above this quantity of one item the bot checks with the customer before invoicing.
    pub max_qty: i64,
}

/// Reads one customer message and returns what the shop answers, updating `state`.
pub fn respond(state: &mut State, message: &str, shop: &Shop<'_>) -> Vec<Action> {
    let folded = fold(message);
    let all_words = words(message);
    if let Some(lang) = detect_lang(&folded, &all_words) {
        state.lang = Some(lang);
    }
    let lang = state.lang.unwrap_or_default();
    let says = |p: &[&str]| has_phrase(&all_words, p);

    if all_words.len() <= 2 && says(&["stop", "baja", "alto", "unsubscribe", "stop messages"]) {
        state.stage = Stage::OptedOut;
        return vec![Action::OptOut];
    }
    match state.stage {
        Stage::HandedOff => return Vec::new(),
        // Writing again after STOP opts back in.
        Stage::OptedOut => state.stage = Stage::Open,
        _ => {}
    }
    if let Some(reason) = handoff_reason(&all_words) {
        state.stage = Stage::HandedOff;
        return vec![
            Action::Reply(reply(shop, lang, Reply::Handoff)),
            Action::Handoff { reason },
        ];
    }

    // An address first, so its numbers are not read as quantities.
    let (place, rest) = match find_address(message) {
        Some((place, before)) => (Some(place), before),
        None => (None, message.to_string()),
    };
    let w = safety::normalize(words(&rest));
    let mentions = find_mentions(&w, shop.catalog, shop.currency);
    let confirming = state.stage == Stage::Confirming;
    let cancel = has_phrase(
        &w,
        &[
            "cancel",
            "never mind",
            "nevermind",
            "no thanks",
            "no thank you",
            "too expensive",
            "not now",
            "forget it",
            "cancelar",
            "cancela",
            "ya no",
            "no gracias",
            "muy caro",
        ],
    ) || (w.len() <= 2 && has_phrase(&w, &["no", "nope", "nah"]));
    let confirm = has_phrase(
        &w,
        &[
            "yes",
            "yeah",
            "yep",
            "yup",
            "sure",
            "ok",
            "okay",
            "perfect",
            "sounds good",
            "great",
            "please",
            "si",
            "claro",
            "dale",
            "perfecto",
            "la quiero",
            "lo quiero",
            "of course",
            "go ahead",
            "let's do it",
            "i'll take",
            "ill take",
            "i will take",
            "correct",
            "that's right",
            "thats right",
            "exactly",
            "correcto",
            "exacto",
            "eso es",
            "asi es",
        ],
    );
    let order_words = has_phrase(
        &w,
        &[
            "i want",
            "i'd like",
            "id like",
            "i would like",
            "i'll take",
            "ill take",
            "i will take",
            "i'll have",
            "buy",
            "order",
            "please",
            "send me",
            "get me",
            "quiero",
            "me llevo",
            "quisiera",
            "dame",
            "mandame",
        ],
    );
    let question = folded.contains('?')
        || has_phrase(
            &w,
            &[
                "how much",
                "price",
                "cost",
                "do you have",
                "do you sell",
                "is there",
                "cuanto",
                "precio",
                "cuesta",
                "tienen",
                "venden",
                "hay",
            ],
        );
    let booking = has_phrase(
        &w,
        &[
            "book",
            "appointment",
            "reserve",
            "schedule",
            "cita",
            "reservar",
            "agendar",
        ],
    );
    let shipping_q = has_phrase(&w, &["shipping", "delivery", "deliver", "envio", "enviar"]);
    let greeting = has_phrase(
        &w,
        &[
            "hi",
            "hello",
            "hey",
            "hola",
            "buenas",
            "good morning",
            "good afternoon",
            "buenos dias",
        ],
    );
    let thanks = has_phrase(&w, &["thanks", "thank you", "gracias", "thx"]);

    // "remove the filters", "no concentrate", "sin los filtros": those lines go, not the cart.
    let removed: Vec<usize> = mentions
        .iter()
        .enumerate()
        .filter(|(_, m)| removal_before(&w, m.start))
        .map(|(i, _)| i)
        .collect();
    if confirming && w.len() <= 2 && has_phrase(&w, &["no", "nope", "nah"]) {
        state.stage = Stage::Ordering;
        return vec![Action::Reply(reply(shop, lang, Reply::WhatToChange))];
    }
    if cancel && removed.is_empty() && !state.lines.is_empty() && state.stage != Stage::Invoiced {
        state.lines.clear();
        state.doubts.clear();
        state.focus = None;
        state.stage = Stage::Open;
        return vec![Action::Reply(reply(shop, lang, Reply::Cancelled))];
    }
    if !removed.is_empty() && state.lines.is_empty() {
        state.stage = Stage::Open;
        state.doubts.clear();
        return vec![Action::Reply(reply(shop, lang, Reply::Cancelled))];
    }
    if cancel && mentions.is_empty() && place.is_none() {
        state.stage = Stage::Open;
        return vec![Action::Reply(reply(shop, lang, Reply::Cancelled))];
    }

    // A new order after an invoice starts a new cart.
    if state.stage == Stage::Invoiced && !mentions.is_empty() {
        state.lines.clear();
        state.doubts.clear();
        state.stage = Stage::Open;
    }
    // Indices of `w` the reader took a quantity from.
    let mut used: Vec<usize> = Vec::new();
    // Prices of several products were asked; the order names some: the cart is those.
    if state.stage == Stage::Quoted && order_words && removed.is_empty() && !mentions.is_empty() {
        let named: Vec<&str> = mentions
            .iter()
            .map(|m| shop.catalog.catalog[m.product].sku.as_str())
            .collect();
        state.lines.retain(|l| named.contains(&l.sku.as_str()));
    }
    // A bare yes after several products were quoted: which of them? The order is restated.
    if state.stage == Stage::Quoted && confirm && mentions.is_empty() && state.lines.len() > 1 {
        let d = "yes to several quoted products".to_string();
        if !state.doubts.contains(&d) {
            state.doubts.push(d);
        }
    }

    // "I meant chamomile, not hibiscus", "la manzanilla en vez de la jamaica": the product
    // named in place of the one taken out keeps its quantity, unless one is said.
    let substitution = has_phrase(
        &w,
        &[
            "meant",
            "instead",
            "not",
            "swap",
            "switch",
            "quise decir",
            "en vez",
            "en lugar",
            "cambia",
            "cambialo",
            "cambiar",
        ],
    );
    let replaced_qty = match removed.as_slice() {
        [n] if substitution => {
            let sku = &shop.catalog.catalog[mentions[*n].product].sku;
            state.lines.iter().find(|l| &l.sku == sku).map(|l| l.qty)
        }
        _ => None,
    };
    let mut understood = false;
    for (n, m) in mentions.iter().enumerate() {
        understood = true;
        used.extend(m.qty_at);
        if removed.contains(&n) {
            let sku = &shop.catalog.catalog[m.product].sku;
            state.lines.retain(|l| &l.sku != sku);
            if state.focus.as_ref() == Some(sku) {
                state.focus = None;
            }
            continue;
        }
        let product = &shop.catalog.catalog[m.product];
        state.focus = Some(product.sku.clone());
        match state.lines.iter_mut().find(|l| l.sku == product.sku) {
            Some(line) => {
                if let Some(q) = m.qty {
                    line.qty = q;
                }
                if m.variant.is_some() {
                    line.variant.clone_from(&m.variant);
                }
            }
            None => state.lines.push(Line {
                sku: product.sku.clone(),
                variant: m.variant.clone(),
                qty: m.qty.or(replaced_qty).unwrap_or(1),
            }),
        }
    }
    // Words about the product already in focus: "50ml", "make it 2", "I'll take two".
    if mentions.is_empty() {
        if let Some(line) = focus_line(state, shop.catalog) {
            let product = product_of(shop.catalog, &state.lines[line].sku);
            if let Some(v) = product.and_then(|p| variant_in(&w, p)) {
                state.lines[line].variant = Some(v);
                understood = true;
            }
            if let Some((q, at)) = loose_quantity(&w) {
                state.lines[line].qty = q;
                used.extend(at);
                understood = true;
            }
        }
    }
    // "the class for 2 people", "para dos personas": how many places a service is for.
    if let Some((q, at)) = people_count(&w) {
        if let Some(line) = state
            .lines
            .iter_mut()
            .find(|l| product_of(shop.catalog, &l.sku).is_some_and(|p| p.service))
        {
            line.qty = q;
            used.push(at);
            understood = true;
        }
    }
    if let Some(p) = &place {
        if !state.lines.is_empty() || state.stage == Stage::Ordering {
            state.address.clone_from(&p.address);
            state.city.clone_from(&p.city);
            state.state.clone_from(&p.state);
            state.zip.clone_from(&p.zip);
            understood = true;
        }
    }

    // Every number of the message is placed, or the order gets a doubt (see `safety`).
    // Restating a quantity of the cart ("yes 15") places it.
    if !state.lines.is_empty() {
        let qtys: Vec<i64> = state.lines.iter().map(|l| l.qty).collect();
        for (i, t) in w.iter().enumerate() {
            if text::quantity(t).is_some_and(|q| qtys.contains(&q)) && (confirming || confirm) {
                used.push(i);
            }
        }
        for d in safety::unplaced(&w, &used, shop.catalog, shop.currency) {
            if !state.doubts.contains(&d) {
                state.doubts.push(d);
            }
        }
        // A variant of a product that is not in the order ("a black mug n a pack of filters"
        // read as filters only): that product was missed, so the order is asked about.
        for p in &shop.catalog.catalog {
            if state.lines.iter().any(|l| l.sku == p.sku) {
                continue;
            }
            let theirs = variants_in(&w, p).into_iter().any(|v| {
                !state.lines.iter().any(|l| {
                    product_of(shop.catalog, &l.sku).is_some_and(|q| q.variants.contains(&v))
                })
            });
            if theirs {
                let d = format!("a variant of {}", p.name);
                if !state.doubts.contains(&d) {
                    state.doubts.push(d);
                }
            }
        }
        // "three mugs, one white, one black and one terracotta": one line per product here,
        // so several variants of a product named at once are never settled on one of them.
        for line in &state.lines {
            let Some(product) = product_of(shop.catalog, &line.sku) else {
                continue;
            };
            // A variant that is another line's ("cubano ground, colombian whole bean") is that
            // line's.
            let named: Vec<String> = variants_in(&w, product)
                .into_iter()
                .filter(|v| {
                    !state
                        .lines
                        .iter()
                        .any(|o| o.sku != line.sku && o.variant.as_ref() == Some(v))
                })
                .collect();
            if named.len() > 1 {
                let d = format!("several variants of {}", product.name);
                if !state.doubts.contains(&d) {
                    state.doubts.push(d);
                }
            }
        }
        // A price the customer named must be one of the cart's.
        for t in w.iter().filter(|t| t.starts_with('$')) {
            let cents = Money::parse(&t[1..], shop.currency);
            let in_cart = state.lines.iter().any(|l| {
                product_of(shop.catalog, &l.sku).is_some_and(|p| Some(p.price_cents) == cents)
            });
            if !in_cart && !state.doubts.contains(t) {
                state.doubts.push(t.clone());
            }
        }
    }
    let confirmed = confirming && confirm && mentions.is_empty() && !understood_change(&w, state);

    let service_in_cart = state
        .lines
        .iter()
        .any(|l| product_of(shop.catalog, &l.sku).is_some_and(|p| p.service));
    if service_in_cart && (booking || state.stage == Stage::Booking || !mentions.is_empty()) {
        return booking_step(state, shop, lang, &rest, confirm, &mentions);
    }

    if !state.lines.is_empty() {
        let ordering = state.stage == Stage::Ordering
            || order_words
            || (confirm && state.stage == Stage::Quoted)
            || (!mentions.is_empty() && !question)
            || (place.is_some() && state.stage == Stage::Quoted)
            || (understood && mentions.is_empty() && state.stage == Stage::Quoted && !question);
        let ordering = ordering || confirming;
        if ordering {
            state.stage = Stage::Ordering;
            return order_step(state, shop, lang, confirmed);
        }
        if !mentions.is_empty() || understood {
            state.stage = Stage::Quoted;
            return vec![Action::Reply(quote(state, shop, lang))];
        }
    }

    if shipping_q {
        let place = place
            .clone()
            .or_else(|| after_to(&rest).map(|t| place_of(&t)))
            .unwrap_or_default();
        return vec![Action::Reply(shipping_quote(&place, shop, lang))];
    }
    if mentions.is_empty() && question && asks_for_product(&w) {
        return vec![Action::Reply(reply_with(
            shop,
            lang,
            Reply::NotCarried,
            &[(
                "list",
                shop.catalog
                    .catalog
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
        ))];
    }
    if thanks {
        return vec![Action::Reply(reply(shop, lang, Reply::Thanks))];
    }
    if greeting {
        return vec![Action::Reply(reply(shop, lang, Reply::Greeting))];
    }
    if confirm && state.stage == Stage::Invoiced {
        return vec![Action::Reply(reply(shop, lang, Reply::Thanks))];
    }
    // Nothing it can place: a person answers rather than a guess.
    state.stage = Stage::HandedOff;
    vec![
        Action::Reply(reply(shop, lang, Reply::Handoff)),
        Action::Handoff {
            reason: format!("{UNPLACED}: {message}"),
        },
    ]
}

/// How the reason of a handoff for a message nothing could place begins.
const UNPLACED: &str = "the bot could not place";

/// The line that words without a product name refer to: one still missing its variant,
/// else the product in focus, else the only line.
fn focus_line(state: &State, catalog: &Catalog) -> Option<usize> {
    state
        .lines
        .iter()
        .position(|l| {
            l.variant.is_none()
                && product_of(catalog, &l.sku).is_some_and(|p| !p.variants.is_empty())
        })
        .or_else(|| {
            let focus = state.focus.as_ref()?;
            state.lines.iter().position(|l| &l.sku == focus)
        })
        .or_else(|| (state.lines.len() == 1).then_some(0))
}

fn product_of<'c>(catalog: &'c Catalog, sku: &str) -> Option<&'c Product> {
    catalog.catalog.iter().find(|p| p.sku == sku)
}

/// Next step of an order: ask for a variant, then the address, then send the invoice.
fn order_step(state: &mut State, shop: &Shop<'_>, lang: Lang, confirmed: bool) -> Vec<Action> {
    for line in &state.lines {
        let Some(p) = product_of(shop.catalog, &line.sku) else {
            continue;
        };
        if line.variant.is_none() && !p.variants.is_empty() {
            return vec![Action::Reply(reply_with(
                shop,
                lang,
                Reply::WhichVariant,
                &[
                    ("name", p.name.clone()),
                    ("variants", join_or(&p.variants, lang)),
                ],
            ))];
        }
    }
    if state.address.is_none() {
        return vec![Action::Reply(reply_with(
            shop,
            lang,
            Reply::AskAddress,
            &[("summary", summary(state, shop))],
        ))];
    }
    let place = Place {
        address: state.address.clone(),
        city: state.city.clone(),
        state: state.state.clone(),
        zip: state.zip.clone(),
    };
    let Some((_, shipping)) = zone_for(&place, shop.catalog) else {
        return handoff(state, shop, lang, "no shipping zone covers the address");
    };
    let items: Vec<OrderItem> = state
        .lines
        .iter()
        .filter_map(|l| {
            let p = product_of(shop.catalog, &l.sku)?;
            Some(OrderItem {
                sku: p.sku.clone(),
                name: p.name.clone(),
                variant: l.variant.clone(),
                qty: l.qty,
                unit_cents: p.price_cents,
            })
        })
        .collect();
    let Some(total) = items.iter().try_fold(shipping, |acc, i| {
        acc.checked_add(i.unit_cents.checked_mul(i.qty)?)
    }) else {
        return handoff(state, shop, lang, "the order total is too large");
    };
    let unusual = items.iter().any(|i| i.qty > shop.max_qty);
    if !confirmed && (unusual || !state.doubts.is_empty() || place_doubt(&place)) {
        // Not sure enough to charge: restate the order and ask.
        state.stage = Stage::Confirming;
        return vec![Action::Reply(reply_with(
            shop,
            lang,
            Reply::Confirm,
            &[
                ("summary", summary(state, shop)),
                ("shipping", money(shipping, shop)),
                ("total", money(total, shop)),
            ],
        ))];
    }
    state.doubts.clear();
    state.stage = Stage::Invoiced;
    vec![Action::SendInvoice(Order {
        items,
        shipping_cents: shipping,
        total_cents: total,
        address: state.address.clone(),
        deposit: false,
    })]
}

/// A service booking: quote the deposit, then on the customer's yes send its invoice.
fn booking_step(
    state: &mut State,
    shop: &Shop<'_>,
    lang: Lang,
    text: &str,
    confirm: bool,
    mentions: &[Mention],
) -> Vec<Action> {
    let Some(line) = state
        .lines
        .iter()
        .find(|l| product_of(shop.catalog, &l.sku).is_some_and(|p| p.service))
        .cloned()
    else {
        return Vec::new();
    };
    let Some(p) = product_of(shop.catalog, &line.sku) else {
        return Vec::new();
    };
    let deposit = p.deposit_cents.unwrap_or(p.price_cents);
    let qty = line.qty.max(1);
    // The quote below restates the places whenever they are more than one or anything in the
    // messages was unclear, so the "yes" that follows it settles them.
    if state.stage == Stage::Booking && confirm && mentions.is_empty() {
        state.stage = Stage::Invoiced;
        state.doubts.clear();
        return vec![Action::SendInvoice(Order {
            items: vec![OrderItem {
                sku: p.sku.clone(),
                name: p.name.clone(),
                variant: None,
                qty,
                unit_cents: deposit,
            }],
            shipping_cents: 0,
            total_cents: deposit * qty,
            address: None,
            deposit: true,
        })];
    }
    let restate = qty > 1 || !state.doubts.is_empty();
    let name = match (restate, lang) {
        (false, _) => p.name.clone(),
        (true, Lang::En) => format!(
            "{} for {qty} {}",
            p.name,
            if qty == 1 { "person" } else { "people" }
        ),
        (true, Lang::Es) => format!(
            "{} para {qty} {}",
            p.name,
            if qty == 1 { "persona" } else { "personas" }
        ),
    };
    state.stage = Stage::Booking;
    if state.booking_when.is_none() {
        state.booking_when = when_in(text);
    }
    let when = state
        .booking_when
        .as_ref()
        .map(|w| match lang {
            Lang::En => format!(" for {w}"),
            Lang::Es => format!(" para el {w}"),
        })
        .unwrap_or_default();
    vec![Action::Reply(reply_with(
        shop,
        lang,
        Reply::BookingQuote,
        &[
            ("name", name),
            ("when", when),
            ("deposit", money(deposit * qty, shop)),
            ("price", money(p.price_cents * qty, shop)),
        ],
    ))]
}

/// The number of people or places a message books for ("for 2 people", "para dos personas",
/// "3 spots") and the index of that number.
fn people_count(w: &[String]) -> Option<(i64, usize)> {
    const PLACES: &[&str] = &[
        "people", "persons", "person", "ppl", "spots", "spot", "places", "seats", "personas",
        "persona", "lugares", "cupos", "asientos", "adults", "adultos",
    ];
    w.iter().enumerate().find_map(|(i, t)| {
        let next = w.get(i + 1).map(String::as_str)?;
        (PLACES.contains(&next))
            .then(|| quantity(t))
            .flatten()
            .map(|q| (q, i))
    })
}

fn handoff(state: &mut State, shop: &Shop<'_>, lang: Lang, reason: &str) -> Vec<Action> {
    state.stage = Stage::HandedOff;
    vec![
        Action::Reply(reply(shop, lang, Reply::Handoff)),
        Action::Handoff {
            reason: reason.into(),
        },
    ]
}

/// "Vitamin C serum is $64 (30ml or 50ml). Shipping within Denver is $6. Would you like to
/// order?"
fn quote(state: &State, shop: &Shop<'_>, lang: Lang) -> String {
    let mut parts = Vec::new();
    for line in &state.lines {
        let Some(p) = product_of(shop.catalog, &line.sku) else {
            continue;
        };
        let variants = if p.variants.is_empty() || line.variant.is_some() {
            line.variant
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        } else {
            format!(" ({})", join_or(&p.variants, lang))
        };
        parts.push(reply_with(
            shop,
            lang,
            Reply::Price,
            &[
                ("name", p.name.clone()),
                ("variants", variants),
                ("price", money(p.price_cents, shop)),
            ],
        ));
    }
    let local = shop
        .catalog
        .shipping
        .first()
        .map(|z| money(z.price_cents, shop))
        .unwrap_or_else(|| money(0, shop));
    let physical = state
        .lines
        .iter()
        .any(|l| product_of(shop.catalog, &l.sku).is_some_and(|p| !p.service));
    let tail = if physical {
        reply_with(
            shop,
            lang,
            Reply::LocalShippingAsk,
            &[("city", shop.city.to_string()), ("shipping", local)],
        )
    } else {
        reply(shop, lang, Reply::AskOrder)
    };
    format!("{} {tail}", parts.join(" "))
}

/// "Shipping to Colorado Springs is $10."
fn shipping_quote(place: &Place, shop: &Shop<'_>, lang: Lang) -> String {
    match zone_for(place, shop.catalog) {
        Some((zone, price)) => {
            let to = place
                .city
                .clone()
                .or_else(|| place.state.clone())
                .or_else(|| place.zip.clone())
                .unwrap_or_else(|| shop.city.to_string());
            let _ = zone;
            reply_with(
                shop,
                lang,
                Reply::ShippingTo,
                &[("place", to), ("shipping", money(price, shop))],
            )
        }
        None => reply(shop, lang, Reply::NoZone),
    }
}

/// The zone for a place and its price: an address with no city, state or ZIP is local (the
/// first zone); otherwise the first zone matching city, state or ZIP prefix, else the default.
pub fn zone_for(place: &Place, catalog: &Catalog) -> Option<(usize, i64)> {
    let zones = &catalog.shipping;
    if place.is_bare() {
        return zones.first().map(|z| (0, z.price_cents));
    }
    let eq = |a: &str, b: &str| fold(a) == fold(b);
    zones
        .iter()
        .position(|z| {
            place
                .city
                .as_deref()
                .is_some_and(|c| z.cities.iter().any(|zc| eq(zc, c)))
                || place
                    .state
                    .as_deref()
                    .or_else(|| place.zip.as_deref().and_then(text::zip_state))
                    .is_some_and(|s| z.states.iter().any(|zs| eq(zs, s)))
                || place
                    .zip
                    .as_deref()
                    .is_some_and(|zip| z.zip_prefixes.iter().any(|p| zip.starts_with(p.as_str())))
        })
        .or_else(|| zones.iter().position(|z| z.default))
        .map(|i| (i, zones[i].price_cents))
}

fn money(cents: i64, shop: &Shop<'_>) -> String {
    Money::new(cents, shop.currency).display()
}

fn summary(state: &State, shop: &Shop<'_>) -> String {
    state
        .lines
        .iter()
        .filter_map(|l| {
            let p = product_of(shop.catalog, &l.sku)?;
            let name = match &l.variant {
                Some(v) => format!("{} ({v})", p.name),
                None => p.name.clone(),
            };
            let qty = if l.qty == 1 {
                String::new()
            } else {
                format!("{} × ", l.qty)
            };
            Some(format!(
                "{qty}{name} {}",
                money(p.price_cents.saturating_mul(l.qty), shop)
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_or(items: &[String], lang: Lang) -> String {
    let or = if lang == Lang::Es { " o " } else { " or " };
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{}{or}{last}", rest.join(", ")),
    }
}

/// Whether a message while confirming changes a quantity (a number that is not one the cart
/// already has): then the bot restates the order again rather than invoicing.
fn understood_change(w: &[String], state: &State) -> bool {
    w.iter().any(|t| {
        safety::is_number(t)
            && text::quantity(t).is_some_and(|q| !state.lines.iter().any(|l| l.qty == q))
    })
}

/// Whether the words just before a product take it out of the order ("remove the filters",
/// "no concentrate", "sin los filtros", "cancel the mug").
fn removal_before(w: &[String], start: usize) -> bool {
    let mut i = start;
    let mut looked = 0;
    while i > 0 && looked < 3 {
        i -= 1;
        looked += 1;
        let t = w[i].as_str();
        if matches!(
            t,
            "remove"
                | "without"
                | "sin"
                | "quita"
                | "quitale"
                | "quitar"
                | "drop"
                | "minus"
                | "cancel"
                | "cancela"
                | "cancelar"
                | "except"
                | "menos"
        ) {
            return true;
        }
        // "no concentrate", "not hibiscus": only right before the product (an article
        // between is fine).
        if matches!(t, "no" | "nada" | "not")
            && (i + 1 == start || i + 2 == start && text::is_article_or_the(&w[i + 1]))
        {
            return true;
        }
        if !matches!(
            t,
            "the"
                | "el"
                | "la"
                | "los"
                | "las"
                | "those"
                | "that"
                | "my"
                | "a"
                | "an"
                | "un"
                | "una"
        ) {
            return false;
        }
    }
    false
}

/// Whether the address's ZIP says another state than the one written (a typo or a wrong
/// reading — either way the shipping may be wrong).
fn place_doubt(place: &Place) -> bool {
    let from_zip = place.zip.as_deref().and_then(text::zip_state);
    matches!((place.state.as_deref(), from_zip), (Some(s), Some(z)) if !s.eq_ignore_ascii_case(z))
}

/// A product named in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mention {
    product: usize,
    qty: Option<i64>,
    /// The index in the words its quantity was read from.
    qty_at: Option<usize>,
    variant: Option<String>,
    start: usize,
    end: usize,
}

/// Products named in `w`, by name, alias, near-miss spelling or price ("the $64 serum"),
/// with the quantity before them and a variant after them.
fn find_mentions(w: &[String], catalog: &Catalog, currency: &str) -> Vec<Mention> {
    let prices: Vec<i64> = w
        .iter()
        .filter_map(|t| t.strip_prefix('$'))
        .filter_map(|t| Money::parse(t, currency))
        .collect();
    // Words that name a variant ("molido", "negra") are that, never a near miss of a
    // product's name ("molido" is not "molino").
    let variant_word: Vec<bool> = w
        .iter()
        .map(|t| {
            catalog
                .catalog
                .iter()
                .any(|p| variant_in(std::slice::from_ref(t), p).is_some())
        })
        .collect();
    // Every (product, span, strength) found.
    let mut found: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (pi, p) in catalog.catalog.iter().enumerate() {
        let mut phrases: Vec<Vec<String>> = std::iter::once(&p.name)
            .chain(p.aliases.iter())
            .map(|s| words(s))
            .filter(|ws| !ws.is_empty())
            .collect();
        // The name's last word alone ("mug", "grinder"): a generic word several products may
        // share, settled below.
        let generic = words(&p.name).last().cloned().filter(|last| {
            last.chars().count() >= 3
                && !last.chars().any(|c| c.is_ascii_digit())
                && words(&p.name).len() > 1
        });
        if let Some(last) = &generic {
            phrases.push(vec![last.clone()]);
        }
        let mut best: Option<(usize, usize, usize)> = None;
        for phrase in &phrases {
            for start in 0..w.len() {
                if start + phrase.len() > w.len() {
                    break;
                }
                if phrase
                    .iter()
                    .zip(&w[start..start + phrase.len()])
                    .zip(&variant_word[start..start + phrase.len()])
                    .all(|((cat, written), variant)| {
                        written == cat || !variant && same_word(written, cat)
                    })
                {
                    let strength = phrase.len();
                    if best.is_none_or(|(_, _, s)| strength > s) {
                        best = Some((start, start + phrase.len(), strength));
                    }
                }
            }
        }
        if let Some((s, e, strength)) = best {
            found.push((pi, s, e, strength));
        }
    }
    // A generic word several products share ("mug": ceramic and travel) names the one whose
    // variant the message also names ("a black mug"), else none of them (nothing is guessed).
    let generic_of = |pi: usize, s: usize, e: usize| {
        e == s + 1
            && words(&catalog.catalog[pi].name)
                .last()
                .is_some_and(|l| same_word(&w[s], l))
            && words(&catalog.catalog[pi].name).len() > 1
    };
    // "3 bottles of the guava syrup", "2 bolsas de café": a generic word followed by "of"
    // is a unit of what follows, not the product it ends the name of.
    found.retain(|&(pi, s, e, _)| {
        !(generic_of(pi, s, e) && matches!(w.get(e).map(String::as_str), Some("of" | "de" | "del")))
    });
    let shared: Vec<(usize, usize)> = found
        .iter()
        .filter(|&&(pi, s, e, _)| generic_of(pi, s, e))
        .filter(|&&(pi, s, e, _)| {
            found
                .iter()
                .any(|&(pj, t, f, _)| pj != pi && t == s && f == e && generic_of(pj, t, f))
        })
        .map(|&(_, s, e, _)| (s, e))
        .collect();
    for (s, e) in shared {
        let claimants: Vec<usize> = found
            .iter()
            .filter(|&&(pi, t, f, _)| t == s && f == e && generic_of(pi, t, f))
            .map(|&(pi, _, _, _)| pi)
            .collect();
        let with_variant: Vec<usize> = claimants
            .iter()
            .copied()
            .filter(|&pi| variant_in(w, &catalog.catalog[pi]).is_some())
            .collect();
        let keep = match with_variant.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        found.retain(|&(pi, t, f, _)| {
            !(t == s && f == e && generic_of(pi, t, f)) || Some(pi) == keep
        });
    }
    // Where several products claim the same words, a price said in the message decides,
    // then the longer match.
    found.sort_by_key(|&(pi, s, _, strength)| {
        let price_match = prices.contains(&catalog.catalog[pi].price_cents);
        (
            std::cmp::Reverse(price_match),
            std::cmp::Reverse(strength),
            s,
        )
    });
    let mut taken: Vec<(usize, usize, usize)> = Vec::new();
    for (pi, s, e, _) in found {
        if taken.iter().any(|&(_, ts, te)| s < te && ts < e) {
            continue;
        }
        taken.push((pi, s, e));
    }
    taken.sort_by_key(|&(_, s, _)| s);
    // "the vanilla concentrate, two bottles": a unit word after a number, following another
    // product, counts that product; it is not the product whose name ends in it.
    let mut k = 1;
    while k < taken.len() {
        let (_, s, e) = taken[k];
        let unit = e == s + 1
            && safety::UNITS.contains(&w[s].as_str())
            && s > 0
            && quantity(&w[s - 1]).is_some();
        if unit {
            taken.remove(k);
        } else {
            k += 1;
        }
    }
    let mut out: Vec<Mention> = Vec::new();
    for (n, &(pi, s, e)) in taken.iter().enumerate() {
        let p = &catalog.catalog[pi];
        let next = taken.get(n + 1).map_or(w.len(), |&(_, ns, _)| ns);
        let prev = if n == 0 { 0 } else { taken[n - 1].2 };
        let variant = variant_in(&w[e..next], p).or_else(|| variant_in(&w[prev..s], p));
        let (qty, qty_at) = match quantity_before(w, s, prev, p) {
            Some((q, at)) => (Some(q), Some(at)),
            None => match quantity_after(w, e, next) {
                Some((q, at)) => (Some(q), Some(at)),
                None => (None, None),
            },
        };
        out.push(Mention {
            product: pi,
            qty,
            qty_at,
            variant,
            start: s,
            end: e,
        });
    }
    out
}

/// A quantity just before a product ("four lip tints", "two of the serums", "a mask"), and
/// where it was written.
fn quantity_before(w: &[String], start: usize, floor: usize, p: &Product) -> Option<(i64, usize)> {
    let mut i = start;
    let mut skipped = 0;
    while i > floor {
        i -= 1;
        let word = w[i].as_str();
        if let Some(q) = quantity(word) {
            return Some((q, i));
        }
        let filler = matches!(
            word,
            "the" | "of" | "la" | "el" | "los" | "las" | "de" | "x" | "more" | "mas" | "pcs"
        ) || word.starts_with('$')
            || safety::UNITS.contains(&word)
            // "2 white ceramic mugs": the product's own variant between.
            || variant_in(std::slice::from_ref(&w[i]), p).is_some();
        if !filler || skipped >= 3 {
            return None;
        }
        skipped += 1;
    }
    None
}

/// A quantity just after a product, before the next one: "tea x4", "filters, 4 packs",
/// "mugs 2x".
fn quantity_after(w: &[String], end: usize, next: usize) -> Option<(i64, usize)> {
    let stop = (end..next)
        .find(|&i| {
            matches!(
                w[i].as_str(),
                "and" | "y" | "plus" | "with" | "con" | "also"
            )
        })
        .unwrap_or(next);
    (end..stop.min(end + 4)).find_map(|i| {
        safety::quantity_word_after(&w[i], w.get(i + 1).map(String::as_str)).map(|q| (q, i))
    })
}

/// A variant of `p` among `w` ("50ml", "berry", "small" for S).
fn variant_in(w: &[String], p: &Product) -> Option<String> {
    variants_in(w, p).into_iter().next()
}

/// Every variant of `p` the words name, in catalog order.
fn variants_in(w: &[String], p: &Product) -> Vec<String> {
    let mut named = Vec::new();
    for v in &p.variants {
        let fv = fold(v);
        let aliases: &[&str] = match fv.as_str() {
            "s" => &["small", "chica", "chico", "pequena", "pequeno"],
            "m" => &["medium", "mediana", "mediano"],
            "l" => &["large", "grande"],
            "xl" => &["extra large", "xlarge"],
            // The words customers use for common variants, in both languages.
            "ground" => &["molido", "molida", "grounded", "grinded", "ground up"],
            "whole bean" => &[
                "en grano",
                "grano",
                "whole beans",
                "beans",
                "whole",
                "entero",
            ],
            "black" => &["negro", "negra"],
            "white" => &["blanco", "blanca"],
            "red" => &["rojo", "roja"],
            "blue" => &["azul"],
            "green" => &["verde"],
            "pink" | "rose" => &["rosa", "rosado", "rosada"],
            "vanilla" => &["vainilla"],
            "caramel" => &["caramelo", "karamelo", "carmel"],
            "chocolate" => &["choco"],
            "classic" => &["clasico", "clasica", "original", "regular", "plain"],
            _ => &[],
        };
        let vw = words(v);
        // A near miss of a one-word variant ("terracota", "vanila").
        let near = vw.len() == 1
            && vw[0].chars().count() >= 5
            && w.iter().any(|t| text::same_word(t, &vw[0]));
        let hit = near
            || w.iter().any(|t| vw.len() == 1 && *t == vw[0])
            || (vw.len() > 1 && w.windows(vw.len()).any(|win| win == vw.as_slice()))
            || aliases.iter().any(|a| has_phrase(w, &[a]));
        if hit {
            named.push(v.clone());
        }
    }
    named
}

/// A quantity said on its own: "make it 2", "I'll take two", "actually just one"; and where.
fn loose_quantity(w: &[String]) -> Option<(i64, Option<usize>)> {
    // "2 of them", "tres de esos": the number is the quantity of what was talked about.
    let of_them = w.windows(3).enumerate().find_map(|(i, t)| {
        let pointer = matches!(
            (t[1].as_str(), t[2].as_str()),
            ("of", "them" | "those" | "these" | "em" | "it")
                | (
                    "de",
                    "esos" | "esas" | "estos" | "estas" | "ellos" | "ellas"
                )
        );
        pointer
            .then(|| quantity(&t[0]).map(|q| (q, Some(i))))
            .flatten()
    });
    if of_them.is_some() {
        return of_them;
    }
    let cue = has_phrase(
        w,
        &[
            "make it", "take", "actually", "just", "only", "change", "instead", "want", "quiero",
            "mejor", "solo", "dame", "me llevo",
        ],
    );
    if !cue {
        return None;
    }
    // A number first; else "una"/"one" said as the quantity ("mejor solo una").
    w.iter()
        .enumerate()
        .filter(|(_, t)| !text::is_article(t))
        .find_map(|(i, t)| quantity(t).map(|q| (q, Some(i))))
        .or_else(|| {
            w.last()
                .filter(|t| matches!(t.as_str(), "una" | "uno" | "un"))
                .map(|_| (1, None))
        })
}

/// Whether `w` contains one of `phrases` (each a run of words).
fn has_phrase(w: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| {
        let pw: Vec<String> = words(p);
        !pw.is_empty() && w.windows(pw.len()).any(|win| win == pw.as_slice())
    })
}

/// Why to call a person, if the message asks for one: a complaint or refund, asking for a
/// person, or saying they paid some other way.
fn handoff_reason(w: &[String]) -> Option<String> {
    let groups: [(&str, &[&str]); 4] = [
        (
            "complaint or refund",
            &[
                "refund",
                "money back",
                "rash",
                "broken",
                "damaged",
                "wrong item",
                "complaint",
                "terrible",
                "allergic",
                "never arrived",
                "didn't arrive",
                "didnt arrive",
                "reembolso",
                "devolucion",
                "devolver",
                "queja",
                "roto",
                "alergia",
                "snapped",
                "rusted",
                "replacement",
                "worst",
                "half empty",
                "was open",
                "defective",
                "doesn't work",
                "doesnt work",
                "not working",
                "stopped working",
                "chipped",
                "cracked",
                "leaking",
                "en vez de",
                "instead of what i ordered",
                "que me mandaron",
                "que me enviaron",
                "me llegaron",
                "me llego",
                "me lo cambien",
                "cambien",
                "devuelvan",
                "no sirve",
                "wrong one",
                "wrong color",
                "wrong size",
                "y yo pedi",
                "and i ordered",
                "but i ordered",
            ],
        ),
        (
            "asks where an order is",
            &[
                "where's my",
                "wheres my",
                "where is my",
                "my package",
                "my parcel",
                "tracking",
                "track my",
                "hasn't arrived",
                "hasnt arrived",
                "has not arrived",
                "still hasn't",
                "never came",
                "never got",
                "not received",
                "haven't received",
                "havent received",
                "out for delivery",
                "wrong address",
                "shipped yet",
                "my order arrive",
                "will my order",
                "has my order",
                "status of my order",
                "my order status",
                "donde esta mi",
                "mi pedido",
                "mi paquete",
                "no ha llegado",
                "no me ha llegado",
                "no me llego",
                "no llega",
                "cuando llega",
                "ya salio",
                "cartero",
                "no tengo nada",
                "numero de rastreo",
                "rastreo",
            ],
        ),
        (
            "asked for a person",
            &[
                "speak with",
                "speak to",
                "talk to",
                "talk with",
                "human",
                "a person",
                "real person",
                "the owner",
                "manager",
                "agent",
                "hablar con",
                "una persona",
                "el dueno",
                "encargado",
            ],
        ),
        (
            "says they paid another way",
            &[
                "already paid",
                "i paid",
                "paid already",
                "sent the money",
                "sent you the money",
                "sent money",
                "zelle",
                "venmo",
                "paypal",
                "cash app",
                "cashapp",
                "bank transfer",
                "ya pague",
                "ya te pague",
                "te transferi",
                "transferi",
                "ya deposite",
            ],
        ),
    ];
    groups
        .iter()
        .find(|(_, words)| has_phrase(w, words))
        .map(|(why, _)| (*why).to_string())
}

fn detect_lang(folded: &str, w: &[String]) -> Option<Lang> {
    if folded.contains('¿') || folded.contains('¡') {
        return Some(Lang::Es);
    }
    let es = [
        "cuanto",
        "cuesta",
        "quiero",
        "hola",
        "gracias",
        "precio",
        "envio",
        "tienen",
        "favor",
        "quisiera",
        "necesito",
        "buenas",
        "si",
        "la",
        "el",
        "para",
        "mascarilla",
        "venden",
        "puedo",
        "tambien",
    ];
    let en = [
        "how", "much", "the", "want", "yes", "please", "i", "is", "do", "you", "thanks", "hi",
        "hey", "hello", "can", "price",
    ];
    let count = |list: &[&str]| w.iter().filter(|t| list.contains(&t.as_str())).count();
    let (e, s) = (count(&en), count(&es));
    match (e, s) {
        (0, 0) => None,
        (e, s) if s > e => Some(Lang::Es),
        _ => Some(Lang::En),
    }
}

/// The place in "shipping to Colorado Springs, CO?" (the words after the last "to"/"a").
fn after_to(text: &str) -> Option<String> {
    let lower = fold(text);
    let i = lower.rfind(" to ").map(|i| i + 4).or_else(|| {
        lower
            .rfind(" a ")
            .filter(|_| lower.contains("envio"))
            .map(|i| i + 3)
    })?;
    let rest = text.get(i..)?.trim().trim_end_matches(['?', '.', '!']);
    (!rest.is_empty()).then(|| rest.to_string())
}

/// "for friday afternoon" → "friday afternoon".
fn when_in(text: &str) -> Option<String> {
    let days = [
        "today",
        "tomorrow",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "hoy",
        "manana",
        "lunes",
        "martes",
        "miercoles",
        "jueves",
        "viernes",
        "sabado",
        "domingo",
    ];
    let w = words(text);
    let i = w.iter().position(|t| days.contains(&t.as_str()))?;
    let mut out = vec![w[i].clone()];
    if let Some(next) = w.get(i + 1) {
        if ["morning", "afternoon", "evening", "night", "tarde", "noche"].contains(&next.as_str()) {
            out.push(next.clone());
        }
    }
    Some(out.join(" "))
}

/// Asking whether a product exists ("do you sell perfume?").
fn asks_for_product(w: &[String]) -> bool {
    has_phrase(
        w,
        &[
            "do you sell",
            "do you have",
            "do you carry",
            "tienen",
            "venden",
            "hay",
        ],
    )
}

/// The agent's messages.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Handoff,
    Cancelled,
    Greeting,
    Thanks,
    NotCarried,
    Price,
    LocalShippingAsk,
    AskOrder,
    WhichVariant,
    AskAddress,
    BookingQuote,
    ShippingTo,
    NoZone,
    Confirm,
    WhatToChange,
}

/// The handoff reply in the shop's wording.
pub fn handoff_text(shop: &Shop<'_>, lang: Lang) -> String {
    reply(shop, lang, Reply::Handoff)
}

fn reply(shop: &Shop<'_>, lang: Lang, r: Reply) -> String {
    reply_with(shop, lang, r, &[])
}

impl Reply {
    const ALL: [Self; 15] = [
        Self::Greeting,
        Self::Price,
        Self::LocalShippingAsk,
        Self::WhichVariant,
        Self::AskAddress,
        Self::AskOrder,
        Self::BookingQuote,
        Self::ShippingTo,
        Self::NoZone,
        Self::NotCarried,
        Self::Confirm,
        Self::WhatToChange,
        Self::Cancelled,
        Self::Thanks,
        Self::Handoff,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Handoff => "handoff",
            Self::Cancelled => "cancelled",
            Self::Greeting => "greeting",
            Self::Thanks => "thanks",
            Self::NotCarried => "not_carried",
            Self::Price => "price",
            Self::LocalShippingAsk => "local_shipping",
            Self::AskOrder => "ask_booking",
            Self::WhichVariant => "which_variant",
            Self::AskAddress => "ask_address",
            Self::BookingQuote => "booking_quote",
            Self::ShippingTo => "shipping_to",
            Self::NoZone => "no_zone",
            Self::Confirm => "confirm",
            Self::WhatToChange => "what_to_change",
        }
    }

    fn variables(self) -> &'static [&'static str] {
        match self {
            Self::Handoff
            | Self::Cancelled
            | Self::Greeting
            | Self::Thanks
            | Self::AskOrder
            | Self::NoZone
            | Self::WhatToChange => &[],
            Self::Confirm => &["summary", "shipping", "total"],
            Self::NotCarried => &["list"],
            Self::Price => &["name", "variants", "price"],
            Self::LocalShippingAsk => &["city", "shipping"],
            Self::WhichVariant => &["name", "variants"],
            Self::AskAddress => &["summary"],
            Self::BookingQuote => &["name", "when", "deposit", "price"],
            Self::ShippingTo => &["place", "shipping"],
        }
    }
}

/// The shop's own wording of the agent's replies, by `en.handoff`-style keys (settings
/// `reply.en.handoff` …); a reply not overridden uses the built-in text.
pub type Replies = std::collections::HashMap<String, String>;

/// One editable reply, as the AI Agent → Replies screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyInfo {
    /// `en.handoff`, `es.price`, … (the setting is `reply.` + this).
    pub key: String,
    /// The variables it may use.
    pub variables: &'static [&'static str],
    /// The built-in text.
    pub default: String,
}

/// The "Payment received" reply: its key and variables (the relay sends it, see `run`).
pub const PAID_REPLY: &str = "paid";

/// The variables of the "Payment received" reply.
pub const PAID_VARIABLES: &[&str] = &["order", "delivery"];

/// The built-in "Payment received" reply.
pub fn default_paid(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "Payment received, thanks! Order #{order}: the courier will deliver {delivery}."
        }
        Lang::Es => "¡Pago recibido, gracias! Pedido #{order}: el mensajero lo entrega {delivery}.",
    }
}

/// Every editable reply in both languages, in the order a conversation meets them.
pub fn replies() -> Vec<ReplyInfo> {
    let mut out = Vec::new();
    for lang in [Lang::En, Lang::Es] {
        let code = lang_code(lang);
        for r in Reply::ALL {
            out.push(ReplyInfo {
                key: format!("{code}.{}", r.key()),
                variables: r.variables(),
                default: builtin(lang, r).to_string(),
            });
        }
        out.push(ReplyInfo {
            key: format!("{code}.{PAID_REPLY}"),
            variables: PAID_VARIABLES,
            default: default_paid(lang).to_string(),
        });
        out.push(ReplyInfo {
            key: format!("{code}.{}", crate::reminders::REPLY),
            variables: crate::reminders::VARIABLES,
            default: crate::reminders::default_text(lang == Lang::Es).to_string(),
        });
        out.push(ReplyInfo {
            key: format!("{code}.{}", crate::reminders::SHIPPED_REPLY),
            variables: crate::reminders::SHIPPED_VARIABLES,
            default: crate::reminders::default_shipped(lang == Lang::Es).to_string(),
        });
    }
    out
}

/// The variables reply `key` (`en.price`) may use, if there is such a reply.
pub fn reply_variables(key: &str) -> Option<&'static [&'static str]> {
    replies()
        .into_iter()
        .find(|r| r.key == key)
        .map(|r| r.variables)
}

/// `en` or `es`.
pub fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Es => "es",
    }
}

/// A reply in `lang` with `{name}` placeholders filled: the shop's wording if it has one.
fn reply_with(shop: &Shop<'_>, lang: Lang, r: Reply, vars: &[(&str, String)]) -> String {
    let own = shop
        .replies
        .and_then(|m| m.get(&format!("{}.{}", lang_code(lang), r.key())));
    let mut out = own.map_or_else(|| builtin(lang, r).to_string(), Clone::clone);
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn builtin(lang: Lang, r: Reply) -> &'static str {
    match (lang, r) {
        (Lang::En, Reply::Handoff) => "I'm bringing in a person from our team — they'll reply here shortly.",
        (Lang::Es, Reply::Handoff) => "Te paso con una persona del equipo; te responderá aquí en breve.",
        (Lang::En, Reply::Confirm) => "Just to check — {summary}, shipping {shipping}: {total} in all. Is that right? Reply yes, or tell me what to change.",
        (Lang::Es, Reply::Confirm) => "Para confirmar — {summary}, envío {shipping}: {total} en total. ¿Está bien? Responde sí, o dime qué cambio.",
        (Lang::En, Reply::WhatToChange) => "Sure — what should I change? The products, how many, or the address?",
        (Lang::Es, Reply::WhatToChange) => "Claro — ¿qué cambio? ¿Los productos, cuántos, o la dirección?",
        (Lang::En, Reply::Cancelled) => "No problem, I've cancelled that. Anything else I can help with?",
        (Lang::Es, Reply::Cancelled) => "Listo, lo cancelé. ¿Te ayudo con algo más?",
        (Lang::En, Reply::Greeting) => "Hi! How can I help? Ask me about any product or price.",
        (Lang::Es, Reply::Greeting) => "¡Hola! ¿En qué te ayudo? Pregúntame por cualquier producto o precio.",
        (Lang::En, Reply::Thanks) => "Thank you!",
        (Lang::Es, Reply::Thanks) => "¡Gracias a ti!",
        (Lang::En, Reply::NotCarried) => "Sorry, we don't carry that. We have: {list}.",
        (Lang::Es, Reply::NotCarried) => "Lo siento, no lo tenemos. Tenemos: {list}.",
        (Lang::En, Reply::Price) => "{name}{variants} is {price}.",
        (Lang::Es, Reply::Price) => "{name}{variants} cuesta {price}.",
        (Lang::En, Reply::LocalShippingAsk) => "Shipping within {city} is {shipping}. Would you like to order?",
        (Lang::Es, Reply::LocalShippingAsk) => "El envío dentro de {city} cuesta {shipping}. ¿Quieres pedirlo?",
        (Lang::En, Reply::AskOrder) => "Would you like to book it?",
        (Lang::Es, Reply::AskOrder) => "¿Quieres reservarlo?",
        (Lang::En, Reply::WhichVariant) => "Which {name} would you like: {variants}?",
        (Lang::Es, Reply::WhichVariant) => "¿Cuál {name} prefieres: {variants}?",
        (Lang::En, Reply::AskAddress) => "Great: {summary}. What's the delivery address?",
        (Lang::Es, Reply::AskAddress) => "Perfecto: {summary}. ¿A qué dirección lo enviamos?",
        (Lang::En, Reply::BookingQuote) => "We can book the {name}{when}. A {deposit} deposit holds it (the {name} is {price}). Shall I send the deposit link?",
        (Lang::Es, Reply::BookingQuote) => "Podemos reservar {name}{when}. Un depósito de {deposit} la confirma ({name} cuesta {price}). ¿Te envío el enlace del depósito?",
        (Lang::En, Reply::ShippingTo) => "Shipping to {place} is {shipping}.",
        (Lang::Es, Reply::ShippingTo) => "El envío a {place} cuesta {shipping}.",
        (Lang::En, Reply::NoZone) => "We don't ship there yet; a person from the team can help.",
        (Lang::Es, Reply::NoZone) => "Aún no enviamos ahí; una persona del equipo te puede ayudar.",
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod property;
mod safety;
pub use safety::DEFAULT_MAX_QTY;
#[cfg(test)]
mod tests;
