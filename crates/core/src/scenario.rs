//! The payment scenario (AI Agent → Scenarios → Payment): auto-invoice, how the pay link is
//! shown, the delivery promise's cut-off, the template for closed windows. Stored as shop
//! settings through `scenario.changed`; read here with their defaults.

use crate::storage::Conn;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use ziflow_protocol::Scenario;

use crate::channel::{LinkStyle, DEFAULT_TEMPLATE};
use crate::{Error, Result};

/// Paid before 18:00 local time: delivered today.
pub const DEFAULT_CUTOFF: &str = "18:00";

/// The scenario a new shop has.
pub fn default_scenario() -> Scenario {
    Scenario {
        auto_invoice: true,
        link_style: LinkStyle::default().as_str().into(),
        cutoff: DEFAULT_CUTOFF.into(),
        whatsapp_template: DEFAULT_TEMPLATE.into(),
        reminder_hours: crate::reminders::DEFAULT_HOURS.to_vec(),
        max_quantity: None,
    }
}

/// Minutes after midnight of "HH:MM" (24-hour clock).
pub fn parse_cutoff(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Checks a scenario the owner saves; says what is wrong in words.
pub fn check(s: &Scenario) -> Result<()> {
    if LinkStyle::parse(&s.link_style).is_none() {
        return Err(Error::InvalidInput(format!(
            "link style is link, button or both, got {:?}",
            s.link_style
        )));
    }
    if parse_cutoff(&s.cutoff).is_none() {
        return Err(Error::InvalidInput(format!(
            "the cut-off is a time like 18:00, got {:?}",
            s.cutoff
        )));
    }
    if !s.reminder_hours.is_empty() {
        crate::reminders::check_hours(&s.reminder_hours)?;
    }
    let t = s.whatsapp_template.trim();
    if t.is_empty()
        || t.len() > 512
        || !t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(Error::InvalidInput(
            "a WhatsApp template name has lowercase letters, digits and underscores \
             (as approved in WhatsApp Manager)"
                .into(),
        ));
    }
    Ok(())
}

/// The settings a scenario is stored as.
pub fn as_settings(s: &Scenario) -> Vec<(&'static str, String)> {
    vec![
        ("scenario.auto_invoice", s.auto_invoice.to_string()),
        ("scenario.link_style", s.link_style.clone()),
        ("scenario.cutoff", s.cutoff.trim().to_string()),
        ("whatsapp.template", s.whatsapp_template.trim().to_string()),
        ("reminders.hours", {
            let hours: &[i64] = if s.reminder_hours.is_empty() {
                crate::reminders::DEFAULT_HOURS
            } else {
                &s.reminder_hours
            };
            hours
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }),
    ]
}

/// The shop's scenario (defaults for what was never set).
pub async fn load_in(conn: &mut Conn, shop: &str) -> Result<Scenario> {
    let rows = crate::storage::settings::many_in(
        conn,
        shop,
        &[
            "scenario.auto_invoice",
            "scenario.link_style",
            "scenario.cutoff",
            "whatsapp.template",
            "reminders.hours",
        ],
    )
    .await?;
    let mut s = default_scenario();
    for (k, v) in rows {
        match k.as_str() {
            "scenario.auto_invoice" => s.auto_invoice = v != "false",
            "scenario.link_style" => s.link_style = v,
            "scenario.cutoff" => s.cutoff = v,
            "reminders.hours" => {
                if let Ok(h) = crate::reminders::parse_hours(&v) {
                    s.reminder_hours = h;
                }
            }
            _ => s.whatsapp_template = v,
        }
    }
    Ok(s)
}

/// When a paid order arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Paid before the cut-off: today, before the cut-off time.
    Today {
        /// Minutes after midnight.
        cutoff: u32,
    },
    /// Paid at or after the cut-off.
    Tomorrow,
}

/// The promise for a payment at `paid_at` (Unix seconds) in time zone `tz` (IANA name; UTC if
/// unknown) with the cut-off at `cutoff` minutes after local midnight.
pub fn delivery(paid_at: i64, tz: &str, cutoff: u32) -> Delivery {
    let zone = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
    let local = zone.to_datetime(Timestamp::from_second(paid_at).unwrap_or(Timestamp::UNIX_EPOCH));
    let minutes =
        u32::try_from(local.hour()).unwrap_or(0) * 60 + u32::try_from(local.minute()).unwrap_or(0);
    if minutes < cutoff {
        Delivery::Today { cutoff }
    } else {
        Delivery::Tomorrow
    }
}

impl Delivery {
    /// "today before 6 pm" / "tomorrow", or in Spanish "hoy antes de las 18:00" / "mañana".
    pub fn words(self, spanish: bool) -> String {
        match (self, spanish) {
            (Self::Tomorrow, false) => "tomorrow".into(),
            (Self::Tomorrow, true) => "mañana".into(),
            (Self::Today { cutoff }, true) => {
                format!("hoy antes de las {}:{:02}", cutoff / 60, cutoff % 60)
            }
            (Self::Today { cutoff }, false) => {
                let (h, m) = (cutoff / 60, cutoff % 60);
                let (h12, half) = match h {
                    0 => (12, "am"),
                    1..=11 => (h, "am"),
                    12 => (12, "pm"),
                    _ => (h - 12, "pm"),
                };
                if m == 0 {
                    format!("today before {h12} {half}")
                } else {
                    format!("today before {h12}:{m:02} {half}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_in_the_shops_zone_decides_today_or_tomorrow() {
        // 2026-11-26 23:30 UTC is 17:30 in Chicago (UTC-6 in November): before 18:00.
        let t = 1_795_735_800;
        assert_eq!(
            delivery(t, "America/Chicago", 18 * 60),
            Delivery::Today { cutoff: 1080 }
        );
        // An hour later it is 18:30 there: tomorrow. In UTC it would already be the next day.
        assert_eq!(
            delivery(t + 3600, "America/Chicago", 18 * 60),
            Delivery::Tomorrow
        );
        assert_eq!(delivery(t, "UTC", 18 * 60), Delivery::Tomorrow);
        // Summer time: 2026-07-01 22:30 UTC is 17:30 in Chicago (UTC-5).
        assert_eq!(
            delivery(1_782_945_000, "America/Chicago", 18 * 60),
            Delivery::Today { cutoff: 1080 }
        );
    }

    #[test]
    fn promises_read_naturally_in_both_languages() {
        assert_eq!(
            Delivery::Today { cutoff: 1080 }.words(false),
            "today before 6 pm"
        );
        assert_eq!(
            Delivery::Today { cutoff: 750 }.words(false),
            "today before 12:30 pm"
        );
        assert_eq!(
            Delivery::Today { cutoff: 1080 }.words(true),
            "hoy antes de las 18:00"
        );
        assert_eq!(Delivery::Tomorrow.words(true), "mañana");
    }

    #[test]
    fn bad_scenarios_are_refused_in_words() {
        let mut s = default_scenario();
        assert!(check(&s).is_ok());
        s.cutoff = "6pm".into();
        assert!(matches!(check(&s), Err(Error::InvalidInput(w)) if w.contains("18:00")));
        s.cutoff = "24:00".into();
        assert!(check(&s).is_err());
        s = default_scenario();
        s.link_style = "qr".into();
        assert!(check(&s).is_err());
        s = default_scenario();
        s.whatsapp_template = "Order Update".into();
        assert!(check(&s).is_err());
        assert_eq!(parse_cutoff("9:05"), Some(545));
    }
}
