//! Addresses the owner gives ZiFlow to call (a model endpoint, a Slack webhook, an SMTP
//! server, a relay to pair with). Secrets travel to them, and on a hosted relay they are
//! typed by people we do not control, so:
//!
//! - they are `https` — plain `http` only to this computer, and only where loopback is
//!   allowed ([`Outbound::allow_loopback`]: local mode and tests, never a hosted relay);
//! - no address may point at this machine, a private network or the cloud's metadata
//!   service: every name is resolved and each address checked ([`refusal`]) — at save time
//!   for a clear message, and again by the client's resolver ([`Guarded`]) for the address
//!   actually connected, so a name that re-resolves elsewhere (DNS rebinding) gains nothing;
//! - the client follows no redirects and uses no proxy ([`owner_client`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// What owner-typed addresses may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outbound {
    /// Loopback (and plain `http` to it) is allowed: local mode and tests
    /// (`--allow-loopback-outbound`). Private, link-local and metadata ranges never are.
    pub allow_loopback: bool,
}

/// Why ZiFlow will not connect to `ip` for an owner, or `None` if it may.
pub fn refusal(ip: IpAddr, policy: Outbound) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4, policy),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refusal_v4(v4, policy);
            }
            let seg = v6.segments();
            if v6.is_loopback() {
                (!policy.allow_loopback).then_some("it is this machine (loopback)")
            } else if v6.is_unspecified() {
                Some("it is the unspecified address")
            } else if v6.is_multicast() {
                Some("it is a multicast address")
            } else if seg[0] & 0xfe00 == 0xfc00 {
                Some("it is a private (unique-local) address")
            } else if seg[0] & 0xffc0 == 0xfe80 {
                Some("it is a link-local address")
            } else if seg[0] == 0x64 && seg[1] == 0xff9b {
                // NAT64 (64:ff9b::/96) reaches any IPv4 address behind it: check that one.
                let v4 = v4_in(seg[6], seg[7]);
                refusal_v4(v4, policy)
            } else if seg[0] == 0x2002 {
                // 6to4 embeds an IPv4 address.
                let v4 = v4_in(seg[1], seg[2]);
                refusal_v4(v4, policy)
            } else if seg[0] & 0xffc0 == 0xfec0 {
                Some("it is a site-local address")
            } else if seg[..6].iter().all(|s| *s == 0) {
                // IPv4-compatible (::a.b.c.d, deprecated): judge the IPv4 address inside.
                let v4 = v4_in(seg[6], seg[7]);
                refusal_v4(v4, policy)
            } else if seg[0] == 0x2001 && seg[1] == 0 {
                Some("it is a Teredo tunnel address")
            } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
                Some("it is a documentation address")
            } else {
                None
            }
        }
    }
}

/// The IPv4 address carried in two IPv6 segments (NAT64, 6to4, IPv4-compatible).
fn v4_in(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn refusal_v4(ip: Ipv4Addr, policy: Outbound) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        (!policy.allow_loopback).then_some("it is this machine (loopback)")
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("it is the cloud metadata service")
    } else if ip.is_private() {
        Some("it is a private network address")
    } else if ip.is_link_local() {
        Some("it is a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("it is a carrier-grade NAT (shared) address")
    } else if a == 0 || ip.is_unspecified() {
        Some("it is a 'this network' address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("it is a multicast, broadcast or reserved address")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("it is an IETF protocol address")
    } else if a == 198 && (18..20).contains(&b) {
        Some("it is a benchmarking address")
    } else if matches!(
        (a, b, ip.octets()[2]),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
    ) {
        Some("it is a documentation address")
    } else {
        None
    }
}

/// Whether `url`'s host is this computer (127.0.0.1, localhost, ::1).
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => is_localhost_name(d),
        None => false,
    }
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether `url` is https, or plain http to this computer. (Pairing with a relay: the
/// desktop's own choice, not a hosted relay's.)
pub fn https_or_loopback(url: &str) -> bool {
    reqwest::Url::parse(url.trim())
        .is_ok_and(|u| u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)))
}

/// Checks an owner-typed URL without resolving it: scheme, credentials, and a host given as
/// an address (in any spelling the URL standard accepts — `0x7f000001`, `2130706433`,
/// `[::ffff:127.0.0.1]` — the parser has already made it an address). Returns the URL.
pub fn check_url(url: &str, policy: Outbound) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| format!("not an address: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the address must not carry a user name or password".into());
    }
    let loopback = is_loopback(&parsed);
    match parsed.scheme() {
        "https" => {}
        "http" if loopback && policy.allow_loopback => {}
        "http" => return Err("the address must be https://".into()),
        other => return Err(format!("{other}:// addresses are not called; use https://")),
    }
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => refused_at(IpAddr::V4(ip), policy)?,
        Some(url::Host::Ipv6(ip)) => refused_at(IpAddr::V6(ip), policy)?,
        Some(url::Host::Domain(d)) if is_localhost_name(d) && !policy.allow_loopback => {
            return Err(format!("{d} is this machine (loopback)"));
        }
        Some(url::Host::Domain(_)) => {}
        None => return Err("the address has no host".into()),
    }
    Ok(parsed)
}

fn refused_at(ip: IpAddr, policy: Outbound) -> Result<(), String> {
    match refusal(ip, policy) {
        Some(why) => Err(format!("{ip} is refused: {why}")),
        None => Ok(()),
    }
}

/// Resolves `host` and returns its addresses, refusing the name if any address is one ZiFlow
/// must not reach (a name that also resolves to a private address is refused whole).
pub async fn resolve(host: &str, port: u16, policy: Outbound) -> Result<Vec<SocketAddr>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        refused_at(ip, policy)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if is_localhost_name(host) && !policy.allow_loopback {
        return Err(format!("{host} is this machine (loopback)"));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} could not be resolved: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    for a in &addrs {
        if let Some(why) = refusal(a.ip(), policy) {
            return Err(format!(
                "{host} resolves to {}, which is refused: {why}",
                a.ip()
            ));
        }
    }
    Ok(addrs)
}

/// Checks an owner-typed URL and resolves its host ([`check_url`] then [`resolve`]).
pub async fn check_and_resolve(url: &str, policy: Outbound) -> Result<reqwest::Url, String> {
    let parsed = check_url(url, policy)?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    resolve(&host, port, policy).await?;
    Ok(parsed)
}

/// The DNS resolver of [`owner_client`]: [`resolve`], so the addresses connected to are
/// the checked ones.
#[derive(Debug, Clone, Copy)]
pub struct Guarded(pub Outbound);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve(&host, 0, policy)
                .await
                .map_err(|why| -> Box<dyn std::error::Error + Send + Sync> { why.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for owner-typed addresses: checked resolution, no redirects, no proxy.
/// Callers still [`check_url`] each URL first (an address literal is not resolved).
pub fn owner_client(
    policy: Outbound,
    connect_timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(Guarded(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(connect_timeout)
        .build()
}

/// What to show of a provider's answer (to "Send a test", in a notification's history): the
/// status, and the provider's own words only when they are a short line — a plain-text body
/// (Slack's `ok`, `invalid_token`) or the `description`/`error`/`message` of a JSON one
/// (Telegram's `Unauthorized`). Never a page: an arbitrary body is not echoed back.
pub fn short_answer(status: u16, body: &str) -> String {
    let short = |w: &str| {
        let w = w.trim();
        (!w.is_empty() && w.chars().count() <= 120 && !w.contains(['<', '\n', '\r']))
            .then(|| w.to_string())
    };
    let words = if body.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                ["description", "error", "message"]
                    .iter()
                    .find_map(|k| v[*k].as_str().and_then(short))
            })
    } else {
        short(body)
    };
    match words {
        Some(w) => format!("HTTP {status}: {w}"),
        None => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTED: Outbound = Outbound {
        allow_loopback: false,
    };
    const LOCAL: Outbound = Outbound {
        allow_loopback: true,
    };

    #[test]
    fn secrets_go_over_https_or_stay_on_this_computer() {
        assert!(https_or_loopback(
            "https://hooks.slack.com/services/T0/B0/x"
        ));
        assert!(https_or_loopback("http://127.0.0.1:8080/v1"));
        assert!(https_or_loopback("http://localhost/v1"));
        assert!(!https_or_loopback("http://hooks.example.com/x"));
        assert!(
            !https_or_loopback("http://localhost.example.com/x"),
            "the host, not a prefix"
        );
        assert!(!https_or_loopback("ftp://127.0.0.1/"));
        assert!(!https_or_loopback("not a url"));
    }

    #[test]
    fn internal_addresses_in_every_spelling_are_refused_on_a_hosted_relay() {
        for url in [
            "https://127.0.0.1:9",
            "https://localhost:9",
            "https://LOCALHOST./x",
            "https://api.localhost/x",
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/",
            "https://10.1.2.3",
            "https://172.16.0.1",
            "https://192.168.1.1",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://[::1]:9",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:7f00:1::]/",
            "https://0x7f000001",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://192.0.2.1/",
            "https://203.0.113.9/",
            "https://[fec0::1]/",
            "https://[::127.0.0.1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://user:pw@hooks.slack.com/x",
            "http://hooks.slack.com/x",
            "file:///etc/passwd",
            "gopher://example.com/",
        ] {
            assert!(check_url(url, HOSTED).is_err(), "{url} must be refused");
        }
        for url in [
            "https://hooks.slack.com/services/T0/B0/x",
            "https://api.openai.com/v1",
            "https://8.8.8.8/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check_url(url, HOSTED).is_ok(), "{url} is fine");
        }
    }

    #[test]
    fn loopback_only_where_it_is_allowed_and_never_private_ranges() {
        assert!(check_url("http://127.0.0.1:8080/v1", LOCAL).is_ok());
        assert!(check_url("http://localhost:11434/v1", LOCAL).is_ok());
        assert!(check_url("https://[::1]:9", LOCAL).is_ok());
        assert!(check_url("http://127.0.0.1:8080/v1", HOSTED).is_err());
        assert!(check_url("https://10.0.0.1", LOCAL).is_err());
        assert!(check_url("http://169.254.169.254/", LOCAL).is_err());
        assert!(
            check_url("http://example.com/", LOCAL).is_err(),
            "plain http only to this computer"
        );
    }

    #[test]
    fn a_test_answer_shows_a_short_line_never_a_page() {
        assert_eq!(short_answer(200, "ok"), "HTTP 200: ok");
        assert_eq!(
            short_answer(404, "no_service"),
            "HTTP 404: no_service",
            "Slack's words"
        );
        assert_eq!(
            short_answer(200, "<html><body>secret</body></html>"),
            "HTTP 200"
        );
        assert_eq!(short_answer(200, "{\"AccessKeyId\":\"x\"}"), "HTTP 200");
        assert_eq!(
            short_answer(
                401,
                r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#
            ),
            "HTTP 401: Unauthorized",
            "Telegram's words"
        );
        assert_eq!(short_answer(500, &"x".repeat(500)), "HTTP 500");
        assert_eq!(short_answer(200, "line\nline"), "HTTP 200");
    }

    #[tokio::test]
    async fn a_name_is_judged_by_what_it_resolves_to() {
        let err = resolve("localhost", 443, HOSTED).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = resolve("127.0.0.1", 443, HOSTED).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(resolve("127.0.0.1", 443, LOCAL).await.is_ok());
    }
}
