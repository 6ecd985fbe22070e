//! Inbox: the handoff queue, every customer conversation (newest activity first), and the
//! selected conversation's thread with the bot/human switch and a reply box.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::ConversationSummary;

use crate::api::{self, ApiError};
use crate::components::{refresh_every, EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

/// The conversation inbox.
#[component]
pub fn Inbox() -> impl IntoView {
    let data = LocalResource::new(api::list_conversations);
    refresh_every(data, std::time::Duration::from_secs(2));
    let selected = RwSignal::new(None::<String>);
    view! {
        <PageHeader
            title="Inbox"
            subtitle="Customer chats. The bot answers on its own; you see everything it says and can take over any chat."
        />
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
            <span class="when">{if c.bot_enabled { "Bot on" } else { "Human" }}</span>
        </li>
    }
}

/// One conversation: its messages, who answers, and a reply box (Enter sends).
#[component]
fn Thread(phone: String, on_changed: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let who = StoredValue::new(phone);
    let messages =
        LocalResource::new(move || async move { api::conversation_thread(&who.get_value()).await });
    refresh_every(messages, std::time::Duration::from_secs(1));
    let list = LocalResource::new(api::list_conversations);
    refresh_every(list, std::time::Duration::from_secs(2));
    let text = RwSignal::new(String::new());
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
            <div class="messages" id="thread-messages">
                {move || match messages.get() {
                    Some(Ok(ms)) => {
                        ms.into_iter()
                            .map(|m| {
                                view! {
                                    <p class=format!("bubble-msg {}", m.direction)>
                                        {m.text}
                                        <small>{format::time(m.at)}</small>
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
