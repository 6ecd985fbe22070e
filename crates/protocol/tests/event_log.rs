//! Logs written before the event vocabulary was typed still read: every line of a log in the
//! shapes version 0.1.0 wrote (one per kind, with its optional fields null or absent as its
//! writers left them) reads as its own kind, and writing it back reads the same again.

use serde_json::Value;
use ziflow_protocol::Event;

fn lines() -> Vec<(String, String)> {
    include_str!("fixtures/log-0.1.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: Value = serde_json::from_str(l).expect("a fixture line is JSON");
            let kind = row["kind"].as_str().expect("a fixture line has a kind");
            (kind.to_string(), row["payload"].to_string())
        })
        .collect()
}

#[test]
fn every_kind_of_an_older_log_reads_as_itself() {
    let lines = lines();
    assert!(
        lines.len() >= 35,
        "the fixture covers every kind: {}",
        lines.len()
    );
    for (kind, payload) in &lines {
        let event =
            Event::parse(kind, payload).unwrap_or_else(|e| panic!("{kind} must read, got {e}"));
        assert_eq!(&event.kind(), kind, "the kind survives reading");
        let unknown = matches!(event, Event::Unknown { .. });
        assert_eq!(
            unknown,
            kind == "fax.received",
            "{kind}: only a kind this version never wrote is unknown"
        );
        if unknown {
            assert_eq!(
                event.payload(),
                None,
                "an unknown kind is never written back"
            );
            continue;
        }
        let written = event.payload().expect("a known kind writes a payload");
        let again = Event::parse(kind, &written.to_string()).expect("what is written reads");
        assert_eq!(
            again, event,
            "{kind}: written and read again, the same event"
        );
    }
}

#[test]
fn provider_bodies_stay_byte_exact() {
    let raw =
        r#"{"id":"evt_1","type":"charge.refunded","created":1,"data":{"object":{"z":1,"a":2}}}"#;
    let Event::Provider(p) = Event::parse("stripe.charge.refunded", raw).unwrap() else {
        panic!("a stripe.* kind is a provider event");
    };
    assert_eq!(p.kind, "charge.refunded");
    assert_eq!(p.body.get(), raw, "the provider's bytes, key order and all");
    let Event::WhatsappMessage(m) = Event::parse(
        "whatsapp.message",
        r#"{"from":"1","message":{"type":"text","text":{"body":"hi"},"z":0,"a":1}}"#,
    )
    .unwrap() else {
        panic!("whatsapp.message reads");
    };
    assert_eq!(
        m.message.get(),
        r#"{"type":"text","text":{"body":"hi"},"z":0,"a":1}"#
    );
    assert_eq!(m.message().words(), Some("hi"));
}

#[test]
fn a_payload_that_does_not_fit_its_kind_is_an_error_naming_the_kind() {
    let err = Event::parse("invoice.paid", r#"{"via":"manual"}"#).unwrap_err();
    assert_eq!(err.kind, "invoice.paid");
    assert!(err.why.contains("invoice_id"), "{err}");
    assert!(Event::parse("message.sent", "not json").is_err());
}

#[test]
fn optional_fields_an_older_writer_left_out_take_their_defaults() {
    let Event::MessageSent(m) = Event::parse("message.sent", r#"{"to":"+1","text":"hi"}"#).unwrap()
    else {
        panic!("message.sent reads");
    };
    assert_eq!(m.by, "rep", "a message without an author was a rep's");
    let Event::InvoiceSent(s) = Event::parse(
        "invoice.sent",
        r#"{"invoice_id":1,"link":"https://x","expires_at":5}"#,
    )
    .unwrap() else {
        panic!("invoice.sent reads");
    };
    assert_eq!(s.provider, "sandbox");
    assert_eq!(s.reference, None);
}

#[test]
fn a_provider_field_of_an_unexpected_type_costs_only_that_field() {
    let Event::WhatsappMessage(m) = Event::parse(
        "whatsapp.message",
        r#"{"from":"1","message":{"id":"wamid.1","type":"text","timestamp":1764500000,"text":{"body":"hi"}}}"#,
    )
    .unwrap() else {
        panic!("whatsapp.message reads");
    };
    let message = m.message();
    assert_eq!(
        message.words(),
        Some("hi"),
        "the words survive a numeric timestamp"
    );
    assert_eq!(message.id.as_deref(), Some("wamid.1"));
    assert_eq!(message.sent_at(), None, "the time is the only thing lost");

    let Event::WhatsappStatus(s) = Event::parse(
        "whatsapp.status",
        r#"{"status":{"id":"wamid.1","status":"failed","errors":[{"code":131026,"title":"Message undeliverable","error_data":{"details":"not on WhatsApp"}},null]}}"#,
    )
    .unwrap() else {
        panic!("whatsapp.status reads");
    };
    let status = s.read().unwrap();
    assert_eq!(
        status.error().as_deref(),
        Some("(#131026) Message undeliverable: not on WhatsApp")
    );
}
