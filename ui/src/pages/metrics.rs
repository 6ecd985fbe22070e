//! Metrics: the owner's figures for a period — conversion within 24 h, time from invoice to
//! payment, manual reconciliations, chat → payment, abandoned, revenue — with a chart per day
//! or week, each figure's definition a click away, and the figures as CSV.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::{MetricsBucket, MetricsSummary, Money};

use crate::api::{self, ApiError};
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};

/// The owner's figures.
#[component]
pub fn Metrics() -> impl IntoView {
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let weekly = RwSignal::new(false);
    let data = LocalResource::new(move || {
        let (f, t, w) = (from.get(), to.get(), weekly.get());
        async move { api::metrics_summary(&f, &t, w).await }
    });
    let (exported, set_exported) = signal(None::<Result<String, ApiError>>);
    let export = move |_| {
        let (f, t, w) = (
            from.get_untracked(),
            to.get_untracked(),
            weekly.get_untracked(),
        );
        spawn_local(async move { set_exported.set(Some(api::export_metrics(&f, &t, w).await)) });
    };
    // The period the figures came back with fills the pickers the first time.
    Effect::new(move |_| {
        if let Some(Ok(m)) = data.get() {
            if from.get_untracked().is_empty() {
                from.set(m.from.clone());
            }
            if to.get_untracked().is_empty() {
                to.set(m.to.clone());
            }
        }
    });
    view! {
        <PageHeader
            title="Metrics"
            subtitle="How chats turn into paid orders. Computed from your own records, to the cent."
        />
        <div class="toolbar metrics-tools">
            <label>"From " <input id="metrics-from" type="date" bind:value=from /></label>
            <label>"To " <input id="metrics-to" type="date" bind:value=to /></label>
            <select id="metrics-unit" on:change=move |ev| weekly.set(event_target_value(&ev) == "week")>
                <option value="day">"Per day"</option>
                <option value="week">"Per week"</option>
            </select>
            <button id="metrics-export" class="btn secondary" on:click=export>"Export CSV"</button>
            {move || exported.get().map(|r| match r {
                Ok(p) => view! { <span id="metrics-export-result" class="ok">"Saved to " <code>{p}</code></span> }.into_any(),
                Err(e) => view! { <span id="metrics-export-result" class="error">{e.message}</span> }.into_any(),
            })}
        </div>
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(m) if m.invoices == 0 && m.revenue.is_empty() && m.chats == 0 => {
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

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "—".into();
    }
    let tenths = part * 1000 / whole;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

fn duration(seconds: Option<i64>) -> String {
    match seconds {
        None => "—".into(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3600 => format!("{} min", s / 60),
        Some(s) if s < 48 * 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        Some(s) => format!("{} days", s / 86_400),
    }
}

/// One figure with its definition behind a click.
#[component]
fn Figure(
    id: &'static str,
    label: &'static str,
    value: String,
    definition: &'static str,
) -> impl IntoView {
    view! {
        <div class="figure">
            <div class="label">{label}</div>
            <div class="value" id=id>{value}</div>
            <details class="definition">
                <summary>"How is this counted?"</summary>
                <p>{definition}</p>
            </details>
        </div>
    }
}

#[component]
fn Figures(m: MetricsSummary) -> impl IntoView {
    let revenue = if m.revenue.is_empty() {
        "—".to_string()
    } else {
        m.revenue
            .iter()
            .map(Money::display)
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let currency = m.currency.clone();
    view! {
        <div class="figures" id="metrics-figures">
            <Figure id="metric-conversion" label="Invoice → payment (24 h)" value=percent(m.paid_within_24h, m.invoices)
                definition="Invoices sent in the period that were paid no later than 24 hours after sending, divided by the invoices sent in the period. Goal: over 70 %." />
            <Figure id="metric-invoices" label="Invoices sent" value=m.invoices.to_string()
                definition="Invoices whose pay link went out in the period (by the bot or a person)." />
            <Figure id="metric-paid-24h" label="Paid within 24 h" value=m.paid_within_24h.to_string()
                definition="Of the invoices sent in the period, those paid within 24 hours of sending; paid at exactly 24 h counts." />
            <Figure id="metric-avg-wait" label="Order → payment (average)" value=duration(m.avg_order_to_payment_s)
                definition="Mean time from sending the invoice to its payment, over the period's paid invoices. Goal: under 5 minutes." />
            <Figure id="metric-median-wait" label="Order → payment (median)" value=duration(m.median_order_to_payment_s)
                definition="The middle of the same times (half were paid faster): one slow payer does not move it." />
            <Figure id="metric-manual" label="Manual reconciliations" value=m.manual_reconciliations.to_string()
                definition="Invoices of the period a person marked paid instead of a provider's signed payment event. Goal: zero." />
            <Figure id="metric-chat" label="Chat → payment" value=percent(m.chats_paid, m.chats)
                definition="Customers who wrote in the period and later paid an invoice, divided by the customers who wrote." />
            <Figure id="metric-abandoned" label="Abandoned" value=percent(m.abandoned, m.invoices)
                definition="Invoices of the period still unpaid after their last payment reminder, divided by the invoices sent." />
            <Figure id="metric-revenue" label="Revenue" value=revenue
                definition="Total of the period's paid invoices, shipping included, before refunds." />
        </div>
        <div class="charts">
            <Chart id="chart-revenue" title="Revenue" buckets=m.buckets.clone()
                value=|b: &MetricsBucket| b.revenue_minor
                label=move |v: i64| Money::new(v, currency.clone()).display() />
            <Chart id="chart-conversion" title="Invoice → payment within 24 h (%)" buckets=m.buckets
                value=conversion_percent
                label=|v: i64| format!("{v}%") />
        </div>
    }
}

fn conversion_percent(b: &MetricsBucket) -> i64 {
    if b.invoices > 0 {
        b.paid_within_24h * 100 / b.invoices
    } else {
        0
    }
}

/// A bar chart a person reads at a glance: one bar per day or week, the highest labelled.
#[component]
fn Chart(
    id: &'static str,
    title: &'static str,
    buckets: Vec<MetricsBucket>,
    value: impl Fn(&MetricsBucket) -> i64 + 'static,
    label: impl Fn(i64) -> String + 'static,
) -> impl IntoView {
    let (w, h, pad) = (640_i64, 180_i64, 24_i64);
    let values: Vec<i64> = buckets.iter().map(&value).collect();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = i64::try_from(buckets.len()).unwrap_or(1).max(1);
    let slot = (w - 2 * pad) / n;
    let bar = (slot * 7 / 10).max(2);
    let peak = values.iter().copied().max().unwrap_or(0);
    view! {
        <figure class="chart" id=id>
            <figcaption>{title} <span class="hint">{format!(" — highest {}", label(peak))}</span></figcaption>
            <svg viewBox=format!("0 0 {w} {h}") role="img" aria-label=title>
                <line x1=pad y1=h - pad x2=w - pad y2=h - pad class="axis" />
                {buckets
                    .iter()
                    .zip(values.iter())
                    .enumerate()
                    .map(|(i, (b, v))| {
                        let i = i64::try_from(i).unwrap_or(0);
                        let bh = (h - 2 * pad) * v / max;
                        let x = pad + i * slot + (slot - bar) / 2;
                        view! {
                            <rect x=x y=h - pad - bh width=bar height=bh.max(0) data-day=b.label.clone() data-value=*v>
                                <title>{format!("{}: {}", b.label, label(*v))}</title>
                            </rect>
                        }
                    })
                    .collect_view()}
                <text x=pad y=h - 6 class="tick">{buckets.first().map(|b| b.label.clone()).unwrap_or_default()}</text>
                <text x=w - pad y=h - 6 class="tick end">{buckets.last().map(|b| b.label.clone()).unwrap_or_default()}</text>
            </svg>
        </figure>
    }
}
