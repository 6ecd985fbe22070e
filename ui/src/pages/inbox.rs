//! Inbox: the handoff queue, every customer conversation (newest activity first), and the
//! selected conversation's thread with the bot/human switch and a reply box.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::Area;
use ziflow_protocol::ConversationSummary;

use crate::api::{self, ApiError};
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

/// The conversation inbox.
#[component]
pub fn Inbox() -> impl IntoView {
    let data = LocalResource::new(api::list_conversations);
    crate::live::refetch_on(data, &[Area::Conversations]);
    let selected = RwSignal::new(None::<String>);
    let query = RwSignal::new(String::new());
    let hits = LocalResource::new(move || {
        let q = query.get();
        async move {
            if q.trim().is_empty() {
                Ok(Vec::new())
            } else {
                api::search_conversations(&q).await
            }
        }
    });
    // Up/down move between conversations (outside text fields); Ctrl+K searches.
    let order = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        if let Some(Ok(list)) = data.get() {
            order.set(list.into_iter().map(|c| c.customer_phone).collect());
        }
    });
    let search_box = NodeRef::<leptos::html::Input>::new();
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        let key = ev.key();
        if (ev.ctrl_key() || ev.meta_key()) && key.eq_ignore_ascii_case("k") {
            ev.prevent_default();
            if let Some(input) = search_box.get_untracked() {
                let _ = input.focus();
                input.select();
            }
            return;
        }
        let typing = document()
            .active_element()
            .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        if typing || !(key == "ArrowDown" || key == "ArrowUp") {
            return;
        }
        ev.prevent_default();
        let list = order.get_untracked();
        if list.is_empty() {
            return;
        }
        let at = selected
            .get_untracked()
            .and_then(|p| list.iter().position(|x| *x == p));
        let next = match (at, key.as_str()) {
            (None, _) => 0,
            (Some(i), "ArrowDown") => (i + 1).min(list.len() - 1),
            (Some(i), _) => i.saturating_sub(1),
        };
        selected.set(list.get(next).cloned());
    });
    on_cleanup(move || keys.remove());
    view! {
        <PageHeader
            title="Inbox"
            subtitle="Customer chats. The bot answers on its own; you see everything it says and can take over any chat."
        />
        <div class="toolbar">
            <input
                id="inbox-search"
                node_ref=search_box
                type="search"
                placeholder="Search all messages (Ctrl+K)"
                autocomplete="off"
                bind:value=query
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        query.set(String::new());
                    }
                }
            />
        </div>
        {move || {
            (!query.get().trim().is_empty())
                .then(|| {
                    view! {
                        <ul class="conversations" id="search-results">
                            {move || match hits.get() {
                                Some(Ok(list)) if list.is_empty() => {
                                    view! { <li class="hint">"No message matches."</li> }.into_any()
                                }
                                Some(Ok(list)) => {
                                    list.into_iter()
                                        .map(|h| {
                                            let phone = h.customer_phone.clone();
                                            view! {
                                                <li
                                                    class="conversation"
                                                    data-phone=h.customer_phone.clone()
                                                    on:click=move |_| selected.set(Some(phone.clone()))
                                                >
                                                    <span class="who">{format::phone(&h.customer_phone)}</span>
                                                    <span class="when">{format::datetime(h.at)}</span>
                                                    <span class="preview">{h.snippet}</span>
                                                </li>
                                            }
                                        })
                                        .collect_view()
                                        .into_any()
                                }
                                Some(Err(e)) => view! { <li class="error">{e.message}</li> }.into_any(),
                                None => view! { <li><Loading /></li> }.into_any(),
                            }}
                        </ul>
                    }
                })
        }}
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => {
                        view! {
                            <EmptyState
                                id="empty-inbox"
                                title="No conversations yet"
                                lines=&[
                                    "When a customer writes to your shop on WhatsApp, the chat appears here, with the bot's replies, the quote and the pay link it sent.",
                                    "Connect your WhatsApp number in Settings, or try it with the sandbox customer chat.",
                                ]
                            />
                        }
                            .into_any()
                    }
                    Ok(list) => {
                        let queue: Vec<ConversationSummary> = list
                            .iter()
                            .filter(|c| !c.bot_enabled && c.handoff_reason.is_some())
                            .cloned()
                            .collect();
                        view! {
                            {(!queue.is_empty())
                                .then(|| {
                                    view! {
                                        <section class="handoff-queue" id="handoff-queue">
                                            <h2>"Needs a person"</h2>
                                            <ul>
                                                {queue
                                                    .into_iter()
                                                    .map(|c| {
                                                        let phone = c.customer_phone.clone();
                                                        view! {
                                                            <li on:click=move |_| selected.set(Some(phone.clone()))>
                                                                <strong>{format::phone(&c.customer_phone)}</strong>
                                                                " — "
                                                                {c.handoff_reason.clone().unwrap_or_default()}
                                                            </li>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </ul>
                                        </section>
                                    }
                                })}
                            <ul class="conversations" id="conversation-list">
                                {list.into_iter().map(|c| view! { <Row c selected /> }).collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
        {move || selected.get().map(|phone| view! { <Thread phone on_changed=move || data.refetch() /> })}
    }
}

#[component]
fn Row(c: ConversationSummary, selected: RwSignal<Option<String>>) -> impl IntoView {
    let phone = format::phone(&c.customer_phone);
    let (who, also) = match c.customer_name.clone() {
        Some(name) => (name, Some(phone)),
        None => (phone, None),
    };
    let key = c.customer_phone.clone();
    let key2 = key.clone();
    view! {
        <li
            class="conversation"
            class:selected=move || selected.get().as_deref() == Some(key.as_str())
            data-phone=c.customer_phone.clone()
            on:click=move |_| selected.set(Some(key2.clone()))
        >
            <span class="who">
                {who}
                {also.map(|p| view! { <span class="phone">{p}</span> })}
                {(c.unread > 0).then(|| view! { <span class="unread">{c.unread}</span> })}
            </span>
            <span class="when">{format::datetime(c.last_message_at)}</span>
            <span class="preview">{c.last_message}</span>
            <span class="badges">
                <span class="stage" data-stage=c.stage.clone()>{c.stage.clone()}</span>
                <span class=if c.bot_enabled { "who-answers bot" } else { "who-answers human" }>
                    {if c.bot_enabled { "Bot" } else { "Human" }}
                </span>
                {c.opted_out.then(|| view! { <span class="opted-out" title="The customer wrote STOP">"Opted out"</span> })}
                {c.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}
            </span>
        </li>
    }
}

/// Replies a rep sends often (picked into the reply box, where they can be edited).
const CANNED: &[&str] = &[
    "Thanks for your order! It's being prepared now.",
    "Your order is on its way.",
    "Sorry for the wait — I'm checking this for you now.",
    "Could you send the delivery address, please?",
    "¡Gracias por tu pedido! Ya lo estamos preparando.",
];

/// One conversation: its messages, who answers, and a reply box (Enter sends).
#[component]
fn Thread(phone: String, on_changed: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let who = StoredValue::new(phone);
    let messages =
        LocalResource::new(move || async move { api::conversation_thread(&who.get_value()).await });
    crate::live::refetch_on_customer(messages, who.get_value());
    let list = LocalResource::new(api::list_conversations);
    crate::live::refetch_on(list, &[Area::Conversations]);
    let lead = LocalResource::new(move || async move { api::lead_view(&who.get_value()).await });
    crate::live::refetch_on(lead, &[Area::Leads]);
    let text = RwSignal::new(String::new());
    let nav = use_context::<crate::nav::Navigate>();
    let (outcome, set_outcome) = signal(None::<Result<(), ApiError>>);
    let bot_on = move || {
        list.get()
            .and_then(Result::ok)
            .and_then(|l| l.into_iter().find(|c| c.customer_phone == who.get_value()))
            .map(|c| c.bot_enabled)
    };
    let send = move || {
        let t = text.get_untracked();
        if t.trim().is_empty() {
            return;
        }
        spawn_local(async move {
            let r = api::send_message(&who.get_value(), &t).await;
            if r.is_ok() {
                text.set(String::new());
                messages.refetch();
                on_changed();
            }
            set_outcome.set(Some(r));
        });
    };
    // Save as bot test: this chat's customer messages and the ending they must have.
    let test_name = RwSignal::new(String::new());
    let test_ending = RwSignal::new("as_now".to_string());
    let (test_note, set_test_note) = signal(None::<Result<String, ApiError>>);
    let save_test = move || {
        let (name, ending) = (test_name.get_untracked(), test_ending.get_untracked());
        spawn_local(async move {
            let r = api::save_bot_test(&who.get_value(), &name, &ending).await;
            if r.is_ok() {
                test_name.set(String::new());
            }
            set_test_note.set(Some(r));
        });
    };
    let toggle = move |_| {
        let enable = !bot_on().unwrap_or(true);
        spawn_local(async move {
            let r = api::set_bot(&who.get_value(), enable).await;
            list.refetch();
            on_changed();
            set_outcome.set(Some(r));
        });
    };
    view! {
        <section class="thread" id="thread-view" data-phone=who.get_value()>
            <header>
                <h2>{format::phone(&who.get_value())}</h2>
                <button
                    id="bot-toggle"
                    class="btn secondary"
                    data-bot=move || match bot_on() { Some(true) => "on", Some(false) => "off", None => "" }
                    on:click=toggle
                >
                    {move || match bot_on() {
                        Some(false) => "Give back to the bot",
                        _ => "Take over from the bot",
                    }}
                </button>
            </header>
            {move || lead.get().and_then(Result::ok).flatten().map(|l| view! {
                <details class="lead" id="lead">
                    <summary>
                        <span class="stage" data-stage=l.stage.clone()>{l.stage.clone()}</span>
                        {l.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}
                        {l.fields.iter().map(|(k, v)| view! { <span class="field">{format!("{k}: {v}")}</span> }).collect_view()}
                        <span class="hint">" History"</span>
                    </summary>
                    <ol id="lead-history">
                        {l.history.iter().map(|(at, what)| view! {
                            <li><small>{format::datetime(*at)}</small> " " {what.clone()}</li>
                        }).collect_view()}
                    </ol>
                </details>
            })}
            <div class="messages" id="thread-messages">
                {move || match messages.get() {
                    Some(Ok(ms)) => {
                        ms.into_iter()
                            .map(|m| {
                                let (tick, label) = match m.status.as_deref() {
                                    Some("queued") => ("…", "Waiting to be sent"),
                                    Some("accepted") => ("✓", "Accepted by WhatsApp"),
                                    Some("sent") => ("✓", "Sent"),
                                    Some("delivered") => ("✓✓", "Delivered"),
                                    Some("read") => ("✓✓", "Read"),
                                    Some("failed") => ("!", "Not delivered"),
                                    _ => ("", ""),
                                };
                                let title = match &m.error {
                                    Some(e) => format!("{label}: {e}"),
                                    None => label.to_string(),
                                };
                                view! {
                                    <p class=format!("bubble-msg {}", m.direction)>
                                        {m.text}
                                        <small>
                                            {m.author.filter(|a| a == "bot").map(|_| "Bot · ")}
                                            {format::time(m.at)}
                                            {m.status.clone().map(|st| view! {
                                                <span class="status" data-status=st title=title>{tick}</span>
                                            })}
                                        </small>
                                        {m.error.map(|e| view! { <span class="send-error">{e}</span> })}
                                    </p>
                                }
                            })
                            .collect_view()
                            .into_any()
                    }
                    Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                    None => view! { <Loading /> }.into_any(),
                }}
            </div>
            <details class="save-test" id="save-test">
                <summary>"Save as bot test"</summary>
                <input id="save-test-name" placeholder="Name, e.g. two white mugs to Doral" bind:value=test_name />
                <select id="save-test-ending" bind:value=test_ending>
                    <option value="as_now">"Must end as it does now"</option>
                    <option value="handoff">"Must hand off to a person"</option>
                    <option value="no_invoice">"Must send no invoice"</option>
                </select>
                <button id="save-test-submit" class="btn secondary" type="button" on:click=move |_| save_test()>"Save test"</button>
                {move || test_note.get().map(|r| match r {
                    Ok(t) => view! { <p id="save-test-result" class="ok">{t}</p> }.into_any(),
                    Err(e) => view! { <p id="save-test-result" class="error">{e.message}</p> }.into_any(),
                })}
            </details>
            <div class="reply-tools">
                <select
                    id="canned-replies"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if !v.is_empty() {
                            text.set(v);
                        }
                    }
                >
                    <option value="">"Canned replies…"</option>
                    {CANNED.iter().map(|c| view! { <option value=*c>{*c}</option> }).collect_view()}
                </select>
                <button
                    id="send-pay-link"
                    class="btn secondary"
                    type="button"
                    on:click=move |_| {
                        if let Some(nav) = nav {
                            nav.compose_for.set(Some(who.get_value()));
                            nav.screen.set(crate::nav::Screen::Invoices);
                        }
                    }
                >
                    "Send pay link…"
                </button>
            </div>
            <form
                class="reply"
                on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    send();
                }
            >
                <input id="reply-text" placeholder="Write to the customer — Enter sends" autocomplete="off" bind:value=text />
                <button id="reply-send" class="btn primary" type="submit">"Send"</button>
            </form>
            {move || {
                outcome
                    .get()
                    .and_then(|r| r.err())
                    .map(|e| view! { <p id="reply-error" class="error">{e.message}</p> })
            }}
        </section>
    }
}
