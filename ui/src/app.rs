//! The shell: a sidebar with one entry per screen, and the screen that is showing.

use leptos::prelude::*;

use ziflow_protocol::Area;

use crate::api;
use crate::nav::{FocusedOrder, Navigate, Screen};
use crate::pages;

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let (screen, set_screen) = signal(Screen::Inbox);
    let info = LocalResource::new(api::app_info);
    crate::live::provide();
    let sync = LocalResource::new(api::sync_status);
    crate::live::refetch_on_status(sync);
    // Pairing can switch the shop (the backend then tells both); the sidebar follows.
    crate::live::refetch_on_status(info);
    crate::live::refetch_on(info, &[Area::Settings]);
    // A clicked payment notification brings the window forward (the backend) and opens the
    // payment feed on its order (here).
    let focused = RwSignal::new(None::<i64>);
    provide_context(FocusedOrder(focused));
    provide_context(Navigate {
        screen: set_screen,
        compose_for: RwSignal::new(None),
    });
    let seen_clicks = StoredValue::new(None::<u64>);
    Effect::new(move |_| {
        if let Some(Ok(s)) = sync.get() {
            let before = seen_clicks.get_value();
            seen_clicks.set_value(Some(s.focus_seq));
            if before.is_some_and(|b| s.focus_seq > b) {
                focused.set(s.focus_order);
                set_screen.set(Screen::Payments);
            }
        }
    });

    view! {
        <div class="shell">
            <nav class="sidebar" aria-label="Screens">
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"Z"</span>
                    "ZiFlow"
                </div>
                {Screen::ALL
                    .into_iter()
                    .map(|s| {
                        // Metrics and the agent's setup are the owner's.
                        let hidden = move || {
                            matches!(s, Screen::Metrics | Screen::Agent)
                                && info.get().and_then(Result::ok).is_some_and(|i| i.role == "rep")
                        };
                        view! {
                            <button
                                id=format!("nav-{}", s.slug())
                                class="nav-item"
                                hidden=hidden
                                class:active=move || screen.get() == s
                                aria-current=move || (screen.get() == s).then_some("page")
                                on:click=move |_| set_screen.set(s)
                            >
                                {s.label()}
                            </button>
                        }
                    })
                    .collect_view()}
                <div class="sidebar-foot">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let (class, text) = match sync.await {
                                Ok(s) => {
                                    let when = s
                                        .last_synced_at
                                        .map(|t| format!(" — last synced {}", crate::format::time(t)))
                                        .unwrap_or_default();
                                    match s.state.as_str() {
                                        "online" => ("sync online", format!("Online{when}")),
                                        "offline" => ("sync offline", format!("Offline{when}")),
                                        "revoked" => ("sync offline", "Signed out by the shop owner".to_string()),
                                        _ => ("sync", "Connecting…".to_string()),
                                    }
                                }
                                Err(e) => ("sync offline", e.message),
                            };
                            view! { <div id="sync-status" class=class>{text}</div> }
                        })}
                    </Transition>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match info.await {
                                Ok(info) => {
                                    view! {
                                        <div id="shop-name">{info.shop_name}</div>
                                        <div>"Version " {info.version}</div>
                                        {info
                                            .sandbox
                                            .then(|| {
                                                view! { <span class="badge-sandbox">"Sandbox mode"</span> }
                                            })}
                                    }
                                        .into_any()
                                }
                                Err(e) => view! { <div>{e.message}</div> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </nav>
            <main class="main" id="screen" data-screen=move || screen.get().slug()>
                {move || match screen.get() {
                    Screen::Inbox => view! { <pages::inbox::Inbox /> }.into_any(),
                    Screen::Invoices => view! { <pages::invoices::Invoices /> }.into_any(),
                    Screen::ReadyToShip => view! { <pages::board::ReadyToShip /> }.into_any(),
                    Screen::Payments => view! { <pages::payments::Payments /> }.into_any(),
                    Screen::Crm => view! { <pages::crm::Crm /> }.into_any(),
                    Screen::Metrics => view! { <pages::metrics::Metrics /> }.into_any(),
                    Screen::Agent => view! { <pages::agent::Agent /> }.into_any(),
                    Screen::Settings => view! { <pages::settings::Settings /> }.into_any(),
                }}
            </main>
        </div>
    }
}
