//! Addresses the owner gives ZiFlow to call (a relay, a model endpoint, a Slack webhook):
//! secrets travel to them, so they are https, or plain http only to this computer.

/// Whether `url`'s host is this computer (127.0.0.1, localhost, ::1).
pub fn is_loopback(url: &reqwest::Url) -> bool {
    matches!(
        url.host_str().unwrap_or_default(),
        "127.0.0.1" | "localhost" | "[::1]" | "::1"
    )
}

/// Whether `url` is https, or plain http to this computer.
pub fn https_or_loopback(url: &str) -> bool {
    reqwest::Url::parse(url.trim())
        .is_ok_and(|u| u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
