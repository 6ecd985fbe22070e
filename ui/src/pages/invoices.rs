//! Invoices: compose and send one, see every invoice with its pay link and status, refund.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::Area;
use ziflow_protocol::ErrorCode;
use ziflow_protocol::{
    ComposerData, DraftItem, DraftPreview, InvoiceDraft, InvoiceSent, InvoiceSummary, Money,
    Subscription,
};

use crate::api::{self, ApiError};
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

/// The invoice screen: the composer on demand, the list, and the selected invoice.
#[component]
pub fn Invoices() -> impl IntoView {
    let data = LocalResource::new(api::list_invoices);
    crate::live::refetch_on(data, &[Area::Invoices]);
    let selected = RwSignal::new(None::<i64>);
    // "Send pay link" in the inbox opens the composer for its customer.
    let asked = use_context::<crate::nav::Navigate>()
        .is_some_and(|n| n.compose_for.with_untracked(Option::is_some));
    let composing = RwSignal::new(asked);
    // The open invoice, redrawn only when it changed (a sync about another invoice keeps what
    // is typed in its refund form), and the last refund's outcome, which outlives the redraw
    // its own refund causes.
    let current = Memo::new(move |_| {
        let id = selected.get()?;
        data.get()?.ok()?.into_iter().find(|i| i.id == id)
    });
    let refund = RwSignal::new(None::<(i64, Result<String, ApiError>)>);
    view! {
        <PageHeader
            title="Invoices"
            subtitle="Compose an invoice with a pay link, or watch the bot's. Payments mark them paid automatically."
        />
        <div class="toolbar">
            <button
                id="new-invoice"
                class="btn primary"
                on:click=move |_| composing.update(|c| *c = !*c)
            >
                {move || if composing.get() { "Close the composer" } else { "New invoice" }}
            </button>
        </div>
        // Outside the Transition: the list's refresh never resets what is being composed.
        <Show when=move || composing.get()>
            <Composer on_sent=move |id| {
                data.refetch();
                selected.set(Some(id));
            } />
        </Show>
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => {
                        view! {
                            <EmptyState
                                id="empty-invoices"
                                title="No invoices yet"
                                lines=&[
                                    "An invoice appears here the moment the bot sends a pay link, after a customer confirms an order or books with a deposit — or when you press New invoice.",
                                    "It turns Paid by itself when the payment arrives — no bank app needed.",
                                ]
                            />
                        }
                            .into_any()
                    }
                    Ok(list) => view! { <InvoiceTable list selected /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
        {move || {
            current
                .get()
                .map(|inv| view! { <InvoiceDetail inv refund on_close=move || selected.set(None) /> })
        }}
    }
}

#[component]
fn InvoiceTable(list: Vec<InvoiceSummary>, selected: RwSignal<Option<i64>>) -> impl IntoView {
    view! {
        <table class="list" id="invoice-list">
            <thead>
                <tr>
                    <th>"Invoice"</th>
                    <th>"Customer"</th>
                    <th>"Created"</th>
                    <th>"Status"</th>
                    <th class="num">"Total"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|i| {
                        let id = i.id;
                        let kind = if i.kind == "subscription" {
                            format!(" · {}", i.cadence.clone().unwrap_or_default())
                        } else {
                            String::new()
                        };
                        view! {
                            <tr
                                class="clickable"
                                class:selected=move || selected.get() == Some(id)
                                data-invoice=i.number
                                on:click=move |_| selected.set(Some(id))
                            >
                                <td>"#" {i.number} <small>{kind}</small></td>
                                <td>{format::phone(&i.customer_phone)}</td>
                                <td>{format::datetime(i.created_at)}</td>
                                <td>
                                    <span class=format!("status {}", i.status.as_str())>
                                        {i.status.label()}
                                    </span>
                                </td>
                                <td class="num">{i.total.display()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// One invoice: its items, link, state, and refunds.
#[component]
fn InvoiceDetail(
    inv: InvoiceSummary,
    /// The last refund's outcome and its invoice (kept by the page).
    refund: RwSignal<Option<(i64, Result<String, ApiError>)>>,
    on_close: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let refund_text = RwSignal::new(String::new());
    let (busy, set_busy) = signal(false);
    let currency = inv.total.currency.clone();
    let refundable = matches!(inv.status.as_str(), "paid" | "partially_refunded")
        && inv.paid_via.as_deref() == Some("webhook");
    let left = Money::new(inv.total.minor - inv.refunded.minor, currency.clone());
    let id = inv.id;
    let on_refund = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = refund_text.get_untracked();
        let amount = if text.trim().is_empty() {
            None
        } else {
            match Money::parse(&text, &currency) {
                Some(a) => Some(a),
                None => {
                    refund.set(Some((
                        id,
                        Err(ApiError::new(
                            ErrorCode::BadAmount,
                            format!("{text:?} is not an amount; type it like 50 or 12.50"),
                        )),
                    )));
                    return;
                }
            }
        };
        set_busy.set(true);
        spawn_local(async move {
            let outcome = api::refund_invoice(id, amount).await;
            refund.set(Some((id, outcome)));
            let _ = set_busy.try_set(false); // gone if its own refund redrew it
        });
    };
    let provider = match inv.provider.as_deref() {
        Some("stripe") => "Stripe",
        Some("sandbox") => "Sandbox pay page",
        Some(other) => other,
        None => "—",
    }
    .to_string();
    view! {
        <section class="detail" id="invoice-detail" data-invoice=inv.number data-status=inv.status.as_str()>
            <header>
                <h2>"Invoice #" {inv.number}</h2>
                <button class="btn secondary" on:click=move |_| on_close()>"Close"</button>
            </header>
            <dl>
                <dt>"Customer"</dt>
                <dd>{format::phone(&inv.customer_phone)}</dd>
                <dt>"Status"</dt>
                <dd>
                    <span id="detail-status" class=format!("status {}", inv.status.as_str())>
                        {inv.status.label()}
                    </span>
                </dd>
                <dt>"Items"</dt>
                <dd>
                    <ul class="items">
                        {inv.items.iter().map(|l| view! { <li>{l.clone()}</li> }).collect_view()}
                    </ul>
                </dd>
                <dt>"Total"</dt>
                <dd>{inv.total.display()}</dd>
                {(inv.kind == "subscription")
                    .then(|| view! { <dt>"Charges"</dt><dd>{inv.cadence.clone().unwrap_or_default()}</dd> })}
                <dt>"Pay link"</dt>
                <dd id="detail-link">
                    {match inv.link.clone() {
                        Some(l) => view! { <code>{l}</code> }.into_any(),
                        None => view! { <span>"Not sent yet"</span> }.into_any(),
                    }}
                </dd>
                <dt>"Link expires"</dt>
                <dd>{inv.link_expires_at.map(format::datetime).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Provider"</dt>
                <dd>{provider}</dd>
                {inv.send_error
                    .clone()
                    .map(|why| view! { <dt>"Not sent"</dt><dd id="detail-send-error" class="error">{why}</dd> })}
                {(inv.refunded.minor > 0)
                    .then(|| view! { <dt>"Refunded"</dt><dd id="detail-refunded">{inv.refunded.display()}</dd> })}
            </dl>
            {refundable
                .then(|| {
                    view! {
                        <form id="refund-form" class="inline-form" on:submit=on_refund>
                            <label>
                                "Refund amount (blank: all " {left.display()} ")"
                                <input id="refund-amount" inputmode="decimal" placeholder=left.plain() bind:value=refund_text />
                            </label>
                            <button id="refund-submit" class="btn" type="submit" disabled=move || busy.get()>
                                {move || if busy.get() { "Refunding…" } else { "Refund" }}
                            </button>
                        </form>
                    }
                })}
            {move || {
                refund
                    .get()
                    .filter(|(of, _)| *of == id)
                    .map(|(_, r)| match r {
                        Ok(text) => view! { <p id="refund-result" class="ok">{text}</p> }.into_any(),
                        Err(e) => view! { <p id="refund-result" class="error">{e.message}</p> }.into_any(),
                    })
            }}
        </section>
    }
}

/// A line being composed: catalog sku, variant, quantity.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    sku: String,
    variant: Option<String>,
    qty: i64,
}

/// The invoice composer: customer, catalog items, shipping, one-time or subscription, the
/// message as the customer will read it, and Send.
#[component]
fn Composer(on_sent: impl Fn(i64) + Copy + Send + Sync + 'static) -> impl IntoView {
    let data = LocalResource::new(api::composer_data);
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <ComposerForm data=d on_sent /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ComposerForm(
    data: ComposerData,
    on_sent: impl Fn(i64) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let currency = data.currency.clone();
    let products = StoredValue::new(data.products.clone());
    let start_phone = use_context::<crate::nav::Navigate>()
        .and_then(|n| n.compose_for.try_update(Option::take).flatten())
        .unwrap_or_default();
    let phone = RwSignal::new(start_phone);
    let search = RwSignal::new(String::new());
    let lines = RwSignal::new(Vec::<Line>::new());
    let first_zone = data
        .zones
        .first()
        .map(|z| z.price.plain())
        .unwrap_or_else(|| "0".into());
    let zone = RwSignal::new(0usize);
    let shipping = RwSignal::new(first_zone);
    let address = RwSignal::new(String::new());
    let kind = RwSignal::new("one_time".to_string());
    let every_count = RwSignal::new("1".to_string());
    let every_unit = RwSignal::new("month".to_string());
    let first_date = RwSignal::new(format::today_iso());
    let preview = RwSignal::new(None::<Result<DraftPreview, ApiError>>);
    let (sending, set_sending) = signal(false);
    let (sent, set_sent) = signal(None::<Result<InvoiceSent, ApiError>>);
    let zones = StoredValue::new(data.zones.clone());

    let cur = StoredValue::new(currency.clone());
    let draft = move || -> Result<InvoiceDraft, String> {
        let shipping_minor = Money::parse(&shipping.get(), &cur.get_value())
            .ok_or_else(|| format!("shipping {:?} is not an amount", shipping.get()))?;
        let subscription = if kind.get() == "subscription" {
            let count: u32 = every_count
                .get()
                .trim()
                .parse()
                .map_err(|_| "how often: a whole number".to_string())?;
            let first_charge_at = format::date_to_unix(&first_date.get())
                .ok_or_else(|| "choose the first charge date".to_string())?;
            Some(Subscription {
                unit: every_unit.get(),
                count,
                first_charge_at,
            })
        } else {
            None
        };
        Ok(InvoiceDraft {
            customer_phone: phone.get().trim().replace([' ', '-', '(', ')'], ""),
            items: lines
                .get()
                .into_iter()
                .map(|l| DraftItem {
                    sku: l.sku,
                    variant: l.variant,
                    qty: l.qty,
                })
                .collect(),
            shipping_minor,
            address: Some(address.get()),
            subscription,
        })
    };
    // The preview follows every change; only the answer for the current draft counts.
    Effect::new(move |_| match draft() {
        Ok(d) => {
            spawn_local(async move {
                let answer = api::preview_invoice(&d).await;
                if draft().as_ref() == Ok(&d) {
                    preview.set(Some(answer));
                }
            });
        }
        Err(why) => preview.set(Some(Ok(DraftPreview {
            total: None,
            message: None,
            error: Some(why),
        }))),
    });

    let add = move |sku: String| {
        let variant = products.with_value(|ps| {
            ps.iter()
                .find(|p| p.sku == sku)
                .and_then(|p| p.variants.first().cloned())
        });
        lines.update(
            |ls| match ls.iter_mut().find(|l| l.sku == sku && l.variant == variant) {
                Some(l) => l.qty += 1,
                None => ls.push(Line {
                    sku,
                    variant,
                    qty: 1,
                }),
            },
        );
        search.set(String::new());
    };
    let matches = move || {
        let q = search.get().trim().to_lowercase();
        products.with_value(|ps| {
            ps.iter()
                .filter(|p| {
                    q.is_empty()
                        || p.name.to_lowercase().contains(&q)
                        || p.sku.to_lowercase().contains(&q)
                        || p.aliases.iter().any(|a| a.to_lowercase().contains(&q))
                })
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let on_send = move |_| {
        let Ok(d) = draft() else { return };
        set_sending.set(true);
        set_sent.set(None);
        spawn_local(async move {
            let r = api::send_invoice(&d).await;
            if let Ok(s) = &r {
                on_sent(s.invoice_id);
                lines.set(Vec::new());
            }
            set_sent.set(Some(r));
            set_sending.set(false);
        });
    };
    let can_send = move || {
        !sending.get()
            && matches!(preview.get(), Some(Ok(ref p)) if p.error.is_none() && p.message.is_some())
    };

    let no_provider = data.payment_provider == "none";
    view! {
        <section class="composer" id="composer">
            <h2>"New invoice"</h2>
            {no_provider
                .then(|| {
                    view! {
                        <p class="error" id="composer-no-provider">
                            "No payment provider connected: pay links cannot be sent until the owner connects Stripe (Settings → Billing). Until then the bot hands confirmed orders to a person."
                        </p>
                    }
                })}
            <div class="composer-grid">
                <div class="composer-form">
                    <label>
                        "Customer"
                        <input
                            id="composer-phone"
                            list="composer-customers"
                            placeholder="+1 512 555 0123"
                            autocomplete="off"
                            bind:value=phone
                        />
                        <datalist id="composer-customers">
                            {data
                                .customers
                                .iter()
                                .map(|c| {
                                    let label = c.name.clone().unwrap_or_default();
                                    view! { <option value=c.phone.clone()>{label}</option> }
                                })
                                .collect_view()}
                        </datalist>
                    </label>
                    <label>
                        "Add items"
                        <input
                            id="composer-search"
                            type="search"
                            placeholder="Search the catalog: name, sku or alias"
                            autocomplete="off"
                            bind:value=search
                        />
                    </label>
                    <ul class="results" id="composer-results">
                        {move || {
                            matches()
                                .into_iter()
                                .map(|p| {
                                    let sku = p.sku.clone();
                                    view! {
                                        <li>
                                            <button type="button" data-sku=p.sku.clone() on:click=move |_| add(sku.clone())>
                                                <span>{p.name.clone()}</span>
                                                <small>{p.sku.clone()}</small>
                                                <span class="num">{p.price.display()}</span>
                                            </button>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                    <table class="list lines" id="composer-lines">
                        <tbody>
                            {move || {
                                lines
                                    .get()
                                    .into_iter()
                                    .enumerate()
                                    .map(|(n, l)| {
                                        let product = products
                                            .with_value(|ps| ps.iter().find(|p| p.sku == l.sku).cloned());
                                        let (name, variants, price) = product
                                            .map(|p| (p.name, p.variants, p.price))
                                            .unwrap_or_else(|| (l.sku.clone(), Vec::new(), Money::new(0, "USD")));
                                        let line_total = Money::new(price.minor.saturating_mul(l.qty), price.currency.clone());
                                        let chosen = l.variant.clone().unwrap_or_default();
                                        view! {
                                            <tr data-sku=l.sku.clone()>
                                                <td>{name}</td>
                                                <td>
                                                    {(!variants.is_empty())
                                                        .then(|| {
                                                            view! {
                                                                <select
                                                                    class="line-variant"
                                                                    prop:value=chosen.clone()
                                                                    on:change=move |ev| {
                                                                        let v = event_target_value(&ev);
                                                                        lines.update(|ls| ls[n].variant = Some(v));
                                                                    }
                                                                >
                                                                    {variants
                                                                        .iter()
                                                                        .map(|v| {
                                                                            view! {
                                                                                <option value=v.clone() selected=*v == chosen>
                                                                                    {v.clone()}
                                                                                </option>
                                                                            }
                                                                        })
                                                                        .collect_view()}
                                                                </select>
                                                            }
                                                        })}
                                                </td>
                                                <td>
                                                    <input
                                                        class="line-qty"
                                                        type="number"
                                                        min="1"
                                                        prop:value=l.qty.to_string()
                                                        on:input=move |ev| {
                                                            if let Ok(q) = event_target_value(&ev).parse::<i64>() {
                                                                lines.update(|ls| ls[n].qty = q);
                                                            }
                                                        }
                                                    />
                                                </td>
                                                <td class="num">{line_total.display()}</td>
                                                <td>
                                                    <button
                                                        type="button"
                                                        class="btn secondary line-remove"
                                                        aria-label="Remove"
                                                        on:click=move |_| lines.update(|ls| {
                                                            ls.remove(n);
                                                        })
                                                    >
                                                        "×"
                                                    </button>
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </tbody>
                    </table>
                    <div class="row">
                        <label>
                            "Shipping zone"
                            <select
                                id="composer-zone"
                                on:change=move |ev| {
                                    if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                                        zone.set(i);
                                        if let Some(z) = zones.with_value(|zs| zs.get(i).cloned()) {
                                            shipping.set(z.price.plain());
                                        }
                                    }
                                }
                            >
                                {zones
                                    .get_value()
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, z)| {
                                        view! {
                                            <option value=i.to_string() selected=move || zone.get() == i>
                                                {format!("{} — {}", z.name, z.price.display())}
                                            </option>
                                        }
                                    })
                                    .collect_view()}
                            </select>
                        </label>
                        <label>
                            "Shipping"
                            <input id="composer-shipping" inputmode="decimal" bind:value=shipping />
                        </label>
                    </div>
                    <label>
                        "Delivery address"
                        <input id="composer-address" placeholder="123 Oak St." bind:value=address />
                    </label>
                    <div class="row">
                        <label>
                            "Type"
                            <select id="composer-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                                <option value="one_time" selected=true>"One-time"</option>
                                <option value="subscription">"Subscription"</option>
                            </select>
                        </label>
                        <Show when=move || kind.get() == "subscription">
                            <label>
                                "Every"
                                <input id="composer-every-count" type="number" min="1" bind:value=every_count />
                            </label>
                            <label>
                                "Unit"
                                <select id="composer-every-unit" on:change=move |ev| every_unit.set(event_target_value(&ev))>
                                    <option value="day">"days"</option>
                                    <option value="week">"weeks"</option>
                                    <option value="month" selected=true>"months"</option>
                                </select>
                            </label>
                            <label>
                                "First charge"
                                <input id="composer-first-charge" type="date" bind:value=first_date />
                            </label>
                        </Show>
                    </div>
                </div>
                <aside class="composer-preview">
                    <p class="total">
                        "Total "
                        <strong id="composer-total">
                            {move || match preview.get() {
                                Some(Ok(DraftPreview { total: Some(t), .. })) => t.display(),
                                _ => "—".into(),
                            }}
                        </strong>
                    </p>
                    <small>"The customer reads:"</small>
                    {move || match preview.get() {
                        Some(Ok(DraftPreview { message: Some(m), error: None, .. })) => {
                            view! { <p class="bubble" id="composer-preview">{m}</p> }.into_any()
                        }
                        Some(Ok(DraftPreview { error: Some(why), .. })) => {
                            view! { <p class="hint" id="composer-missing">{why}</p> }.into_any()
                        }
                        Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                        _ => view! { <p class="hint">"…"</p> }.into_any(),
                    }}
                    <button id="composer-send" class="btn primary" disabled=move || !can_send() on:click=on_send>
                        {move || if sending.get() { "Sending…" } else { "Send invoice" }}
                    </button>
                    {move || {
                        sent.get()
                            .map(|r| match r {
                                Ok(s) => {
                                    let head = format!("Invoice #{} sent.", s.number);
                                    view! {
                                        <div id="composer-result" class="ok" data-invoice=s.number>
                                            <p>{head}</p>
                                            {s.message.map(|m| view! { <p class="bubble" id="composer-sent-message">{m}</p> })}
                                            {s.pending.map(|p| view! { <p class="hint">{p}</p> })}
                                        </div>
                                    }
                                        .into_any()
                                }
                                Err(e) => view! { <p id="composer-result" class="error">{e.message}</p> }.into_any(),
                            })
                    }}
                </aside>
            </div>
        </section>
    }
}
