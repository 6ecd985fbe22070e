//! Stripe's `Stripe-Signature` header: `t=<unix>,v1=<hex>[,v1=<hex>…]`. The signed payload
//! is `"{t}.{raw body}"`, keyed with the whole `whsec_…` secret. Any matching `v1` is
//! accepted (Stripe sends several while a secret is being rolled); other schemes (`v0`) are
//! ignored; timestamps more than [`TOLERANCE_SECS`] from now are refused.
//!
//! Cost: whatever the header holds, a check computes the HMAC over the body **once** and
//! compares it with each candidate. A header longer than [`MAX_HEADER_LEN`] or with more
//! than [`MAX_CANDIDATES`] `v1` entries is refused before anything is hashed, so the worst
//! request costs what an honest one does.

use hmac::Mac;

use super::{hmac_sha256, PayloadError, ProviderEvent, SignatureError, Verified};

/// The header name.
pub const HEADER: &str = "Stripe-Signature";

/// Accepted clock difference, as in Stripe's SDKs.
pub const TOLERANCE_SECS: i64 = 300;

/// Longest header read. Stripe's is about 150 bytes (a timestamp, one `v1`, one `v0`); a
/// few rolled secrets stay far below this.
pub const MAX_HEADER_LEN: usize = 1024;

/// Most `v1` signatures compared (Stripe sends one per active secret, two while rolling).
pub const MAX_CANDIDATES: usize = 8;

/// Checks `header` against `body` for `secret` at time `now` (Unix seconds).
pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Verified, SignatureError> {
    let header = header.ok_or(SignatureError::Missing(HEADER))?;
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed(HEADER));
    }
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<[u8; 32]> = Vec::new();
    let mut candidates = 0usize;
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed(HEADER));
        };
        match k {
            "t" => timestamp = Some(v),
            "v1" => {
                candidates += 1;
                if candidates > MAX_CANDIDATES {
                    return Err(SignatureError::Malformed(HEADER));
                }
                // A v1 that is not 32 bytes of hex can match nothing: skip it unhashed.
                let mut sig = [0u8; 32];
                if hex::decode_to_slice(v, &mut sig).is_ok() {
                    signatures.push(sig);
                }
            }
            _ => {}
        }
    }
    let t_str = timestamp.ok_or(SignatureError::Malformed(HEADER))?;
    let t: i64 = t_str
        .parse()
        .map_err(|_| SignatureError::Malformed(HEADER))?;
    if candidates == 0 {
        return Err(SignatureError::Malformed(HEADER));
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale(TOLERANCE_SECS));
    }
    if signatures.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let mac = hmac_sha256(secret.as_bytes(), &[t_str.as_bytes(), b".", body])
        .finalize()
        .into_bytes();
    let matched = signatures.iter().fold(subtle::Choice::from(0), |any, sig| {
        use subtle::ConstantTimeEq;
        any | mac.as_slice().ct_eq(sig)
    });
    if bool::from(matched) {
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
    event_from(verified, "stripe")
}

/// [`event`] for a provider that speaks Stripe's format: the kind is `{provider}.{type}`, so
/// the log says which provider's key verified it (`sandbox.checkout.session.completed` can
/// never be mistaken for Stripe's own).
pub fn event_from(verified: &Verified, provider: &str) -> Result<ProviderEvent, PayloadError> {
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
        kind: format!("{provider}.{kind}"),
        provider_id: id.into_owned(),
        payload: body.to_string(),
    })
}

/// The header Stripe would send for `body` at time `t` (sandbox pay page and tests).
pub fn sign(secret: &str, body: &[u8], t: i64) -> String {
    let t = t.to_string();
    format!(
        "t={t},v1={}",
        super::hmac_hex(secret.as_bytes(), &[t.as_bytes(), b".", body])
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

    #[test]
    fn a_header_stuffed_with_signatures_is_refused_before_hashing() {
        let many = format!("t={T}{}", ",v1=".repeat(50_000));
        assert_eq!(
            verify(SECRET, Some(&many), BODY, T),
            Err(SignatureError::Malformed(HEADER)),
            "50,000 empty v1 entries: over the length limit"
        );
        let nine = format!(
            "t={T}{},v1={V1}",
            format!(",v1={}", "00".repeat(32)).repeat(8)
        );
        assert!(nine.len() <= MAX_HEADER_LEN);
        assert_eq!(
            verify(SECRET, Some(&nine), BODY, T),
            Err(SignatureError::Malformed(HEADER)),
            "nine candidates, even with the right one last"
        );
        let eight = format!(
            "t={T}{},v1={V1}",
            format!(",v1={}", "00".repeat(32)).repeat(7)
        );
        assert!(
            verify(SECRET, Some(&eight), BODY, T).is_ok(),
            "eight is allowed"
        );
        let short = format!("t={T},v1=,v1=ab,v1={}", &V1[..62]);
        assert_eq!(
            verify(SECRET, Some(&short), BODY, T),
            Err(SignatureError::Mismatch),
            "candidates of the wrong length match nothing"
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
