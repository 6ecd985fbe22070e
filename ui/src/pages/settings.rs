//! Settings: the shop, its providers, and updates.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::Area;
use ziflow_protocol::UpdateCheck;

use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Loading, PageHeader};

/// The settings screen.
#[component]
pub fn Settings() -> impl IntoView {
    let data = LocalResource::new(api::get_settings);
    let info = LocalResource::new(api::app_info);
    view! {
        <PageHeader title="Settings" subtitle="Your shop, how it takes payments and talks to customers, and updates." />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match (data.await, info.await) {
                    (Ok(s), Ok(info)) => {
                        let provider = match s.payment_provider.as_str() {
                            "sandbox" => "Sandbox — no real money moves".to_string(),
                            "none" => "None — connect Stripe to send pay links".to_string(),
                            other => other.to_string(),
                        };
                        let channel = match s.channel.as_str() {
                            "sandbox" => "Sandbox customer chat".to_string(),
                            "none" => "None — connect a WhatsApp number".to_string(),
                            other => other.to_string(),
                        };
                        view! {
                            <div class="settings" id="settings">
                                <section>
                                    <h2>"Shop"</h2>
                                    <dl>
                                        <dt>"Name"</dt>
                                        <dd id="setting-shop-name">{s.shop_name}</dd>
                                        <dt>"Currency"</dt>
                                        <dd>{s.currency}</dd>
                                        <dt>"Time zone"</dt>
                                        <dd>{s.timezone}</dd>
                                    </dl>
                                </section>
                                <section>
                                    <h2>"Billing and channels"</h2>
                                    <dl>
                                        <dt>"Accept payments"</dt>
                                        <dd id="setting-provider">{provider}</dd>
                                        <dt>"Customer messages"</dt>
                                        <dd id="setting-channel">{channel}</dd>
                                    </dl>
                                </section>
                                <section>
                                    <h2>"App"</h2>
                                    <dl>
                                        <dt>"Version"</dt>
                                        <dd id="setting-version">{info.version}</dd>
                                        <dt>"Database"</dt>
                                        <dd>{info.database_path}</dd>
                                        <dt>"Update server"</dt>
                                        <dd>{s.update_endpoint.unwrap_or_else(|| "Not configured — set [update] endpoint in config.toml".into())}</dd>
                                    </dl>
                                    <UpdateCheckButton />
                                </section>
                            </div>
                        }
                            .into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        view! {
                            <ErrorPanel
                                error=e
                                on_retry=move |()| {
                                    data.refetch();
                                    info.refetch();
                                }
                            />
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
        // Outside the Transition, so a refetch above never resets what is being typed.
        <RelaySection on_changed=move || {
            data.refetch();
            info.refetch();
        } />
        <BillingSection on_changed=move || data.refetch() />
        <WhatsappSection on_changed=move || data.refetch() />
        <Show when=move || info.get().and_then(Result::ok).is_none_or(|i| i.role != "rep")>
            <crate::pages::notifications::NotificationsSection />
            <crate::pages::housekeeping::DevicesSection />
            <crate::pages::housekeeping::SetAsideSection />
        </Show>
        <InvoiceTemplateSection />
    }
}

/// WhatsApp: connect a Cloud API number (checked with Meta by the relay), the webhook address
/// to paste into Meta, or back to the sandbox chat.
#[component]
fn WhatsappSection(on_changed: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let status = LocalResource::new(api::whatsapp_status);
    crate::live::refetch_on(status, &[Area::Settings]);
    let number = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let (busy, set_busy) = signal(false);
    let (note, set_note) = signal(None::<Result<String, ApiError>>);
    let done = move |r: Result<String, ApiError>| {
        set_note.set(Some(r));
        status.refetch();
        on_changed();
        set_busy.set(false);
    };
    let connect = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        set_note.set(None);
        let (n, t, s) = (
            number.get_untracked(),
            token.get_untracked(),
            secret.get_untracked(),
        );
        spawn_local(async move {
            let r = api::connect_whatsapp(&n, &t, &s).await;
            if r.is_ok() {
                token.set(String::new());
                secret.set(String::new());
            }
            done(r);
        });
    };
    let disconnect = move |_| {
        set_busy.set(true);
        spawn_local(async move { done(api::disconnect_whatsapp().await) });
    };
    view! {
        <div class="settings">
            <section id="whatsapp">
                <h2>"WhatsApp"</h2>
                {move || status.get().map(|r| match r {
                    Ok(w) => {
                        let on = w.channel == "whatsapp";
                        view! {
                            <p id="whatsapp-channel" data-channel=w.channel.clone()>
                                {if on {
                                    format!(
                                        "Connected: {} ({}). Customers write to this number; the bot answers there.",
                                        w.display_phone_number.clone().unwrap_or_default(),
                                        w.verified_name.clone().unwrap_or_default(),
                                    )
                                } else {
                                    "Not connected: customers reach the shop through the sandbox chat.".to_string()
                                }}
                            </p>
                            <p class="hint">
                                "In Meta's App Dashboard → WhatsApp → Configuration, set the Callback URL to "
                                <code id="whatsapp-webhook-url">{w.webhook_url}</code>
                                " with the verify token from ziflow-relay shop create, and subscribe to messages."
                            </p>
                            {on.then(|| view! {
                                <button id="whatsapp-disconnect" class="btn secondary" disabled=busy on:click=disconnect>
                                    "Back to the sandbox chat"
                                </button>
                            })}
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                })}
                <form class="connect" on:submit=connect>
                    <label>"Phone number ID" <input id="whatsapp-number" inputmode="numeric" autocomplete="off" bind:value=number /></label>
                    <label>"Access token" <input id="whatsapp-token" type="password" autocomplete="off" bind:value=token /></label>
                    <label>"App secret (optional, to change it)" <input id="whatsapp-secret" type="password" autocomplete="off" bind:value=secret /></label>
                    <button id="whatsapp-connect" class="btn primary" type="submit" disabled=busy>
                        {move || if busy.get() { "Checking with Meta…" } else { "Connect" }}
                    </button>
                </form>
                {move || note.get().map(|r| match r {
                    Ok(m) => view! { <p id="whatsapp-result" class="ok">{m}</p> }.into_any(),
                    Err(e) => view! { <p id="whatsapp-result" class="error">{e.message}</p> }.into_any(),
                })}
            </section>
        </div>
    }
}

/// Billing → Accept payments: connect Stripe with a key (checked step by step), the webhook
/// address to paste into Stripe and its signing secret, the invoice types.
#[component]
fn BillingSection(on_changed: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let status = LocalResource::new(api::billing_status);
    // The provider changes when the relay's event reaches this desk's replica.
    crate::live::refetch_on(status, &[Area::Settings]);
    let key = RwSignal::new(String::new());
    let whsec = RwSignal::new(String::new());
    let (busy, set_busy) = signal(false);
    let (result, set_result) = signal(None::<Result<ziflow_protocol::ConnectResult, ApiError>>);
    let (note, set_note) = signal(None::<Result<String, ApiError>>);
    let (copied, set_copied) = signal(false);
    let done = move || {
        status.refetch();
        on_changed();
        set_busy.set(false);
    };
    let connect = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        set_result.set(None);
        set_note.set(None);
        let k = key.get_untracked();
        spawn_local(async move {
            let r = api::connect_stripe(&k).await;
            if matches!(r, Ok(ref c) if c.connected) {
                key.set(String::new());
            }
            set_result.set(Some(r));
            done();
        });
    };
    let save_secret = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        let s = whsec.get_untracked();
        spawn_local(async move {
            let r = api::save_webhook_secret(&s).await;
            if r.is_ok() {
                whsec.set(String::new());
            }
            set_note.set(Some(r));
            done();
        });
    };
    let disconnect = move |_| {
        set_busy.set(true);
        set_result.set(None);
        spawn_local(async move {
            set_note.set(Some(api::disconnect_stripe().await));
            done();
        });
    };
    view! {
        <div class="settings">
            <section id="billing">
                <h2>"Billing → Accept payments"</h2>
                {move || {
                    status
                        .get()
                        .map(|r| match r {
                            Ok(b) => {
                                let connected = b.provider == "stripe";
                                let what = if connected {
                                    format!(
                                        "Stripe, {} mode — key {}",
                                        b.mode.clone().unwrap_or_default(),
                                        b.key_hint.clone().unwrap_or_default()
                                    )
                                } else {
                                    "Sandbox pay page — no real money moves. Connect Stripe to take real payments."
                                        .to_string()
                                };
                                let url = b.webhook_url.clone();
                                let copy_url = url.clone();
                                view! {
                                    <p id="billing-provider" data-provider=b.provider.clone()>{what}</p>
                                    {connected
                                        .then(|| {
                                            view! {
                                                <button id="billing-disconnect" class="btn secondary" disabled=move || busy.get() on:click=disconnect>
                                                    "Use the sandbox instead"
                                                </button>
                                            }
                                        })}
                                    <h3>"Webhook"</h3>
                                    <p class="hint">
                                        "In Stripe: Developers → Webhooks → Add endpoint, paste this address, choose the checkout.session.*, payment_intent.*, invoice.paid, invoice.payment_failed and charge.refunded events, then paste the signing secret below."
                                    </p>
                                    <div class="copy-row">
                                        <input id="billing-webhook-url" readonly prop:value=url />
                                        <button
                                            id="billing-copy"
                                            type="button"
                                            class="btn secondary"
                                            on:click=move |_| {
                                                set_copied.set(crate::components::copy_to_clipboard(&copy_url));
                                            }
                                        >
                                            {move || if copied.get() { "Copied" } else { "Copy" }}
                                        </button>
                                    </div>
                                    <p class="hint" id="billing-secret-state">
                                        {match b.webhook_secret_hint.clone() {
                                            Some(h) => format!("Signing secret saved ({h})."),
                                            None => "The sandbox signs with a secret of its own; paste Stripe's when you connect.".into(),
                                        }}
                                    </p>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        })
                }}
                <form id="billing-connect-form" class="pair-form" on:submit=connect>
                    <label>
                        "Stripe secret or restricted key"
                        <input id="billing-key" type="password" autocomplete="off" placeholder="sk_test_… or rk_live_…" required bind:value=key />
                    </label>
                    <button id="billing-connect" class="btn primary" type="submit" disabled=move || busy.get()>
                        {move || if busy.get() { "Checking with Stripe…" } else { "Connect Stripe" }}
                    </button>
                </form>
                <p class="hint">
                    "Test keys are checked with a $1 charge to Stripe's test card, refunded at once. Live keys are checked with a read-only call: no card is charged."
                </p>
                {move || {
                    result
                        .get()
                        .map(|r| match r {
                            Ok(c) => {
                                view! {
                                    <div id="billing-result" class=if c.connected { "ok" } else { "error" } data-connected=c.connected.to_string()>
                                        <p>{c.message.clone()}</p>
                                        <ul id="billing-steps">
                                            {c.steps
                                                .into_iter()
                                                .map(|s| {
                                                    view! {
                                                        <li data-step=s.step.clone() data-ok=s.ok.to_string()>
                                                            {if s.ok { "✓ " } else { "✗ " }}
                                                            {s.detail}
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p id="billing-result" class="error">{e.message}</p> }.into_any(),
                        })
                }}
                <form id="billing-secret-form" class="pair-form" on:submit=save_secret>
                    <label>
                        "Webhook signing secret"
                        <input id="billing-whsec" type="password" autocomplete="off" placeholder="whsec_…" required bind:value=whsec />
                    </label>
                    <button id="billing-whsec-save" class="btn" type="submit" disabled=move || busy.get()>"Save secret"</button>
                </form>
                {move || {
                    note.get()
                        .map(|r| match r {
                            Ok(t) => view! { <p id="billing-note" class="ok">{t}</p> }.into_any(),
                            Err(e) => view! { <p id="billing-note" class="error">{e.message}</p> }.into_any(),
                        })
                }}
                <h3>"Invoice types"</h3>
                <ul class="plain">
                    <li>"One-time — one payment through the pay link."</li>
                    <li>"Subscription — every N days, weeks or months from a first charge date (Stripe: recurring prices with a trial until that date)."</li>
                </ul>
            </section>
        </div>
    }
}

/// Which relay this desktop syncs with, and pairing with another one.
#[component]
fn RelaySection(on_changed: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let status = LocalResource::new(api::sync_status);
    let url = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let (busy, set_busy) = signal(false);
    let (outcome, set_outcome) = signal(None::<Result<String, ApiError>>);
    let finish = move |r: Result<ziflow_protocol::SyncStatusView, ApiError>, done: &str| {
        let r = r.map(|s| format!("{done} {}", s.relay_url));
        if r.is_ok() {
            token.set(String::new());
            on_changed();
        }
        set_outcome.set(Some(r));
        set_busy.set(false);
        status.refetch();
    };
    let pair = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        set_outcome.set(None);
        let (u, t) = (url.get_untracked(), token.get_untracked());
        spawn_local(async move {
            finish(api::pair_relay(&u, &t).await, "Paired with");
        });
    };
    let unpair = move |_| {
        set_busy.set(true);
        set_outcome.set(None);
        spawn_local(async move {
            finish(
                api::unpair_relay().await,
                "Back on this computer's own relay at",
            );
        });
    };
    view! {
        <div class="settings">
        <section id="relay-settings">
            <h2>"Relay"</h2>
            {move || {
                status
                    .get()
                    .map(|s| match s {
                        Ok(s) if s.mode == "paired" => {
                            view! {
                                <p id="relay-mode" data-mode="paired">
                                    "Synced with the relay at " <code>{s.relay_url}</code>
                                    ". The device token is kept in the system keyring."
                                </p>
                                <button id="relay-unpair" class="btn" disabled=move || busy.get() on:click=unpair>
                                    "Use this computer only"
                                </button>
                            }
                                .into_any()
                        }
                        Ok(_) => {
                            view! {
                                <p id="relay-mode" data-mode="local">
                                    "This computer runs its own relay (local mode). To share a shop between desks, or to take payments while this computer sleeps, pair it with a relay: ask the owner for its address and a device token ("
                                    <code>"ziflow-relay device add"</code> ")."
                                </p>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    })
            }}
            <form id="pair-form" class="pair-form" on:submit=pair>
                <label>
                    "Relay address"
                    <input id="pair-url" type="url" placeholder="https://relay.example.com" required bind:value=url />
                </label>
                <label>
                    "Device token"
                    <input id="pair-token" type="password" autocomplete="off" required bind:value=token />
                </label>
                <button id="pair-submit" class="btn primary" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Checking with the relay…" } else { "Pair" }}
                </button>
            </form>
            {move || {
                outcome
                    .get()
                    .map(|r| match r {
                        Ok(text) => view! { <p id="pair-result" class="ok" data-outcome="paired">{text}</p> }.into_any(),
                        Err(e) => {
                            view! { <p id="pair-result" class="error" data-outcome=e.code.as_str()>{e.message}</p> }
                                .into_any()
                        }
                    })
            }}
        </section>
        </div>
    }
}

/// Templates → Invoice: the message that carries the pay link, checked as it is typed.
#[component]
fn InvoiceTemplateSection() -> impl IntoView {
    let text = RwSignal::new(String::new());
    let view_state = RwSignal::new(None::<Result<ziflow_protocol::TemplateView, ApiError>>);
    let (saved, set_saved) = signal(None::<Result<(), ApiError>>);
    spawn_local(async move {
        let loaded = api::get_invoice_template().await;
        if let Ok(v) = &loaded {
            text.set(v.text.clone());
        }
        view_state.set(Some(loaded));
    });
    let on_input = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        text.set(value.clone());
        set_saved.set(None);
        spawn_local(async move {
            let checked = api::preview_invoice_template(&value).await;
            // Only the answer for what is in the box now counts.
            if text.get_untracked() == value {
                view_state.set(Some(checked));
            }
        });
    };
    let invalid = move || !matches!(view_state.get(), Some(Ok(ref v)) if v.error.is_none());
    let on_save = move |_| {
        let value = text.get_untracked();
        spawn_local(async move {
            let r = api::save_invoice_template(&value).await;
            set_saved.set(Some(r.map(|_| ())));
        });
    };
    view! {
        <div class="settings">
            <section id="invoice-template">
                <h2>"Templates → Invoice"</h2>
                <p class="hint">
                    "The message that carries the pay link. Variables: {items} {amount} {link} {expires} {order} {customer} {shop}."
                </p>
                <textarea
                    id="template-text"
                    rows="4"
                    prop:value=move || text.get()
                    on:input=on_input
                ></textarea>
                {move || match view_state.get() {
                    Some(Ok(v)) => match (v.preview, v.error) {
                        (_, Some(why)) => view! { <p id="template-error" class="error">{why}</p> }.into_any(),
                        (Some(preview), None) => {
                            view! {
                                <div class="template-preview">
                                    <small>"The customer reads (sample order):"</small>
                                    <p id="template-preview">{preview}</p>
                                </div>
                            }
                                .into_any()
                        }
                        (None, None) => ().into_any(),
                    },
                    Some(Err(e)) => view! { <p id="template-error" class="error">{e.message}</p> }.into_any(),
                    None => view! { <p>"Loading…"</p> }.into_any(),
                }}
                <button id="template-save" class="btn primary" disabled=invalid on:click=on_save>
                    "Save template"
                </button>
                {move || {
                    saved
                        .get()
                        .map(|r| match r {
                            Ok(()) => view! { <p id="template-saved" class="ok">"Saved. New invoices use it."</p> }.into_any(),
                            Err(e) => view! { <p id="template-saved" class="error">{e.message}</p> }.into_any(),
                        })
                }}
            </section>
        </div>
    }
}

#[component]
fn UpdateCheckButton() -> impl IntoView {
    let (checking, set_checking) = signal(false);
    let (result, set_result) = signal(None::<Result<UpdateCheck, ApiError>>);
    let on_click = move |_| {
        set_checking.set(true);
        set_result.set(None);
        spawn_local(async move {
            let r = api::check_for_update().await;
            set_result.set(Some(r));
            set_checking.set(false);
        });
    };
    view! {
        <p>
            <button id="check-updates" class="btn" disabled=move || checking.get() on:click=on_click>
                {move || if checking.get() { "Checking…" } else { "Check for updates" }}
            </button>
        </p>
        {move || {
            result
                .get()
                .map(|r| match r {
                    Ok(UpdateCheck { available: Some(u), .. }) => {
                        view! {
                            <div class="update-result" id="update-result" data-outcome="available">
                                "ZiFlow " {u.version.clone()} " is available. Its download ("
                                {u.size_bytes.div_ceil(1024)} " KB) is signed by ZiFlow and verified."
                                {u.notes.map(|n| view! { <br /> <small>{n}</small> })}
                            </div>
                        }
                            .into_any()
                    }
                    Ok(UpdateCheck { current_version, .. }) => {
                        view! {
                            <div class="update-result" id="update-result" data-outcome="current">
                                "You're up to date: ZiFlow " {current_version} " is the newest version."
                            </div>
                        }
                            .into_any()
                    }
                    Err(e) => {
                        view! {
                            <div class="update-result refused" id="update-result" data-outcome=e.code.as_str()>
                                {e.message}
                            </div>
                        }
                            .into_any()
                    }
                })
        }}
    }
}
