//! Metrics: the owner's headline figures.

use leptos::prelude::*;
use ziflow_protocol::MetricsSummary;

use crate::api;
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};

/// The owner's figures.
#[component]
pub fn Metrics() -> impl IntoView {
    let data = LocalResource::new(api::metrics_summary);
    view! {
        <PageHeader
            title="Metrics"
            subtitle="How chats turn into paid orders. Computed from your own records, to the cent."
        />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(m) if m.invoices == 0 && m.revenue.is_empty() => {
                        view! {
                            <EmptyState
                                id="empty-metrics"
                                title="No invoices sent yet"
                                lines=&[
                                    "Conversion within 24 hours, revenue and manual reconciliations appear here once the first invoice goes out.",
                                    "Every figure is counted from your own invoices and payments.",
                                ]
                            />
                        }
                            .into_any()
                    }
                    Ok(m) => view! { <Figures m=m /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Figures(m: MetricsSummary) -> impl IntoView {
    let conversion = m
        .conversion_24h_bp
        .map(|bp| format!("{}.{}%", bp / 100, (bp % 100) / 10))
        .unwrap_or_else(|| "—".into());
    let revenue = if m.revenue.is_empty() {
        "—".to_string()
    } else {
        m.revenue
            .iter()
            .map(|r| r.display())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    view! {
        <div class="figures" id="metrics-figures">
            <div class="figure">
                <div class="label">"Invoices sent"</div>
                <div class="value" id="metric-invoices">{m.invoices}</div>
            </div>
            <div class="figure">
                <div class="label">"Paid within 24 h"</div>
                <div class="value" id="metric-paid-24h">{m.paid_within_24h}</div>
                <div class="hint">"Invoices paid no later than 24 hours after they were sent."</div>
            </div>
            <div class="figure">
                <div class="label">"Conversion (24 h)"</div>
                <div class="value" id="metric-conversion">{conversion}</div>
                <div class="hint">"Paid within 24 h ÷ invoices sent. Goal: over 70 %."</div>
            </div>
            <div class="figure">
                <div class="label">"Revenue"</div>
                <div class="value" id="metric-revenue">{revenue}</div>
                <div class="hint">"Total of paid invoices, shipping included."</div>
            </div>
            <div class="figure">
                <div class="label">"Manual reconciliations"</div>
                <div class="value" id="metric-manual">{m.manual_reconciliations}</div>
                <div class="hint">"Invoices a person marked paid. Goal: zero."</div>
            </div>
        </div>
    }
}
