//! Formatting for people: times in the rep's local time zone, phones with spaces.

use wasm_bindgen::JsValue;

/// A Unix time (seconds) as local date and time, e.g. "11/26/2026, 3:04 PM".
pub fn datetime(unix_secs: i64) -> String {
    // JS dates are milliseconds in an f64; exact for any time this app will see.
    #[allow(clippy::cast_precision_loss)]
    let ms = (unix_secs as f64) * 1000.0;
    let date = js_sys::Date::new(&JsValue::from_f64(ms));
    let opts = js_sys::Object::new();
    for (k, v) in [
        ("year", "numeric"),
        ("month", "short"),
        ("day", "numeric"),
        ("hour", "numeric"),
        ("minute", "2-digit"),
    ] {
        let _ = js_sys::Reflect::set(&opts, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    date.to_locale_string("en-US", &opts).into()
}

/// An E.164 phone grouped for reading: `+15125550123` → `+1 512 555 0123` (NANP),
/// otherwise the country code and the rest in groups of three or four.
pub fn phone(e164: &str) -> String {
    let Some(digits) = e164.strip_prefix('+') else {
        return e164.to_string();
    };
    if digits.len() == 11 && digits.starts_with('1') {
        return format!("+1 {} {} {}", &digits[1..4], &digits[4..7], &digits[7..]);
    }
    let (cc, rest) = digits.split_at(digits.len().min(2));
    let mut out = format!("+{cc}");
    let mut i = 0;
    while i < rest.len() {
        let take = if rest.len() - i == 4 {
            4
        } else {
            3.min(rest.len() - i)
        };
        out.push(' ');
        out.push_str(&rest[i..i + take]);
        i += take;
    }
    out
}
