//! Ready to ship: paid orders by fulfilment stage.

use leptos::prelude::*;
use ziflow_protocol::ShipCard;

use crate::api;
use crate::components::{refresh_every, EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

const COLUMNS: [(&str, &str, &str); 3] = [
    (
        "ready_to_ship",
        "Ready to ship",
        "Paid orders waiting to be packed.",
    ),
    ("shipped", "Shipped", "Handed to the courier."),
    ("delivered", "Delivered", "Received by the customer."),
];

/// The fulfilment board.
#[component]
pub fn ReadyToShip() -> impl IntoView {
    let data = LocalResource::new(api::list_ship_board);
    refresh_every(data, std::time::Duration::from_secs(2));
    view! {
        <PageHeader
            title="Ready to ship"
            subtitle="Paid orders land here on their own, with items, address and amount."
        />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(cards) if cards.is_empty() => {
                        view! {
                            <EmptyState
                                id="empty-board"
                                title="Nothing to ship yet"
                                lines=&[
                                    "When a customer pays an invoice, the order appears here in Ready to ship within seconds, with its items, address and amount.",
                                    "Move it to Shipped and Delivered as it goes out the door.",
                                ]
                            />
                        }
                            .into_any()
                    }
                    Ok(cards) => view! { <Board cards=cards /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Board(cards: Vec<ShipCard>) -> impl IntoView {
    view! {
        <div class="board" id="ship-board">
            {COLUMNS
                .iter()
                .map(|(stage, title, empty)| {
                    let in_column: Vec<ShipCard> = cards
                        .iter()
                        .filter(|c| c.stage == *stage)
                        .cloned()
                        .collect();
                    let count = in_column.len();
                    view! {
                        <section class="column" data-stage=*stage>
                            <h2>{*title} <span class="count">{count}</span></h2>
                            {if in_column.is_empty() {
                                view! { <div class="column-empty">{*empty}</div> }.into_any()
                            } else {
                                in_column.into_iter().map(|c| view! { <Card card=c /> }).collect_view().into_any()
                            }}
                        </section>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[component]
fn Card(card: ShipCard) -> impl IntoView {
    view! {
        <article class="card">
            <div class="card-title">
                <span>"#" {card.invoice_number}</span>
                <span>{card.amount.display()}</span>
            </div>
            <ul>{card.items.into_iter().map(|i| view! { <li>{i}</li> }).collect_view()}</ul>
            <div class="meta">{card.address}</div>
            <div class="meta">"Paid " {format::datetime(card.paid_at)}</div>
        </article>
    }
}
