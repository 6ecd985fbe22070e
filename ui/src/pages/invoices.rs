//! Invoices: what was billed, to whom, and whether it is paid.

use leptos::prelude::*;

use crate::api;
use crate::components::{refresh_every, EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

/// The invoice list.
#[component]
pub fn Invoices() -> impl IntoView {
    let data = LocalResource::new(api::list_invoices);
    refresh_every(data, std::time::Duration::from_secs(2));
    view! {
        <PageHeader
            title="Invoices"
            subtitle="Every invoice with its pay link and status. Payments mark them paid automatically."
        />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => {
                        view! {
                            <EmptyState
                                id="empty-invoices"
                                title="No invoices yet"
                                lines=&[
                                    "An invoice appears here the moment the bot sends a pay link, after a customer confirms an order or books with a deposit.",
                                    "It turns Paid by itself when the payment arrives — no bank app needed.",
                                ]
                            />
                        }
                            .into_any()
                    }
                    Ok(list) => {
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
                                            view! {
                                                <tr>
                                                    <td>"#" {i.number}</td>
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
                            .into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}
