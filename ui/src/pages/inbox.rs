//! Inbox: every customer conversation, newest activity first.

use leptos::prelude::*;

use crate::api;
use crate::components::{refresh_every, EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;

/// The conversation inbox.
#[component]
pub fn Inbox() -> impl IntoView {
    let data = LocalResource::new(api::list_conversations);
    refresh_every(data, std::time::Duration::from_secs(2));
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
                        view! {
                            <ul class="conversations" id="conversation-list">
                                {list
                                    .into_iter()
                                    .map(|c| {
                                        let phone = format::phone(&c.customer_phone);
                                        let (who, also) = match c.customer_name.clone() {
                                            Some(name) => (name, Some(phone)),
                                            None => (phone, None),
                                        };
                                        view! {
                                            <li class="conversation">
                                                <span class="who">
                                                    {who}
                                                    {also.map(|p| view! { <span class="phone">{p}</span> })}
                                                    {(c.unread > 0)
                                                        .then(|| view! { <span class="unread">{c.unread}</span> })}
                                                </span>
                                                <span class="when">{format::datetime(c.last_message_at)}</span>
                                                <span class="preview">{c.last_message}</span>
                                                <span class="when">
                                                    {if c.bot_enabled { "Bot on" } else { "Human" }}
                                                </span>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}
