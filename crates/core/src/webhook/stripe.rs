//! Stripe's `Stripe-Signature` header: `t=<unix>,v1=<hex>[,v1=<hex>…]`. The signed payload
//! is `"{t}.{raw body}"`, keyed with the whole `whsec_…` secret. Any matching `v1` is
//! accepted (Stripe sends several while a secret is being rolled); other schemes (`v0`) are
//! ignored; timestamps more than [`TOLERANCE_SECS`] from now are refused.

use super::{hmac_hex, hmac_matches, PayloadError, ProviderEvent, SignatureError, Verified};

/// The header name.
pub const HEADER: &str = "Stripe-Signature";

/// Accepted clock difference, as in Stripe's SDKs.
pub const TOLERANCE_SECS: i64 = 300;

/// Checks `header` against `body` for `secret` at time `now` (Unix seconds).
pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Verified, SignatureError> {
    let header = header.ok_or(SignatureError::Missing(HEADER))?;
    let mut timestamp: Option<&str> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed(HEADER));
        };
        match k {
            "t" => timestamp = Some(v),
            "v1" => signatures.push(v),
            _ => {}
        }
    }
    let t_str = timestamp.ok_or(SignatureError::Malformed(HEADER))?;
    let t: i64 = t_str
        .parse()
        .map_err(|_| SignatureError::Malformed(HEADER))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed(HEADER));
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale(TOLERANCE_SECS));
    }
    let parts: [&[u8]; 3] = [t_str.as_bytes(), b".", body];
    if signatures
        .iter()
        .any(|sig| hmac_matches(secret.as_bytes(), &parts, sig))
    {
        Ok(Verified::new(body))
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The two fields the intake needs; the rest of the body is checked for syntax and kept
/// as it came.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// Reads a verified Stripe event: it must be a JSON object with an `evt_…` id and a type.
/// The payload stored is the body exactly as received, not a re-serialisation.
pub fn event(verified: &Verified) -> Result<ProviderEvent, PayloadError> {
    let body = std::str::from_utf8(verified.body())
        .map_err(|e| PayloadError(format!("body is not UTF-8 JSON: {e}")))?;
    if !body.trim_start().starts_with('{') {
        return Err(PayloadError("a Stripe event is a JSON object".into()));
    }
    let head: Head<'_> =
        serde_json::from_str(body).map_err(|e| PayloadError(format!("body is not JSON: {e}")))?;
    let id = head
        .id
        .filter(|id| id.starts_with("evt_"))
        .ok_or_else(|| PayloadError("a Stripe event has an id starting with evt_".into()))?;
    let kind = head
        .kind
        .filter(|t| !t.is_empty())
        .ok_or_else(|| PayloadError("a Stripe event has a type".into()))?;
    Ok(ProviderEvent {
        kind: format!("stripe.{kind}"),
        provider_id: id.into_owned(),
        payload: body.to_string(),
    })
}

/// The header Stripe would send for `body` at time `t` (sandbox pay page and tests).
pub fn sign(secret: &str, body: &[u8], t: i64) -> String {
    let t = t.to_string();
    format!(
        "t={t},v1={}",
        hmac_hex(secret.as_bytes(), &[t.as_bytes(), b".", body])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test123";
    const T: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"a":1}"#;
    /// Agreed by Stripe's Python and Node SDKs and openssl.
    const V1: &str = "718c0a0303b19b7dbae2acb8c0f34c5e59e27fb5912cbd8beb324d44f8b0c9f0";

    #[test]
    fn signs_the_known_vector() {
        assert_eq!(sign(SECRET, BODY, T), format!("t={T},v1={V1}"));
    }

    #[test]
    fn accepts_the_known_vector_and_any_matching_v1() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(
            verify(SECRET, Some(&header), BODY, T + 10).unwrap().body(),
            BODY
        );
        let rolled = format!("t={T},v1={},v0=abc,v1={V1}", "00".repeat(32));
        assert!(
            verify(SECRET, Some(&rolled), BODY, T).is_ok(),
            "secret rotation"
        );
    }

    #[test]
    fn refuses_tampering_staleness_and_garbage() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(
            verify(SECRET, Some(&header), br#"{"a":2}"#, T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_other", Some(&header), BODY, T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, T + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale(TOLERANCE_SECS))
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, T - TOLERANCE_SECS - 1),
            Err(SignatureError::Stale(TOLERANCE_SECS)),
            "timestamps from the future are refused too"
        );
        assert_eq!(
            verify(SECRET, None, BODY, T),
            Err(SignatureError::Missing(HEADER))
        );
        for bad in [
            "",
            "t=abc,v1=00",
            &format!("v1={V1}"),
            &format!("t={T}"),
            "garbage",
        ] {
            assert!(
                matches!(
                    verify(SECRET, Some(bad), BODY, T),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad:?} is malformed"
            );
        }
        let not_hex = format!("t={T},v1=zz{}", &V1[2..]);
        assert_eq!(
            verify(SECRET, Some(&not_hex), BODY, T),
            Err(SignatureError::Mismatch)
        );
    }

    fn parse(body: &str) -> Result<ProviderEvent, PayloadError> {
        let header = sign(SECRET, body.as_bytes(), T);
        event(&verify(SECRET, Some(&header), body.as_bytes(), T).unwrap())
    }

    #[test]
    fn keeps_the_event_body_exactly_as_received() {
        let body = "{ \"type\": \"charge.refunded\",\n  \"id\": \"evt_1\", \"data\": {\"note\": \"caf\u{e9} \\u00e9\"} }";
        let ev = parse(body).unwrap();
        assert_eq!(ev.kind, "stripe.charge.refunded");
        assert_eq!(ev.provider_id, "evt_1");
        assert_eq!(ev.payload, body, "spacing, order and escapes kept");
    }

    #[test]
    fn refuses_what_is_not_a_stripe_event() {
        for (body, why) in [
            (r#"["evt_1","charge.refunded"]"#, "an array"),
            (r#"{"id":"evt_1","type":"x"} trailing"#, "trailing text"),
            (
                r#"{"id":"ch_1","type":"charge.refunded"}"#,
                "not an event id",
            ),
            (r#"{"id":"evt_1"}"#, "no type"),
            (r#"{"id":"evt_1","type":""}"#, "empty type"),
            (r#"{"id":"evt_1","type":"x","data":{"#, "cut off"),
        ] {
            assert!(parse(body).is_err(), "{why}: {body}");
        }
    }
}
