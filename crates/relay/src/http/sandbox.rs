//! The sandbox provider's pay page, `/sandbox/pay/{token}`: what a customer sees behind a
//! sandbox pay link — shop, items, total — with "Pay with card", "Pay with Apple Pay",
//! "Decline" and "Pay later (async)". Pressing one builds the Stripe-format event a real
//! payment would produce, signs it with the relay's sandbox-only key, and hands it to the
//! same verification Stripe's deliveries go through; it is logged as `sandbox.*`, so it can
//! pay only invoices whose link the sandbox made. No money moves. Mounted only on a relay
//! started with the sandbox on (local mode, the demo, `serve --sandbox`). The press itself is
//! [`crate::sandbox::press`]; this module is the page.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use ziflow_core::storage::{invoices, shops};
use ziflow_protocol::Money;

use super::{AppState, HttpError};
use crate::sandbox::{Press, Pressed};

/// The `outcome` the buttons post.
fn outcome(form: &[u8]) -> Option<Press> {
    let text = std::str::from_utf8(form).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("outcome="))
        .and_then(Press::parse)
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str, refresh: bool) -> Response {
    let meta = if refresh {
        r#"<meta http-equiv="refresh" content="1">"#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{meta}
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f4f6f5;margin:0;padding:2rem 1rem;color:#1d2b26}}
main{{max-width:26rem;margin:0 auto;background:#fff;border-radius:14px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}}
h1{{font-size:1.2rem;margin:0 0 .25rem}} .sandbox{{display:inline-block;background:#fff3c4;border-radius:6px;padding:.1rem .5rem;font-size:.8rem}}
table{{width:100%;border-collapse:collapse;margin:1rem 0}} td{{padding:.35rem 0;border-bottom:1px solid #eee}} td.amount{{text-align:right}}
.total td{{font-weight:700;border-bottom:none}} form{{margin:.5rem 0}}
button{{width:100%;padding:.75rem;border-radius:10px;border:0;font-size:1rem;cursor:pointer;background:#0b5c50;color:#fff}}
button.apple{{background:#000}} button.secondary{{background:#e9eeec;color:#1d2b26}}
.state{{font-size:1.05rem;font-weight:600}}
</style></head><body><main>{body}</main></body></html>"#,
        title = escape(title),
    );
    Html(html).into_response()
}

fn not_found() -> Response {
    let mut res = page(
        "Link not found",
        "<h1>This pay link does not exist</h1><p>Ask the shop for a new one.</p>",
        false,
    );
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

/// `GET /sandbox/pay/{token}`.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, HttpError> {
    let Some((shop_uid, inv)) = invoices::by_pay_token(&state.db, &token).await? else {
        return Ok(not_found());
    };
    let shop = shops::get(&state.db, &shop_uid).await?;
    let items = invoices::items(&state.db, inv.id).await?;
    let money = |minor: i64| escape(&Money::new(minor, inv.currency.clone()).display());
    let mut rows = String::new();
    for i in &items {
        let variant = i
            .variant
            .as_deref()
            .map(|v| format!(" ({})", escape(v)))
            .unwrap_or_default();
        let qty = if i.qty == 1 {
            String::new()
        } else {
            format!("{} × ", i.qty)
        };
        rows.push_str(&format!(
            "<tr><td>{qty}{}{variant}</td><td class=\"amount\">{}</td></tr>",
            escape(&i.name),
            money(i.unit_minor.saturating_mul(i.qty))
        ));
    }
    if inv.shipping_minor > 0 {
        rows.push_str(&format!(
            "<tr><td>Shipping</td><td class=\"amount\">{}</td></tr>",
            money(inv.shipping_minor)
        ));
    }
    rows.push_str(&format!(
        "<tr class=\"total\"><td>Total</td><td class=\"amount\" id=\"total\">{}</td></tr>",
        money(inv.total_minor)
    ));
    let head = format!(
        "<h1>{}</h1><span class=\"sandbox\">Sandbox — no real money moves</span><p>Order #{}</p><table>{rows}</table>",
        escape(&shop.name),
        inv.number
    );
    let expired = inv.link_expires_at.is_some_and(|at| state.clock.now() > at);
    if expired || !matches!(inv.status.as_str(), "sent" | "failed") {
        // Settled one way or another: "Processing" is over, and the set stays small.
        if let Ok(mut p) = state.sandbox_pending.lock() {
            p.remove(&inv.id);
        }
    }
    let (body, refresh) = match inv.status.as_str() {
        "paid" => (
            format!("{head}<p class=\"state\" id=\"state\" data-state=\"paid\">Paid — thank you!</p>"),
            false,
        ),
        _ if expired => (
            format!("{head}<p class=\"state\" id=\"state\" data-state=\"expired\">This link has expired. Ask the shop for a new one.</p>"),
            false,
        ),
        "sent" | "failed" => {
            let pending = state.sandbox_pending.lock().map(|p| p.contains(&inv.id)).unwrap_or(false);
            if pending {
                (
                    format!("{head}<p class=\"state\" id=\"state\" data-state=\"processing\">Processing your payment…</p>"),
                    true,
                )
            } else {
                (
                    format!(
                        "{head}{}{}{}{}",
                        button("card", "Pay with card", ""),
                        button("apple_pay", "Pay with Apple Pay", "apple"),
                        button("later", "Pay later (async)", "secondary"),
                        button("decline", "Decline", "secondary"),
                    ),
                    false,
                )
            }
        }
        other => (
            format!(
                "{head}<p class=\"state\" id=\"state\" data-state=\"{0}\">This invoice is {0}.</p>",
                escape(other)
            ),
            false,
        ),
    };
    Ok(page(&format!("Pay {}", shop.name), &body, refresh))
}

fn button(outcome: &str, label: &str, class: &str) -> String {
    format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"outcome\" value=\"{outcome}\"><button id=\"pay-{outcome}\" class=\"{class}\" type=\"submit\">{label}</button></form>"
    )
}

/// `POST /sandbox/pay/{token}` with `outcome=card|apple_pay|decline|later`: the press is
/// delivered ([`crate::sandbox::press`]) and the page shows what became of it.
pub async fn act(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let press = outcome(&body).ok_or_else(|| {
        HttpError::BadRequest("outcome must be card, apple_pay, decline or later".into())
    })?;
    Ok(match crate::sandbox::press(&state, &token, press).await? {
        Pressed::UnknownLink => not_found(),
        Pressed::NothingToPay | Pressed::Delivered => {
            Redirect::to(&format!("/sandbox/pay/{token}")).into_response()
        }
    })
}
