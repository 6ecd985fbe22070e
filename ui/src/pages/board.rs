//! Ready to ship: paid orders by fulfilment stage.

use leptos::prelude::*;
use ziflow_protocol::Area;
use ziflow_protocol::ShipCard;

use crate::api;
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};
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
    crate::live::refetch_on(data, &[Area::Board]);
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
                    Ok(cards) => view! { <Board cards=cards refresh=Callback::new(move |()| data.refetch()) /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the board needs to move cards: whether to message the customer on Shipped, the
/// last move's error, and a refresh.
#[derive(Clone, Copy)]
struct Moves {
    notify: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    refresh: Callback<()>,
}

impl Moves {
    fn to(self, invoice_id: i64, stage: &'static str) {
        let notify = self.notify.get_untracked();
        leptos::task::spawn_local(async move {
            match api::move_order(invoice_id, stage, notify).await {
                Ok(()) => self.error.set(None),
                Err(e) => self.error.set(Some(e.message)),
            }
            self.refresh.run(());
        });
    }
}

#[component]
fn Board(cards: Vec<ShipCard>, refresh: Callback<()>) -> impl IntoView {
    let moves = Moves {
        notify: RwSignal::new(true),
        error: RwSignal::new(None),
        refresh,
    };
    view! {
        <div class="toolbar board-tools">
            <label class="check">
                <input id="notify-shipped" type="checkbox" prop:checked=moves.notify on:change=move |ev| moves.notify.set(event_target_checked(&ev)) />
                " Message the customer when an order is marked Shipped"
            </label>
            <span class="hint">"Drag a card to another column, or select it and press ← / →."</span>
        </div>
        {move || moves.error.get().map(|e| view! { <p id="board-error" class="error">{e}</p> })}
        <div class="board" id="ship-board">
            {COLUMNS
                .iter()
                .map(|(stage, title, empty)| {
                    let stage: &'static str = stage;
                    let in_column: Vec<ShipCard> = cards
                        .iter()
                        .filter(|c| c.stage == stage)
                        .cloned()
                        .collect();
                    let count = in_column.len();
                    let over = RwSignal::new(false);
                    view! {
                        <section
                            class="column"
                            class:drop-target=over
                            data-stage=stage
                            on:dragover=move |ev: leptos::ev::DragEvent| {
                                ev.prevent_default();
                                over.set(true);
                            }
                            on:dragleave=move |_| over.set(false)
                            on:drop=move |ev: leptos::ev::DragEvent| {
                                ev.prevent_default();
                                over.set(false);
                                let id = ev
                                    .data_transfer()
                                    .and_then(|d| d.get_data("text/plain").ok())
                                    .and_then(|t| t.parse::<i64>().ok());
                                if let Some(id) = id {
                                    moves.to(id, stage);
                                }
                            }
                        >
                            <h2>{*title} <span class="count">{count}</span></h2>
                            {if in_column.is_empty() {
                                view! { <div class="column-empty">{*empty}</div> }.into_any()
                            } else {
                                in_column.into_iter().map(|c| view! { <Card card=c moves /> }).collect_view().into_any()
                            }}
                        </section>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[component]
fn Card(card: ShipCard, moves: Moves) -> impl IntoView {
    let id = card.order_id;
    let at = COLUMNS
        .iter()
        .position(|(s, _, _)| *s == card.stage)
        .unwrap_or(0);
    let key = move |ev: leptos::ev::KeyboardEvent| {
        let next = match ev.key().as_str() {
            "ArrowRight" => COLUMNS.get(at + 1),
            "ArrowLeft" => at.checked_sub(1).and_then(|i| COLUMNS.get(i)),
            _ => None,
        };
        if let Some((stage, _, _)) = next {
            ev.prevent_default();
            moves.to(id, stage);
        }
    };
    view! {
        <article
            class="card"
            tabindex="0"
            draggable="true"
            data-order=card.invoice_number
            on:dragstart=move |ev: leptos::ev::DragEvent| {
                if let Some(d) = ev.data_transfer() {
                    let _ = d.set_data("text/plain", &id.to_string());
                }
            }
            on:keydown=key
        >
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
