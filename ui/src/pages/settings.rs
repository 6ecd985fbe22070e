//! Settings: the shop, its providers, and updates.

use leptos::prelude::*;
use leptos::task::spawn_local;
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
                            other => other.to_string(),
                        };
                        let channel = match s.channel.as_str() {
                            "sandbox" => "Sandbox customer chat".to_string(),
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
                            <div class="update-result refused" id="update-result" data-outcome=e.code.clone()>
                                {e.message}
                            </div>
                        }
                            .into_any()
                    }
                })
        }}
    }
}
