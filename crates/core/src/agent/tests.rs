use serde_json::Value;

use super::*;

fn fixture() -> Value {
    // A copy of shared/fixtures/agent-samples.json kept in the repository.
    serde_json::from_str(include_str!(
        "../../../../tests/fixtures/agent-samples.json"
    ))
    .unwrap()
}

fn catalog(f: &Value) -> Catalog {
    Catalog::parse(&serde_json::json!({"catalog": f["catalog"], "shipping": f["shipping"]}))
        .unwrap()
}

/// Runs `messages` through a fresh conversation with the sample shop (Denver, USD).
fn talk(catalog: &Catalog, messages: &[&str]) -> (Vec<String>, Option<Order>, bool, State) {
    let shop = Shop {
        city: "Denver",
        currency: "USD",
        catalog,
        replies: None,
        max_qty: safety::DEFAULT_MAX_QTY,
    };
    play(&shop, messages)
}

/// Runs `messages` through a fresh conversation with `shop`; returns the replies, the last
/// invoice, whether it was handed off, and the conversation's state.
pub(super) fn play(
    shop: &Shop<'_>,
    messages: &[&str],
) -> (Vec<String>, Option<Order>, bool, State) {
    let mut state = State::default();
    let mut replies = Vec::new();
    let mut order = None;
    let mut handoff = false;
    for m in messages {
        for a in respond(&mut state, m, shop) {
            match a {
                Action::Reply(r) => replies.push(r),
                Action::SendInvoice(o) => order = Some(o),
                Action::Handoff { .. } => handoff = true,
                Action::OptOut => {}
            }
        }
    }
    (replies, order, handoff, state)
}

#[test]
fn every_sample_conversation_meets_its_expectations() {
    let f = fixture();
    let catalog = catalog(&f);
    for conv in f["conversations"].as_array().unwrap() {
        let id = conv["id"].as_str().unwrap();
        let messages: Vec<&str> = conv["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let (replies, order, handoff, _) = talk(&catalog, &messages);
        let expect = &conv["expect"];
        let all = replies.join("\n");
        for q in expect["quote_contains"].as_array().into_iter().flatten() {
            assert!(
                all.contains(q.as_str().unwrap()),
                "{id}: replies contain {q}: {all}"
            );
        }
        if let Some(sent) = expect["invoice_sent"].as_bool() {
            assert_eq!(order.is_some(), sent, "{id}: invoice sent? {all}");
        }
        if let Some(h) = expect["handoff"].as_bool() {
            assert_eq!(handoff, h, "{id}: handoff? {all}");
        }
        let items: Vec<(String, Option<String>, i64)> = order
            .as_ref()
            .map(|o| {
                o.items
                    .iter()
                    .map(|i| (i.sku.clone(), i.variant.clone(), i.qty))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(want) = expect["items"].as_array() {
            let want: Vec<(String, Option<String>, i64)> = want
                .iter()
                .map(|i| {
                    (
                        i[0].as_str().unwrap().to_string(),
                        i[1].as_str().map(str::to_string),
                        i[2].as_i64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(items, want, "{id}: items; replies: {all}");
        }
        if let Some(s) = expect["shipping_cents"].as_i64() {
            assert_eq!(order.as_ref().unwrap().shipping_cents, s, "{id}: shipping");
        }
        if let Some(t) = expect["total_cents"].as_i64() {
            assert_eq!(order.as_ref().unwrap().total_cents, t, "{id}: total");
        }
    }
}

#[test]
fn asks_for_what_is_missing_and_never_invents() {
    let f = fixture();
    let catalog = catalog(&f);
    let (replies, order, _, _) = talk(&catalog, &["I'll take the serum"]);
    assert_eq!(
        replies,
        ["Which Vitamin C serum would you like: 30ml or 50ml?"]
    );
    assert!(order.is_none());
    let (replies, _, _, _) = talk(&catalog, &["I'll take the serum", "50ml"]);
    assert_eq!(
        replies[1],
        "Great: Vitamin C serum (50ml) $64. What's the delivery address?"
    );
    let (replies, order, handoff, _) = talk(&catalog, &["do you sell perfume?"]);
    assert!(replies[0].starts_with("Sorry, we don't carry that. We have: Vitamin C serum"));
    assert!(order.is_none() && !handoff);
}

#[test]
fn spanish_conversations_get_spanish_answers() {
    let f = fixture();
    let catalog = catalog(&f);
    let (replies, _, _, state) = talk(&catalog, &["¿cuánto cuesta la mascarilla?"]);
    assert_eq!(state.lang, Some(Lang::Es));
    assert_eq!(
        replies[0],
        "Clay mask cuesta $42. El envío dentro de Denver cuesta $6. ¿Quieres pedirlo?"
    );
    let (replies, _, handoff, _) = talk(&catalog, &["quiero hablar con una persona"]);
    assert!(handoff);
    assert!(replies[0].starts_with("Te paso con una persona"));
    let (_, order, _, _) = talk(
        &catalog,
        &["quiero dos protector solar", "calle 5 #10, Denver CO 80202"],
    );
    let o = order.expect("an order in Spanish");
    assert_eq!((o.items[0].sku.as_str(), o.items[0].qty), ("SPF-50", 2));
}

#[test]
fn changes_quantities_and_prices_as_references() {
    let f = fixture();
    let catalog = catalog(&f);
    let (_, order, _, _) = talk(
        &catalog,
        &["two clay masks", "actually just one", "18 Maple St"],
    );
    let o = order.unwrap();
    assert_eq!(o.items[0].qty, 1);
    assert_eq!(o.total_cents, 4200 + 600);
    let (_, order, _, _) = talk(
        &catalog,
        &["the $28 one, the cleanser", "yes", "18 Maple St"],
    );
    assert_eq!(order.unwrap().items[0].sku, "CLN-GEL");
}

#[test]
fn stop_silences_the_bot_until_the_customer_writes_again() {
    let f = fixture();
    let catalog = catalog(&f);
    let shop = Shop {
        city: "Denver",
        currency: "USD",
        catalog: &catalog,
        replies: None,
        max_qty: safety::DEFAULT_MAX_QTY,
    };
    let mut state = State::default();
    assert_eq!(respond(&mut state, "STOP", &shop), vec![Action::OptOut]);
    let mut es = State::default();
    assert_eq!(respond(&mut es, "baja", &shop), vec![Action::OptOut]);
    let mut alto = State::default();
    assert_eq!(respond(&mut alto, "Alto", &shop), vec![Action::OptOut]);
    assert_eq!(state.stage, Stage::OptedOut);
    assert!(
        !respond(&mut state, "hi again", &shop).is_empty(),
        "writing again opts back in"
    );
    let mut state = State::default();
    respond(&mut state, "I want to talk to a human", &shop);
    assert!(
        respond(&mut state, "hello?", &shop).is_empty(),
        "handed off: quiet"
    );
}

#[test]
fn shipping_zones_match_city_state_zip_or_are_local() {
    let f = fixture();
    let catalog = catalog(&f);
    let zone = |text: &str| zone_for(&text::place_of(text), &catalog).unwrap().1;
    assert_eq!(zone("Denver CO 80202"), 600);
    assert_eq!(zone("Boulder, CO 80302"), 1000);
    assert_eq!(zone("Austin, TX 78701"), 1400, "the default zone");
    assert_eq!(
        zone_for(&text::Place::default(), &catalog).unwrap().1,
        600,
        "bare: local"
    );
}

/// Runs one conversation and returns (replies joined, order, handoff).
fn run(messages: &[&str]) -> (String, Option<Order>, bool) {
    let f = fixture();
    let catalog = catalog(&f);
    let (replies, order, handoff, _) = talk(&catalog, messages);
    (replies.join("\n"), order, handoff)
}

#[test]
fn each_rule_in_english_and_spanish() {
    // Price question.
    assert!(run(&["what's the price of the clay mask?"])
        .0
        .contains("$42"));
    assert!(run(&["precio de la mascarilla"]).0.contains("$42"));
    // Order with variant and number word.
    let (_, o, _) = run(&["two lip tints in rose", "18 Maple St"]);
    let o = o.unwrap();
    assert_eq!(
        (o.items[0].variant.as_deref(), o.items[0].qty),
        (Some("rose"), 2)
    );
    let (_, o, _) = run(&["quiero tres tint coral", "calle 5 #10, Denver CO 80202"]);
    let o = o.unwrap();
    assert_eq!(
        (o.items[0].variant.as_deref(), o.items[0].qty),
        (Some("coral"), 3)
    );
    // Misspelling.
    assert!(run(&["how much is the cleanzer"]).0.contains("$28"));
    assert!(run(&["cuanto cuesta el protector solar"]).0.contains("$36"));
    // Change of quantity.
    let (_, o, _) = run(&["3 clay masks", "make it 2", "18 Maple St"]);
    assert_eq!(o.unwrap().items[0].qty, 2);
    let (_, o, _) = run(&["dos mascarillas", "mejor solo una", "18 Maple St"]);
    assert_eq!(o.unwrap().items[0].qty, 1);
    // Cancellation.
    let (r, o, _) = run(&["I'll take the sunscreen", "never mind"]);
    assert!(o.is_none() && r.contains("cancelled"));
    let (r, o, _) = run(&["quiero el protector solar", "ya no, gracias"]);
    assert!(o.is_none() && r.contains("cancelé"));
    // Booking with a deposit, no shipping.
    let (r, o, _) = run(&["quiero reservar un facial el viernes", "sí"]);
    assert!(r.contains("$30"), "{r}");
    assert_eq!(o.unwrap().shipping_cents, 0);
    // Shipping question.
    assert!(run(&["how much is delivery to Boulder, CO?"])
        .0
        .contains("$10"));
    // Greeting.
    assert!(run(&["hola"]).0.starts_with("¡Hola!"));
    // Handoffs: complaint, person, payment claim — in both languages.
    for m in [
        "my order arrived broken",
        "can I talk to a human?",
        "I paid you on venmo",
        "quiero un reembolso",
        "quiero hablar con una persona",
        "ya te pagué por transferencia",
    ] {
        let (_, o, h) = run(&[m]);
        assert!(h && o.is_none(), "{m} hands off");
    }
}

#[test]
fn unknown_things_are_never_priced() {
    let (r, o, _) = run(&["how much is the perfume?"]);
    assert!(o.is_none());
    assert!(!r.contains('$'), "no amount for an unknown product: {r}");
    let (r, o, h) = run(&["asdf qwerty"]);
    assert!(
        h && o.is_none() && !r.contains('$'),
        "unplaceable: a person answers"
    );
}
