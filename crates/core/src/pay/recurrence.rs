//! A subscription's cadence (every N days, weeks or months) and first charge, checked
//! against what Stripe accepts. Stored with the invoice, so storage reads it too.

use serde::{Deserialize, Serialize};

/// How often a subscription charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Every N days.
    Day,
    /// Every N weeks.
    Week,
    /// Every N months.
    Month,
}

impl Unit {
    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The stored and Stripe word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// A subscription's cadence and first charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// Days, weeks or months.
    pub unit: Unit,
    /// How many of them between charges.
    pub count: u32,
    /// Unix seconds of the first charge.
    pub first_charge_at: i64,
}

impl Recurrence {
    /// Checks a cadence against what Stripe accepts: at most one year between charges.
    pub fn new(unit: &str, count: u32, first_charge_at: i64, now: i64) -> crate::Result<Self> {
        let unit = Unit::parse(unit).ok_or_else(|| {
            crate::Error::InvalidInput(format!(
                "a subscription charges every N days, weeks or months, not {unit:?}"
            ))
        })?;
        let max = match unit {
            Unit::Day => 365,
            Unit::Week => 52,
            Unit::Month => 12,
        };
        if count == 0 || count > max {
            return Err(crate::Error::InvalidInput(format!(
                "a subscription charges every 1 to {max} {}s",
                unit.as_str()
            )));
        }
        if first_charge_at < now - 86_400 {
            return Err(crate::Error::InvalidInput(
                "the first charge date is in the past".into(),
            ));
        }
        Ok(Self {
            unit,
            count,
            first_charge_at,
        })
    }

    /// Whole days of free trial before the first charge (0: charge at checkout). Stripe's
    /// payment links take days; the job that sees the subscription created moves its trial
    /// end to `first_charge_at` exactly.
    pub fn trial_days(&self, now: i64) -> i64 {
        let secs = self.first_charge_at - now;
        if secs < 12 * 3600 {
            0
        } else {
            (secs + 43_200) / 86_400
        }
    }

    /// "every 14 days", "monthly", "every 2 weeks".
    pub fn describe(&self) -> String {
        match (self.unit, self.count) {
            (Unit::Day, 1) => "daily".into(),
            (Unit::Week, 1) => "weekly".into(),
            (Unit::Month, 1) => "monthly".into(),
            (u, n) => format!("every {n} {}s", u.as_str()),
        }
    }
}
