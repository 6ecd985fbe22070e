//! The shell: a sidebar with one entry per screen, and the screen that is showing.

use leptos::prelude::*;

use crate::api;
use crate::pages;

/// The screens of the app, in sidebar order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Inbox,
    Invoices,
    ReadyToShip,
    Payments,
    Crm,
    Metrics,
    Agent,
    Settings,
}

impl Screen {
    const ALL: [Screen; 8] = [
        Screen::Inbox,
        Screen::Invoices,
        Screen::ReadyToShip,
        Screen::Payments,
        Screen::Crm,
        Screen::Metrics,
        Screen::Agent,
        Screen::Settings,
    ];

    fn label(self) -> &'static str {
        match self {
            Screen::Inbox => "Inbox",
            Screen::Invoices => "Invoices",
            Screen::ReadyToShip => "Ready to ship",
            Screen::Payments => "Payments",
            Screen::Crm => "CRM",
            Screen::Metrics => "Metrics",
            Screen::Agent => "AI Agent",
            Screen::Settings => "Settings",
        }
    }

    /// Stable id for tests and accessibility (`nav-inbox`, `nav-ready-to-ship`, …).
    fn slug(self) -> &'static str {
        match self {
            Screen::Inbox => "inbox",
            Screen::Invoices => "invoices",
            Screen::ReadyToShip => "ready-to-ship",
            Screen::Payments => "payments",
            Screen::Crm => "crm",
            Screen::Metrics => "metrics",
            Screen::Agent => "agent",
            Screen::Settings => "settings",
        }
    }
}

/// Moving between screens from inside one (provided by [`App`]): the inbox's "Send pay
/// link" opens the invoice composer for its customer.
#[derive(Debug, Clone, Copy)]
pub struct Navigate {
    /// The screen showing.
    pub screen: WriteSignal<Screen>,
    /// The customer the composer should start with, once.
    pub compose_for: RwSignal<Option<String>>,
}

/// The order a clicked notification asked to show (provided by [`App`]).
#[derive(Debug, Clone, Copy)]
pub struct FocusedOrder(pub RwSignal<Option<i64>>);

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let (screen, set_screen) = signal(Screen::Inbox);
    let info = LocalResource::new(api::app_info);
    let sync = LocalResource::new(api::sync_status);
    crate::components::refresh_every(sync, std::time::Duration::from_secs(2));
    // Pairing can switch the shop; the sidebar follows within seconds.
    crate::components::refresh_every(info, std::time::Duration::from_secs(2));
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
