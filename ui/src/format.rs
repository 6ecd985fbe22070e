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

/// A Unix time (seconds) as the local time of day, e.g. "3:04 PM".
pub fn time(unix_secs: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let ms = (unix_secs as f64) * 1000.0;
    let date = js_sys::Date::new(&JsValue::from_f64(ms));
    let opts = js_sys::Object::new();
    for (k, v) in [("hour", "numeric"), ("minute", "2-digit")] {
        let _ = js_sys::Reflect::set(&opts, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    date.to_locale_time_string_with_options("en-US", &opts)
        .into()
}

/// An E.164 phone grouped for reading (`+1 512 555 0123`).
pub fn phone(e164: &str) -> String {
    ziflow_protocol::display_phone(e164)
}
