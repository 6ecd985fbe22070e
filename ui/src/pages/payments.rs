//! Payments: what the payment provider reported, as it happened.

use leptos::prelude::*;
use ziflow_protocol::Area;

use crate::api;
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

/// The payment feed.
#[component]
pub fn Payments() -> impl IntoView {
    let data = LocalResource::new(api::list_payments);
    let focused = use_context::<crate::nav::FocusedOrder>().map(|f| f.0);
    crate::live::refetch_on(data, &[Area::Payments]);
    view! {
        <PageHeader
            title="Payments"
            subtitle="Payments, failures and refunds as your payment provider reports them, matched to invoices."
        />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => {
                        view! {
                            <EmptyState
                                id="empty-payments"
                                title="No payments yet"
                                lines=&[
                                    "Every payment, failed attempt and refund appears here seconds after the customer pays, already matched to its invoice.",
                                    "Until you connect Stripe in Settings, payments run on the sandbox provider and no real money moves.",
                                ]
                            />
                        }
                            .into_any()
                    }
                    Ok(list) => {
                        view! {
                            <ul class="feed" id="payment-feed">
                                {list
                                    .into_iter()
                                    .map(|p| {
                                        let what = match p.outcome.as_str() {
                                            "succeeded" => "Payment received",
                                            "failed" => "Payment failed",
                                            "refunded" => "Refund",
                                            "mismatch" => "Does not match the invoice — not applied",
                                            "wrong_provider" => "From another provider — not applied",
                                            "test_mode" => "Test-mode event ignored (live shop)",
                                            _ => "Payment event",
                                        };
                                        // Why a kept-but-not-applied event was refused, with both figures.
                                        let why = match (p.outcome.as_str(), &p.expected) {
                                            ("mismatch", Some(expected)) => Some(format!(
                                                "paid {}, invoice {}",
                                                p.amount.display(),
                                                expected.display()
                                            )),
                                            ("wrong_provider", _) => Some(format!(
                                                "event from {}, the invoice's link is {}",
                                                p.provider,
                                                p.invoice_provider.as_deref().unwrap_or("not sent")
                                            )),
                                            _ => None,
                                        };
                                        let invoice = p
                                            .invoice_number
                                            .map(|n| format!("order #{n}"))
                                            .unwrap_or_else(|| "no matching invoice".into());
                                        let customer = p
                                            .customer_phone
                                            .as_deref()
                                            .map(format::phone)
                                            .unwrap_or_else(|| "unknown customer".into());
                                        let is_focused = p.invoice_number.is_some()
                                            && focused.and_then(|f| f.get()) == p.invoice_number;
                                        view! {
                                            <li
                                                class:focused=is_focused
                                                data-order=p.invoice_number.map(|n| n.to_string())
                                            >
                                                <span>
                                                    <strong>{what}</strong>
                                                    " · " {customer} " · " {invoice} " · " {p.provider.clone()}
                                                    {why.map(|w| view! { <br /><span class="mismatch">{w}</span> })}
                                                    <br />
                                                    <small>{format::datetime(p.occurred_at)}</small>
                                                </span>
                                                <span class=format!("amount {}", p.outcome)>{p.amount.display()}</span>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}
