//! WhatsApp Cloud API webhooks: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the
//! raw body bytes keyed with the app secret. The bytes are checked exactly as received —
//! Meta escapes non-ASCII as `\uXXXX`, and any re-serialisation would break the signature.

use serde_json::{json, Value};

use super::{hmac_hex, hmac_matches, PayloadError, ProviderEvent, SignatureError, Verified};

/// Message types ZiFlow understands; anything else is kept as an "unsupported message".
const KNOWN_TYPES: &[&str] = &[
    "text",
    "interactive",
    "button",
    "location",
    "image",
    "audio",
];

/// The header name.
pub const HEADER: &str = "X-Hub-Signature-256";

/// Checks `header` against `body` for `app_secret`: one HMAC over the body, and only when the
/// header has the right shape (`sha256=` and 64 hex digits).
pub fn verify(
    app_secret: &str,
    header: Option<&str>,
    body: &[u8],
) -> Result<Verified, SignatureError> {
    let header = header.ok_or(SignatureError::Missing(HEADER))?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .filter(|hex| hex.len() == 64)
        .ok_or(SignatureError::Malformed(HEADER))?;
    if hmac_matches(app_secret.as_bytes(), &[body], hex_sig) {
        Ok(Verified::new(body))
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Splits a verified Cloud API webhook into events: one `whatsapp.message` per inbound
/// message (provider id: its wamid) and one `whatsapp.status` per status update (provider
/// id: `wamid:status`, so each of sent/delivered/read/failed is kept once). Each payload
/// carries the business number id and, for messages, the sender's profile name. Message types
/// ZiFlow does not handle are kept with `"unsupported": true`, never dropped.
pub fn events(verified: &Verified) -> Result<Vec<ProviderEvent>, PayloadError> {
    let root: Value = serde_json::from_slice(verified.body())
        .map_err(|e| PayloadError(format!("body is not JSON: {e}")))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| PayloadError("a WhatsApp webhook has an entry array".into()))?;
    let mut out = Vec::new();
    for change in entries
        .iter()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
    {
        let Some(value) = change.get("value") else {
            continue;
        };
        let phone_number_id = value
            .pointer("/metadata/phone_number_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let contacts = value.get("contacts").and_then(Value::as_array);
        for msg in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let wamid = str_field(msg, "id", "message")?;
            let from = str_field(msg, "from", "message")?;
            let kind = msg.get("type").and_then(Value::as_str).unwrap_or("unknown");
            let name = contacts
                .into_iter()
                .flatten()
                .find(|c| c.get("wa_id").and_then(Value::as_str) == Some(from))
                .and_then(|c| c.pointer("/profile/name"))
                .cloned()
                .unwrap_or(Value::Null);
            out.push(ProviderEvent {
                kind: "whatsapp.message".into(),
                provider_id: wamid.to_string(),
                payload: json!({
                    "phone_number_id": phone_number_id,
                    "from": from,
                    "profile_name": name,
                    "unsupported": !KNOWN_TYPES.contains(&kind),
                    "message": msg,
                })
                .to_string(),
            });
        }
        for st in value
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let wamid = str_field(st, "id", "status")?;
            let status = str_field(st, "status", "status")?;
            out.push(ProviderEvent {
                kind: "whatsapp.status".into(),
                provider_id: format!("{wamid}:{status}"),
                payload: json!({ "phone_number_id": phone_number_id, "status": st }).to_string(),
            });
        }
    }
    Ok(out)
}

/// Keeps the events of business number `number` and drops the rest (an entry for another
/// `phone_number_id` — another business's number under the same app — is not this shop's).
/// Returns the kept events and how many were dropped.
pub fn for_number(events: Vec<ProviderEvent>, number: &str) -> (Vec<ProviderEvent>, usize) {
    let before = events.len();
    let kept: Vec<ProviderEvent> = events
        .into_iter()
        .filter(|e| {
            serde_json::from_str::<Value>(&e.payload)
                .is_ok_and(|p| p["phone_number_id"].as_str() == Some(number))
        })
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

fn str_field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, PayloadError> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PayloadError(format!("a WhatsApp {what} has a {key}")))
}

/// JSON as Meta writes its webhook bodies: every character outside ASCII escaped as `\uXXXX`
/// (UTF-16, so an emoji is a surrogate pair), and the signature is over those bytes. Clients
/// that re-escape a decoded body before checking (whatsapp-api-js) agree with it; a checker of
/// the raw bytes (this relay, pywa) agrees either way.
pub fn meta_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The header Meta would send for `body` (sandbox chat and tests).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(app_secret.as_bytes(), &[body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_json_escapes_everything_outside_ascii_and_reads_back_the_same() {
        let v = json!({"text": {"body": "¿cuánto? 💆"}});
        let text = meta_json(&v);
        assert_eq!(
            text,
            r#"{"text":{"body":"\u00bfcu\u00e1nto? \ud83d\udc86"}}"#
        );
        assert!(text.is_ascii());
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn verifies_the_raw_bytes_including_non_ascii() {
        // The same text in two encodings: only the bytes that were signed verify.
        let escaped = br#"{"text":{"body":"\u00bfcu\u00e1nto cuesta?"}}"#;
        let utf8 = "{\"text\":{\"body\":\"¿cuánto cuesta?\"}}".as_bytes();
        let header = sign("app-secret", escaped);
        assert!(verify("app-secret", Some(&header), escaped).is_ok());
        assert_eq!(
            verify("app-secret", Some(&header), utf8),
            Err(SignatureError::Mismatch),
            "a re-encoded body is not what was signed"
        );
        let header = sign("app-secret", utf8);
        assert!(
            verify("app-secret", Some(&header), utf8).is_ok(),
            "UTF-8 bodies verify as-is"
        );
    }

    #[test]
    fn known_vector() {
        // printf '%s' '{"object":"whatsapp_business_account"}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign("secret", br#"{"object":"whatsapp_business_account"}"#),
            "sha256=03f6dd944ecab4ddac0e3dbc3923b2da4e12b03df679ae23a52efd78ca6056e0"
        );
    }

    fn verified(body: &str) -> Verified {
        verify("s", Some(&sign("s", body.as_bytes())), body.as_bytes()).unwrap()
    }

    #[test]
    fn splits_messages_and_statuses_and_keeps_unknown_types() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PNID"},
            "contacts":[{"profile":{"name":"Ana"},"wa_id":"15125550123"}],
            "messages":[
              {"from":"15125550123","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"¿cuánto cuesta?"}},
              {"from":"15125550123","id":"wamid.B","timestamp":"1700000001","type":"sticker","sticker":{"id":"x"}}],
            "statuses":[{"id":"wamid.OUT","status":"read","timestamp":"1700000002","recipient_id":"15125550123"}]}}]}]}"#;
        let evs = events(&verified(body)).unwrap();
        assert_eq!(evs.len(), 3);
        let payloads: Vec<Value> = evs
            .iter()
            .map(|e| serde_json::from_str(&e.payload).unwrap())
            .collect();
        assert_eq!(evs[0].kind, "whatsapp.message");
        assert_eq!(evs[0].provider_id, "wamid.A");
        assert_eq!(payloads[0]["profile_name"], "Ana");
        assert_eq!(payloads[0]["message"]["text"]["body"], "¿cuánto cuesta?");
        assert_eq!(
            payloads[1]["unsupported"], true,
            "a sticker is kept, marked unsupported"
        );
        assert_eq!(evs[2].kind, "whatsapp.status");
        assert_eq!(
            evs[2].provider_id, "wamid.OUT:read",
            "read can arrive without delivered"
        );
    }

    #[test]
    fn refuses_bodies_that_are_not_cloud_api_webhooks() {
        assert!(events(&verified("not json")).is_err());
        assert!(events(&verified(r#"{"object":"x"}"#)).is_err());
        let no_id =
            r#"{"entry":[{"changes":[{"value":{"messages":[{"from":"1","type":"text"}]}}]}]}"#;
        assert!(events(&verified(no_id)).is_err());
    }

    #[test]
    fn refuses_missing_malformed_and_wrong() {
        let body = b"{}";
        assert_eq!(
            verify("s", None, body),
            Err(SignatureError::Missing(HEADER))
        );
        assert_eq!(
            verify("s", Some("md5=00"), body),
            Err(SignatureError::Malformed(HEADER))
        );
        assert_eq!(
            verify("s", Some(&sign("other", body)), body),
            Err(SignatureError::Mismatch)
        );
    }
}
