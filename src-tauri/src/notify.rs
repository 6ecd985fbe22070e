//! OS notifications the replica just learned about: the automation rules' desktop
//! notifications (the shipped rule announces each payment: "Payment $128 from +1 512 555
//! 0123, order #4821", in the shop's own template) and payments no invoice matched yet; after
//! catching up on many at once (the laptop slept through the night), one summary ("7 payments
//! while you were away — $1,240"). Each reaches here once, because each event is applied once.

use std::collections::BTreeMap;

use ziflow_core::notify::DesktopNote;
use ziflow_core::projection::PaymentApplied;
use ziflow_protocol::Money;

/// More notifications than this in one catch-up become one summary.
pub const SUMMARY_OVER: usize = 3;

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Title line.
    pub summary: String,
    /// Body text.
    pub body: String,
    /// The order (invoice number) a click opens, if the note is about one.
    pub order: Option<i64>,
}

/// What a click on a notification does: bring the window forward on the order.
pub type OnClick = std::sync::Arc<dyn Fn(Option<i64>) + Send + Sync>;

/// What to show for one catch-up: the rules' notes and the payments of it (matched payments
/// are announced by the rules, unmatched ones here).
pub fn notes(payments: &[PaymentApplied], from_rules: &[DesktopNote]) -> Vec<Note> {
    let paid: Vec<&PaymentApplied> = payments
        .iter()
        .filter(|p| p.outcome == "succeeded")
        .collect();
    let mut out: Vec<Note> = from_rules
        .iter()
        .map(|n| Note {
            summary: n.title.clone(),
            body: n.body.clone(),
            order: n.order,
        })
        .collect();
    out.extend(paid.iter().filter(|p| p.invoice.is_none()).map(|p| Note {
        summary: "Payment received".into(),
        body: format!("Payment {} (no matching invoice yet)", p.amount.display()),
        order: None,
    }));
    // A payment that reached an invoice but could not pay it needs a person.
    out.extend(
        payments
            .iter()
            .filter(|p| p.outcome == "mismatch")
            .filter_map(|p| {
                let (number, _) = p.invoice.as_ref()?;
                let expected = p.expected.as_ref()?;
                Some(Note {
                    summary: "Payment does not match its invoice".into(),
                    body: format!(
                        "Order #{number}: paid {}, invoice {} — not marked paid",
                        p.amount.display(),
                        expected.display()
                    ),
                    order: Some(*number),
                })
            }),
    );
    if out.len() <= SUMMARY_OVER {
        return out;
    }
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for p in &paid {
        *totals.entry(p.amount.currency.as_str()).or_default() += p.amount.minor;
    }
    let total = totals
        .into_iter()
        .map(|(c, m)| Money::new(m, c).display())
        .collect::<Vec<_>>()
        .join(" + ");
    let (summary, body) = if paid.is_empty() {
        let s = format!("{} notifications while you were away", out.len());
        (s.clone(), s)
    } else {
        let s = format!("{} payments while you were away", paid.len());
        let mut body = format!("{s} — {total}");
        let others = out.len().saturating_sub(paid.len());
        if others > 0 {
            body.push_str(&format!(" (and {others} more notifications)"));
        }
        (s, body)
    };
    vec![Note {
        summary,
        body,
        order: None,
    }]
}

/// Shows the notes on the desktop (on a blocking thread: the D-Bus call may take a moment).
/// Clicking one (its default action) calls `on_click` with its order.
pub fn show(notes: Vec<Note>, on_click: OnClick) {
    if notes.is_empty() {
        return;
    }
    tauri::async_runtime::spawn_blocking(move || {
        for note in notes {
            let shown = notify_rust::Notification::new()
                .appname("ZiFlow")
                .summary(&note.summary)
                .body(&note.body)
                .action("default", "Open")
                .show();
            match shown {
                Ok(handle) => watch_click(handle, note.order, on_click.clone()),
                Err(e) => tracing::warn!("could not show a desktop notification: {e}"),
            }
        }
    });
}

/// Shows a test notification now (Settings → Notifications → This desktop → Send a test):
/// whether the desktop's notification server took it, and its own name for itself.
pub async fn test() -> (bool, String) {
    let shown = tauri::async_runtime::spawn_blocking(|| {
        notify_rust::Notification::new()
            .appname("ZiFlow")
            .summary("ZiFlow test")
            .body("ZiFlow test: notifications reach this desktop.")
            .show()
            .map(|_| server_name())
    })
    .await;
    match shown {
        Ok(Ok(server)) => (true, format!("Shown by {server}.")),
        Ok(Err(e)) => (
            false,
            format!("The desktop's notification server did not take it: {e}"),
        ),
        Err(e) => (false, format!("Could not ask the desktop: {e}")),
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn server_name() -> String {
    notify_rust::get_server_information()
        .map(|i| format!("{} {} ({})", i.name, i.version, i.vendor))
        .unwrap_or_else(|_| "the notification server".into())
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn server_name() -> String {
    "the system's notification center".into()
}

/// Waits (on its own thread) until the notification is clicked or closed.
#[cfg(all(unix, not(target_os = "macos")))]
fn watch_click(handle: notify_rust::NotificationHandle, order: Option<i64>, on_click: OnClick) {
    std::thread::spawn(move || {
        handle.wait_for_action(|action| {
            if action == "default" {
                on_click(order);
            }
        });
    });
}

/// Other platforms bring the app forward themselves when a notification is clicked.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn watch_click(_handle: notify_rust::NotificationHandle, _order: Option<i64>, _on_click: OnClick) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(minor: i64, invoice: Option<(i64, &str)>) -> PaymentApplied {
        PaymentApplied {
            outcome: "succeeded",
            amount: Money::new(minor, "USD"),
            invoice: invoice.map(|(n, p)| (n, p.to_string())),
            expected: invoice.map(|_| Money::new(minor, "USD")),
        }
    }

    fn rule_note(body: &str, order: i64) -> DesktopNote {
        DesktopNote {
            title: "Payment received".into(),
            body: body.into(),
            order: Some(order),
        }
    }

    #[test]
    fn a_matched_payment_is_the_rules_note_an_unmatched_one_is_ours() {
        let matched = paid(12_800, Some((4821, "+15125550123")));
        let note = rule_note("Payment $128 from +1 512 555 0123, order #4821", 4821);
        let n = notes(std::slice::from_ref(&matched), std::slice::from_ref(&note));
        assert_eq!(n.len(), 1, "not twice");
        assert_eq!(n[0].body, "Payment $128 from +1 512 555 0123, order #4821");
        assert_eq!(n[0].order, Some(4821));
        assert!(
            notes(&[matched], &[]).is_empty(),
            "the rule decides (desktop off: none)"
        );
        let n = notes(&[paid(4_500, None)], &[]);
        assert_eq!(n[0].body, "Payment $45 (no matching invoice yet)");
    }

    #[test]
    fn many_payments_at_once_become_one_summary() {
        let many: Vec<_> = (0..7)
            .map(|i| paid(10_000 + i * 2_000 + 50, None))
            .collect();
        let n = notes(&many, &[]);
        assert_eq!(n.len(), 1, "no flood after a night asleep");
        assert_eq!(n[0].body, "7 payments while you were away — $1,123.50");
    }

    #[test]
    fn failures_and_refunds_are_not_announced_as_payments() {
        let mut refund = paid(500, None);
        refund.outcome = "refunded";
        assert!(notes(&[refund], &[]).is_empty());
    }
}
