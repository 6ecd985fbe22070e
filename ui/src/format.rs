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

/// Today's local date as `YYYY-MM-DD` (the value of a date input).
pub fn today_iso() -> String {
    let d = js_sys::Date::new_0();
    format!(
        "{:04}-{:02}-{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date()
    )
}

/// A `YYYY-MM-DD` date as Unix seconds at noon UTC that day (a first charge date).
pub fn date_to_unix(iso: &str) -> Option<i64> {
    let mut parts = iso.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400 + 12 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_date_is_noon_utc_that_day() {
        assert_eq!(date_to_unix("2026-12-01"), Some(1_796_126_400));
        assert_eq!(
            date_to_unix("2028-02-29"),
            Some(1_835_438_400),
            "a leap day"
        );
        assert_eq!(date_to_unix("1970-01-01"), Some(43_200));
        assert_eq!(date_to_unix("2026-13-01"), None, "no thirteenth month");
        assert_eq!(date_to_unix("2026-12"), None, "a date needs its day");
        assert_eq!(date_to_unix("next week"), None);
    }
}
