//! The owner's housekeeping in Settings: which devices may refund or mark invoices paid, and
//! the events the relay set aside because they could not be applied.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::Area;
use ziflow_protocol::DeviceInfo;

use crate::api::{self, ApiError};

/// What a rep's device may be allowed, as the owner reads it.
const PERMISSIONS: [(&str, &str); 2] = [("refund", "Refund"), ("mark_paid", "Mark paid by hand")];

/// Settings → Devices: the shop's devices; a rep's may be allowed refunds and marking paid.
#[component]
pub fn DevicesSection() -> impl IntoView {
    let list = LocalResource::new(api::list_devices);
    let (note, set_note) = signal(None::<Result<String, ApiError>>);
    let (busy, set_busy) = signal(false);
    // The device whose Revoke was pressed once (the second press revokes).
    let (arming, set_arming) = signal(None::<i64>);
    let revoke = move |device_id: i64| {
        if arming.get_untracked() != Some(device_id) {
            set_arming.set(Some(device_id));
            return;
        }
        set_arming.set(None);
        set_busy.set(true);
        spawn_local(async move {
            set_note.set(Some(api::revoke_device(device_id).await));
            list.refetch();
            set_busy.set(false);
        });
    };
    let toggle = move |device: DeviceInfo, what: &'static str, on: bool| {
        let mut can: Vec<String> = device.can.iter().filter(|c| *c != what).cloned().collect();
        if on {
            can.push(what.to_string());
        }
        set_busy.set(true);
        spawn_local(async move {
            set_note.set(Some(api::permit_device(device.id, can).await));
            list.refetch();
            set_busy.set(false);
        });
    };
    view! {
        <div class="settings">
            <section id="devices">
                <h2>"Devices"</h2>
                <p class="hint">
                    "Refunds and marking an invoice paid by hand are the owner's. Allow a rep's device here when that rep should do them too; the relay enforces it. Revoke a lost or former device: it is signed out at once."
                </p>
                {move || {
                    list.get()
                        .map(|r| match r {
                            Ok(devices) => {
                                view! {
                                    <table class="table" id="devices-table">
                                        <thead>
                                            <tr>
                                                <th>"Device"</th>
                                                <th>"Role"</th>
                                                {PERMISSIONS.iter().map(|(_, label)| view! { <th>{*label}</th> }).collect_view()}
                                                <th>"Access"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {devices
                                                .into_iter()
                                                .map(|d| {
                                                    let owner = d.role == "owner";
                                                    let row_class = if d.revoked { "revoked" } else { "" };
                                                    let name = if d.revoked {
                                                        format!("{} (revoked)", d.name)
                                                    } else if d.this_device {
                                                        format!("{} (this device)", d.name)
                                                    } else {
                                                        d.name.clone()
                                                    };
                                                    let device_id = d.id;
                                                    let access = if d.revoked {
                                                        view! { <td class="hint">"Signed out"</td> }.into_any()
                                                    } else if d.this_device {
                                                        view! { <td class="hint">"In use here"</td> }.into_any()
                                                    } else {
                                                        view! {
                                                            <td>
                                                                <button
                                                                    class="btn small danger"
                                                                    id=format!("revoke-{device_id}")
                                                                    disabled=move || busy.get()
                                                                    on:click=move |_| revoke(device_id)
                                                                >
                                                                    {move || if arming.get() == Some(device_id) { "Confirm revoke" } else { "Revoke" }}
                                                                </button>
                                                            </td>
                                                        }
                                                            .into_any()
                                                    };
                                                    view! {
                                                        <tr class=row_class data-device=d.id.to_string()>
                                                            <td>{name}</td>
                                                            <td>{if owner { "Owner" } else { "Rep" }}</td>
                                                            {PERMISSIONS
                                                                .iter()
                                                                .map(|(what, label)| {
                                                                    let d = d.clone();
                                                                    let allowed = owner || d.can.iter().any(|c| c == what);
                                                                    let id = format!("device-{}-{}", d.id, what);
                                                                    view! {
                                                                        <td>
                                                                            <input
                                                                                type="checkbox"
                                                                                id=id
                                                                                aria-label=*label
                                                                                checked=allowed
                                                                                disabled=move || owner || d.revoked || busy.get()
                                                                                on:change=move |ev| toggle(d.clone(), what, event_target_checked(&ev))
                                                                            />
                                                                        </td>
                                                                    }
                                                                })
                                                                .collect_view()}
                                                            {access}
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        })
                }}
                {move || {
                    note.get()
                        .map(|r| match r {
                            Ok(t) => view! { <p id="devices-note" class="ok">{t}</p> }.into_any(),
                            Err(e) => view! { <p id="devices-note" class="error">{e.message}</p> }.into_any(),
                        })
                }}
            </section>
        </div>
    }
}

/// Settings → Events set aside: what the relay could not apply (with why), and "Apply again"
/// once the cause is fixed. Empty on a healthy shop.
#[component]
pub fn SetAsideSection() -> impl IntoView {
    let list = LocalResource::new(api::list_set_aside);
    // The list changes when sync sets an event aside.
    crate::live::refetch_on(list, &[Area::Settings]);
    let (note, set_note) = signal(None::<Result<String, ApiError>>);
    let retry = move |event_id: i64| {
        spawn_local(async move {
            set_note.set(Some(api::retry_event(event_id).await));
            list.refetch();
        });
    };
    view! {
        <div class="settings">
            <section id="set-aside">
                <h2>"Events set aside"</h2>
                {move || {
                    list.get()
                        .map(|r| match r {
                            Ok(events) if events.is_empty() => {
                                view! {
                                    <p class="hint" id="set-aside-none">
                                        "None: every event of this shop was applied."
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok(events) => {
                                view! {
                                    <p class="hint">
                                        "The relay could not apply these after several tries and went on with the rest. Fix the cause, then apply them again."
                                    </p>
                                    <ul class="plain" id="set-aside-list">
                                        {events
                                            .into_iter()
                                            .map(|e| {
                                                let id = e.event_id;
                                                view! {
                                                    <li data-event=id.to_string()>
                                                        <strong>{format!("#{id} {}", e.kind)}</strong>
                                                        {format!(" — {} · {}", e.reason, crate::format::datetime(e.at))}
                                                        " "
                                                        <button class="btn" on:click=move |_| retry(id)>"Apply again"</button>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        })
                }}
                {move || {
                    note.get()
                        .map(|r| match r {
                            Ok(t) => view! { <p id="set-aside-note" class="ok">{t}</p> }.into_any(),
                            Err(e) => view! { <p id="set-aside-note" class="error">{e.message}</p> }.into_any(),
                        })
                }}
            </section>
        </div>
    }
}
