//! Settings → Notifications: who hears about a payment (and the other events the rules
//! announce) on Telegram, Slack, email or this desktop; a test button per channel showing the
//! provider's answer; a template per event; the latest deliveries, failures and retries.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::automation::{channel_label, NotificationsView, NotifyTemplateView};
use ziflow_protocol::Area;
use ziflow_protocol::Command;

use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Loading};
use crate::format;
use crate::pages::agent::unknown_variable;

/// The section (the owner's).
#[component]
pub fn NotificationsSection() -> impl IntoView {
    let data = LocalResource::new(api::get_notifications);
    view! {
        <section id="notifications" class="panel">
            <h2>"Notifications"</h2>
            <p class="hint">"The automation rules say when (CRM → Automations; a payment notifies every channel that is on). Secrets are kept sealed on the relay; only a hint comes back."</p>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <Channels v /> }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                    }
                })}
            </Transition>
            <Recent />
        </section>
    }
}

/// Save and Test for one channel, and what came back.
#[component]
fn ChannelButtons(channel: &'static str, save: Callback<(), Command>) -> impl IntoView {
    let (result, set_result) = signal(None::<Result<(bool, String), ApiError>>);
    let (busy, set_busy) = signal(false);
    let run = move |test: bool| {
        set_busy.set(true);
        let command = save.run(());
        spawn_local(async move {
            // A test goes out with what is on the screen: saved first.
            let saved = api::save_notify_channel(&command).await;
            let r = match saved {
                Ok(_) if test => api::test_notify(channel).await,
                other => other.map(|m| (true, m)),
            };
            set_result.set(Some(r));
            set_busy.set(false);
        });
    };
    view! {
        <div class="row-buttons">
            <button id=format!("notify-{channel}-save") class="btn" type="button" disabled=move || busy.get() on:click=move |_| run(false)>"Save"</button>
            <button id=format!("notify-{channel}-test") class="btn secondary" type="button" disabled=move || busy.get() on:click=move |_| run(true)>"Send a test"</button>
        </div>
        {move || result.get().map(|r| {
            let (ok, text) = match r {
                Ok((ok, answer)) => (ok, answer),
                Err(e) => (false, e.message),
            };
            view! {
                <p id=format!("notify-{channel}-result") class=if ok { "ok" } else { "error" } data-ok=ok.to_string()>{text}</p>
            }
        })}
    }
}

/// A channel's fields as typed.
#[derive(Default)]
struct Form {
    chat_id: Option<String>,
    secret: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn set_command(channel: &str, enabled: bool, f: Form) -> Command {
    Command::NotifySet {
        channel: channel.into(),
        enabled,
        chat_id: f.chat_id,
        secret: f.secret,
        host: f.host,
        port: f.port,
        username: f.username,
        from: f.from,
        to: f.to,
    }
}

fn some(text: String) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

#[component]
fn Channels(v: NotificationsView) -> impl IntoView {
    let s = v.settings;
    let tg_on = RwSignal::new(s.telegram.enabled);
    let tg_chat = RwSignal::new(s.telegram.chat_id.clone());
    let tg_token = RwSignal::new(String::new());
    let sl_on = RwSignal::new(s.slack.enabled);
    let sl_url = RwSignal::new(String::new());
    let em_on = RwSignal::new(s.email.enabled);
    let em_host = RwSignal::new(s.email.host.clone());
    let em_port = RwSignal::new(if s.email.port == 0 {
        "587".to_string()
    } else {
        s.email.port.to_string()
    });
    let em_user = RwSignal::new(s.email.username.clone());
    let em_pass = RwSignal::new(String::new());
    let em_from = RwSignal::new(s.email.from.clone());
    let em_to = RwSignal::new(s.email.to.join(", "));
    let desk_on = RwSignal::new(s.desktop);
    let telegram = Callback::new(move |()| {
        set_command(
            "telegram",
            tg_on.get_untracked(),
            Form {
                chat_id: Some(tg_chat.get_untracked()),
                secret: some(tg_token.get_untracked()),
                ..Form::default()
            },
        )
    });
    let slack = Callback::new(move |()| {
        set_command(
            "slack",
            sl_on.get_untracked(),
            Form {
                secret: some(sl_url.get_untracked()),
                ..Form::default()
            },
        )
    });
    let email = Callback::new(move |()| {
        set_command(
            "email",
            em_on.get_untracked(),
            Form {
                host: Some(em_host.get_untracked()),
                port: em_port.get_untracked().trim().parse().ok(),
                username: Some(em_user.get_untracked()),
                secret: some(em_pass.get_untracked()),
                from: Some(em_from.get_untracked()),
                to: Some(em_to.get_untracked()),
                ..Form::default()
            },
        )
    });
    let desktop =
        Callback::new(move |()| set_command("desktop", desk_on.get_untracked(), Form::default()));
    let hint = |h: &str, none: &'static str| {
        if h.is_empty() {
            none.to_string()
        } else {
            format!("stored: {h} (leave empty to keep it)")
        }
    };
    let vars = StoredValue::new(v.variables);
    view! {
        <div class="channels-grid">
            <fieldset id="notify-telegram">
                <legend>"Telegram"</legend>
                <label class="check"><input id="notify-telegram-enabled" type="checkbox" prop:checked=tg_on on:change=move |ev| tg_on.set(event_target_checked(&ev)) />"On"</label>
                <label>"Chat ID" <input id="notify-telegram-chat" placeholder="-1001234567890 or @channel" bind:value=tg_chat /></label>
                <label>"Bot token" <input id="notify-telegram-token" type="password" autocomplete="off" placeholder=hint(&s.telegram.token_hint, "from @BotFather") bind:value=tg_token /></label>
                <ChannelButtons channel="telegram" save=telegram />
            </fieldset>
            <fieldset id="notify-slack">
                <legend>"Slack"</legend>
                <label class="check"><input id="notify-slack-enabled" type="checkbox" prop:checked=sl_on on:change=move |ev| sl_on.set(event_target_checked(&ev)) />"On"</label>
                <label>"Incoming webhook" <input id="notify-slack-url" type="password" autocomplete="off" placeholder=hint(&s.slack.url_hint, "https://hooks.slack.com/services/…") bind:value=sl_url /></label>
                <ChannelButtons channel="slack" save=slack />
            </fieldset>
            <fieldset id="notify-email">
                <legend>"Email (SMTP with STARTTLS)"</legend>
                <label class="check"><input id="notify-email-enabled" type="checkbox" prop:checked=em_on on:change=move |ev| em_on.set(event_target_checked(&ev)) />"On"</label>
                <label>"Server" <input id="notify-email-host" placeholder="smtp.example.com" bind:value=em_host /></label>
                <label>"Port" <input id="notify-email-port" inputmode="numeric" bind:value=em_port /></label>
                <label>"Login" <input id="notify-email-user" autocomplete="off" bind:value=em_user /></label>
                <label>"Password" <input id="notify-email-password" type="password" autocomplete="off" placeholder=if s.email.password_set { "stored (leave empty to keep it)" } else { "" } bind:value=em_pass /></label>
                <label>"From" <input id="notify-email-from" placeholder="ZiFlow <alerts@yourshop.com>" bind:value=em_from /></label>
                <label>"To" <input id="notify-email-to" placeholder="owner@yourshop.com, rep@yourshop.com" bind:value=em_to /></label>
                <ChannelButtons channel="email" save=email />
            </fieldset>
            <fieldset id="notify-desktop">
                <legend>"This desktop"</legend>
                <label class="check"><input id="notify-desktop-enabled" type="checkbox" prop:checked=desk_on on:change=move |ev| desk_on.set(event_target_checked(&ev)) />"Show OS notifications on the shop's desks"</label>
                <ChannelButtons channel="desktop" save=desktop />
            </fieldset>
        </div>
        <h3>"What each event says"</h3>
        <p class="hint">"Variables: " {vars.get_value().iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(" ")} ". Empty: the built-in text."</p>
        <ul class="notify-templates">
            {v.templates.into_iter().map(|t| view! { <TemplateRow t vars /> }).collect_view()}
        </ul>
    }
}

#[component]
fn TemplateRow(t: NotifyTemplateView, vars: StoredValue<Vec<String>>) -> impl IntoView {
    let event = StoredValue::new(t.event.clone());
    let text = RwSignal::new(t.text.clone());
    let problem = move || {
        let now = text.get();
        (!now.trim().is_empty())
            .then(|| unknown_variable(&now, &vars.get_value()))
            .flatten()
    };
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let save = move |_| {
        let now = text.get_untracked();
        spawn_local(async move {
            set_result.set(Some(
                api::save_notify_template(&event.get_value(), &now).await,
            ))
        });
    };
    view! {
        <li data-event=t.event.clone()>
            <strong>{t.label.clone()}</strong>
            <input class="notify-template" bind:value=text placeholder=t.default_text.clone() />
            <button class="btn secondary notify-template-save" disabled=move || problem().is_some() on:click=save>"Save"</button>
            {move || problem().map(|p| view! { <span class="template-problem error">{p}</span> })}
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <span class="template-result ok">{m}</span> }.into_any(),
                Err(e) => view! { <span class="template-result error">{e.message}</span> }.into_any(),
            })}
        </li>
    }
}

/// The latest deliveries: sent, retrying (with the attempt and the provider's answer) or failed.
#[component]
fn Recent() -> impl IntoView {
    let data = LocalResource::new(api::get_notifications);
    crate::live::refetch_on(data, &[Area::Notifications]);
    view! {
        <h3>"Latest notifications"</h3>
        {move || data.get().and_then(Result::ok).map(|v| {
            if v.recent.is_empty() {
                return view! { <p class="hint" id="notify-recent-empty">"None yet. They show here with the provider's answer, and failures with their retries."</p> }.into_any();
            }
            view! {
                <table class="list" id="notify-recent">
                    <thead><tr><th>"When"</th><th>"Channel"</th><th>"Says"</th><th>"State"</th><th>"Provider's answer"</th></tr></thead>
                    <tbody>
                        {v.recent.into_iter().map(|n| {
                            let state = match n.state.as_str() {
                                "sent" => "Sent".to_string(),
                                "retrying" => format!("Retrying (attempt {} failed)", n.attempts),
                                _ => format!("Failed after {} attempt(s)", n.attempts),
                            };
                            view! {
                                <tr data-channel=n.channel.clone() data-state=n.state.clone()>
                                    <td><small>{format::datetime(n.at)}</small></td>
                                    <td>{channel_label(&n.channel).to_string()}</td>
                                    <td>{n.text}</td>
                                    <td class=format!("notify-state {}", n.state)>{state}</td>
                                    <td><small>{n.answer}</small></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
}
