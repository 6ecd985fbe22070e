//! AI Agent: the payment scenario (auto-invoice, how the pay link is shown, the delivery
//! promise's cut-off, the template for closed windows), the agent's replies in English and
//! Spanish (each editable, variables checked while editing), and the catalog it sells from
//! (import a CSV or JSON file, export to Downloads) — with the bot tests a catalog change
//! would change shown before it is saved — and the owner's bot tests.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use ziflow_protocol::Area;
use ziflow_protocol::ErrorCode;
use ziflow_protocol::{LlmView, ReplyView, Scenario};

use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Loading, PageHeader};

/// The AI Agent screen.
#[component]
pub fn Agent() -> impl IntoView {
    view! {
        <PageHeader
            title="AI Agent"
            subtitle="What the bot does once a customer says yes, what it says, and what it sells."
        />
        <div class="settings">
            <ScenarioSection />
            <RepliesSection />
            <PhrasingSection />
            <CatalogSection />
            <BotTestsSection />
        </div>
    }
}

#[component]
fn ScenarioSection() -> impl IntoView {
    let data = LocalResource::new(api::get_scenario);
    view! {
        <section id="scenario">
            <h2>"Scenarios → Payment"</h2>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(s) => view! { <ScenarioForm s /> }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ScenarioForm(s: Scenario) -> impl IntoView {
    let auto = RwSignal::new(s.auto_invoice);
    let style = RwSignal::new(s.link_style);
    let cutoff = RwSignal::new(s.cutoff);
    let template = RwSignal::new(s.whatsapp_template);
    let reminders = RwSignal::new(
        s.reminder_hours
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    let max_qty = RwSignal::new(
        s.max_quantity
            .map_or_else(|| "10".to_string(), |n| n.to_string()),
    );
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let (preview, set_preview) = signal(None::<(Scenario, Vec<ziflow_protocol::BotTestChange>)>);
    let save_now = move |scenario: Scenario| {
        spawn_local(async move {
            set_preview.set(None);
            set_result.set(Some(api::save_scenario(&scenario).await));
        });
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let hours: Result<Vec<i64>, _> = reminders
            .get_untracked()
            .split([',', ' '])
            .filter(|h| !h.trim().is_empty())
            .map(|h| h.trim().parse::<i64>())
            .collect();
        let Ok(reminder_hours) = hours else {
            set_result.set(Some(Err(ApiError::new(
                ErrorCode::ScenarioInvalid,
                "reminders: whole hours after sending, like 2, 24, 48",
            ))));
            return;
        };
        let scenario = Scenario {
            auto_invoice: auto.get_untracked(),
            link_style: style.get_untracked(),
            cutoff: cutoff.get_untracked(),
            whatsapp_template: template.get_untracked(),
            reminder_hours,
            max_quantity: max_qty
                .get_untracked()
                .trim()
                .parse()
                .ok()
                .filter(|n: &u32| *n > 0),
        };
        // The bot tests it would change are shown first; nothing changes until "Save anyway".
        spawn_local(async move {
            match api::preview_scenario(&scenario).await {
                Ok(changes) if !changes.is_empty() => {
                    set_result.set(None);
                    set_preview.set(Some((scenario, changes)));
                }
                Ok(_) => save_now(scenario),
                Err(e) => set_result.set(Some(Err(e))),
            }
        });
    };
    view! {
        <form class="scenario" on:submit=save>
            <label class="check">
                <input id="scenario-auto" type="checkbox" prop:checked=auto on:change=move |ev| auto.set(event_target_checked(&ev)) />
                " Auto-invoice: when the customer confirms an order or books with a deposit, send the invoice with its pay link"
            </label>
            <p class="hint">"Off: the bot hands the ready order to a person, who sends the invoice."</p>
            <label>
                "Pay link"
                <select id="scenario-link-style" prop:value=style on:change=move |ev| style.set(event_target_value(&ev))>
                    <option value="button">"A Pay button (Apple Pay and Google Pay open from it)"</option>
                    <option value="link">"A plain link in the text"</option>
                    <option value="both">"Both: the button, and the link in the text"</option>
                </select>
            </label>
            <label>
                "Check with the customer above this quantity"
                <input id="scenario-max-qty" type="number" min="1" bind:value=max_qty />
            </label>
            <p class="hint">"An order with more of one item than this is restated to the customer (\"Just to check — 15 × …, $217.50 in all. Is that right?\") and invoiced only after their yes. So is any order with a number the bot could not place."</p>
            <label>
                "Same-day cut-off"
                <input id="scenario-cutoff" type="time" bind:value=cutoff />
            </label>
            <p class="hint">"Paid before it: \"Payment received … the courier will deliver today before 6 pm\"; after it: \"tomorrow\". Local time of the shop."</p>
            <label>
                "Retry: payment reminders (hours after sending)"
                <input id="scenario-reminders" bind:value=reminders autocomplete="off" />
            </label>
            <p class="hint">"An unpaid invoice gets a reminder at each of these times; after the last it is marked abandoned and the chat goes to a person. Paid invoices and customers who wrote STOP get none."</p>
            <label>
                "WhatsApp template for closed windows"
                <input id="scenario-template" bind:value=template autocomplete="off" />
            </label>
            <p class="hint">"More than 24 hours after the customer last wrote, WhatsApp only carries approved templates; the message goes inside this one (one body variable)."</p>
            <button id="scenario-save" class="btn primary" type="submit">"Save"</button>
            {move || preview.get().map(|(scenario, changes)| {
                let scenario = StoredValue::new(scenario);
                view! {
                    <div id="scenario-preview" class="preview">
                        <TestChanges changes />
                        <div class="toolbar">
                            <button id="scenario-save-anyway" type="button" class="btn secondary" on:click=move |_| save_now(scenario.get_value())>"Save anyway"</button>
                            <button id="scenario-save-cancel" type="button" class="btn secondary" on:click=move |_| set_preview.set(None)>"Cancel"</button>
                        </div>
                    </div>
                }
            })}
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <p id="scenario-result" class="ok">{m}</p> }.into_any(),
                Err(e) => view! { <p id="scenario-result" class="error">{e.message}</p> }.into_any(),
            })}
        </form>
    }
}

#[component]
fn RepliesSection() -> impl IntoView {
    let data = LocalResource::new(api::agent_replies);
    view! {
        <section id="replies">
            <h2>"Replies"</h2>
            <p class="hint">"What the bot says, word for word. Names in braces are filled in; the bot never makes up a product, a price or a total. Empty a reply to go back to the built-in text."</p>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(list) => {
                            let (en, es): (Vec<ReplyView>, Vec<ReplyView>) =
                                list.into_iter().partition(|r| r.key.starts_with("en."));
                            view! {
                                <details open>
                                    <summary>"English"</summary>
                                    <ul class="replies">{en.into_iter().map(|r| view! { <ReplyRow r /> }).collect_view()}</ul>
                                </details>
                                <details>
                                    <summary>"Español"</summary>
                                    <ul class="replies">{es.into_iter().map(|r| view! { <ReplyRow r /> }).collect_view()}</ul>
                                </details>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ReplyRow(r: ReplyView) -> impl IntoView {
    let key = StoredValue::new(r.key.clone());
    let text = RwSignal::new(r.text);
    let allowed = StoredValue::new(r.variables.clone());
    // Checked while typing; the relay checks again when saving.
    let problem = move || unknown_variable(&text.get(), &allowed.get_value());
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let vars = if r.variables.is_empty() {
        "no variables".to_string()
    } else {
        r.variables
            .iter()
            .map(|v| format!("{{{v}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let save = move |_| {
        let t = text.get_untracked();
        spawn_local(async move {
            set_result.set(Some(api::save_reply(&key.get_value(), &t).await));
        });
    };
    view! {
        <li data-reply=r.key.clone() class:custom=r.custom>
            <div class="reply-head">
                <code>{r.key.clone()}</code>
                <small>{vars}</small>
            </div>
            <textarea class="reply-text" rows="2" bind:value=text></textarea>
            <button class="btn secondary reply-save" disabled=move || problem().is_some() on:click=save>"Save"</button>
            {move || problem().map(|p| view! { <span class="reply-problem error">{p}</span> })}
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <span class="reply-result ok">{m}</span> }.into_any(),
                Err(e) => view! { <span class="reply-result error">{e.message}</span> }.into_any(),
            })}
        </li>
    }
}

#[component]
fn PhrasingSection() -> impl IntoView {
    let data = LocalResource::new(api::get_llm);
    view! {
        <section id="phrasing">
            <h2>"A model (optional)"</h2>
            <p class="hint">"A chat model behind any OpenAI-compatible endpoint (a local llama.cpp or Ollama, or a hosted one) may help the bot. It never decides and never prices. Rewording: a wording that changes a number, a price, a link or a product is thrown away. Reading: the model proposes what a customer wants; a product the shop does not sell, a variant it does not have or a quantity the customer did not write throws the reading away, and when the model reads another order than the bot, the bot restates it and asks. Prices and shipping always come from your catalog. Off, or when the model is slow or down, the bot works alone."</p>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <PhrasingForm v /> }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PhrasingForm(v: LlmView) -> impl IntoView {
    let enabled = RwSignal::new(v.enabled);
    let reader = RwSignal::new(v.reader);
    let base = RwSignal::new(if v.base_url.is_empty() {
        "https://api.openai.com/v1".to_string()
    } else {
        v.base_url
    });
    let model = RwSignal::new(v.model);
    let key = RwSignal::new(String::new());
    let hint = v.key_hint.unwrap_or_else(|| "none stored".into());
    let (busy, set_busy) = signal(false);
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        let (e, r, b, m, k) = (
            enabled.get_untracked(),
            reader.get_untracked(),
            base.get_untracked(),
            model.get_untracked(),
            key.get_untracked(),
        );
        spawn_local(async move {
            let r = api::save_llm(e, r, &b, &m, &k).await;
            if r.is_ok() {
                key.set(String::new());
            }
            set_result.set(Some(r));
            set_busy.set(false);
        });
    };
    view! {
        <form class="scenario" on:submit=save>
            <label class="check">
                <input id="llm-enabled" type="checkbox" prop:checked=enabled on:change=move |ev| enabled.set(event_target_checked(&ev)) />
                " Reword replies with the model"
            </label>
            <label class="check">
                <input id="llm-reader" type="checkbox" prop:checked=reader on:change=move |ev| reader.set(event_target_checked(&ev)) />
                " Let the model read customers' messages (checked against the catalog)"
            </label>
            <label>"Endpoint" <input id="llm-base" bind:value=base autocomplete="off" /></label>
            <label>"Model" <input id="llm-model" bind:value=model placeholder="gpt-4o-mini" autocomplete="off" /></label>
            <label>{format!("API key (stored: {hint})")} <input id="llm-key" type="password" bind:value=key autocomplete="off" /></label>
            <button id="llm-save" class="btn primary" type="submit" disabled=busy>
                {move || if busy.get() { "Checking the model…" } else { "Save" }}
            </button>
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <p id="llm-result" class="ok">{m}</p> }.into_any(),
                Err(e) => view! { <p id="llm-result" class="error">{e.message}</p> }.into_any(),
            })}
        </form>
    }
}

/// The first `{name}` in `text` that is not one of `allowed`, or an unclosed brace, in words.
pub(crate) fn unknown_variable(text: &str, allowed: &[String]) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Some("a { is never closed with }".into());
        };
        let name = &after[..close];
        if !allowed.iter().any(|a| a == name) {
            return Some(if allowed.is_empty() {
                format!("{{{name}}} is not a variable here; this text has none")
            } else {
                format!(
                    "{{{name}}} is not a variable here; use one of {}",
                    allowed
                        .iter()
                        .map(|a| format!("{{{a}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        rest = &after[close + 1..];
    }
    None
}

#[component]
fn CatalogSection() -> impl IntoView {
    let pasted = RwSignal::new(String::new());
    let (imported, set_imported) = signal(None::<Result<String, ApiError>>);
    let (exported, set_exported) = signal(None::<Result<String, ApiError>>);
    // The bot tests a file would change, shown before it is imported; its text waits here.
    let (preview, set_preview) = signal(None::<(String, Vec<ziflow_protocol::BotTestChange>)>);
    let import_now = move |text: String| {
        spawn_local(async move {
            let r = api::import_catalog(&text).await;
            if r.is_ok() {
                pasted.set(String::new());
            }
            set_preview.set(None);
            set_imported.set(Some(r));
        });
    };
    let import = move |text: String| {
        spawn_local(async move {
            match api::preview_catalog(&text).await {
                Ok(changes) if !changes.is_empty() => {
                    set_imported.set(None);
                    set_preview.set(Some((text, changes)));
                }
                Ok(_) => import_now(text),
                Err(e) => set_imported.set(Some(Err(e))),
            }
        });
    };
    let chosen = move |ev: leptos::ev::Event| {
        let file = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0));
        if let Some(file) = file {
            spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    Ok(v) => import(v.as_string().unwrap_or_default()),
                    Err(_) => set_imported.set(Some(Err(ApiError::new(
                        ErrorCode::File,
                        "the file could not be read",
                    )))),
                }
            });
        }
    };
    let export = move |format: &'static str| {
        move |_| {
            spawn_local(async move { set_exported.set(Some(api::export_catalog(format).await)) });
        }
    };
    view! {
        <section id="catalog">
            <h2>"Catalog and shipping"</h2>
            <p class="hint">"Import a products CSV (sku, name, price, variants, aliases, deposit, service), a shipping CSV (zone, price, cities, states, zip_prefixes, default), or the JSON of an agent-samples file. Lists use | between items. A file with a mistake is refused whole; nothing changes."</p>
            <label>
                "Import a file "
                <input id="catalog-file" type="file" accept=".csv,.json,text/csv,application/json" on:change=chosen />
            </label>
            <textarea id="catalog-paste" rows="4" placeholder="…or paste CSV or JSON here" bind:value=pasted></textarea>
            <button id="catalog-import" class="btn secondary" on:click=move |_| import(pasted.get_untracked())>"Import pasted text"</button>
            {move || preview.get().map(|(text, changes)| {
                let text = StoredValue::new(text);
                view! {
                    <div id="catalog-preview" class="preview">
                        <TestChanges changes />
                        <div class="toolbar">
                            <button id="catalog-import-anyway" class="btn secondary" on:click=move |_| import_now(text.get_value())>"Import anyway"</button>
                            <button id="catalog-import-cancel" class="btn secondary" on:click=move |_| set_preview.set(None)>"Cancel"</button>
                        </div>
                    </div>
                }
            })}
            {move || imported.get().map(|r| match r {
                Ok(m) => view! { <p id="catalog-result" class="ok">{m}</p> }.into_any(),
                Err(e) => view! { <p id="catalog-result" class="error">{e.message}</p> }.into_any(),
            })}
            <div class="toolbar">
                <button id="export-products" class="btn secondary" on:click=export("products-csv")>"Export products (CSV)"</button>
                <button id="export-zones" class="btn secondary" on:click=export("zones-csv")>"Export shipping (CSV)"</button>
                <button id="export-json" class="btn secondary" on:click=export("json")>"Export both (JSON)"</button>
            </div>
            {move || exported.get().map(|r| match r {
                Ok(path) => view! { <p id="export-result" class="ok">"Saved to " <code>{path}</code></p> }.into_any(),
                Err(e) => view! { <p id="export-result" class="error">{e.message}</p> }.into_any(),
            })}
        </section>
    }
}

/// The bot tests a change would change: each would pass or fail, with what it ends in now,
/// after the change, and what it must end in.
#[component]
fn TestChanges(changes: Vec<ziflow_protocol::BotTestChange>) -> impl IntoView {
    view! {
        <p><strong>{format!("This change would change {} bot test{}:", changes.len(), if changes.len() == 1 { "" } else { "s" })}</strong></p>
        <ul class="plain">
            {changes.into_iter().map(|c| view! {
                <li data-test=c.id.to_string() data-passes-after=c.passes_after.to_string()>
                    <span class=if c.passes_after { "badge ok" } else { "badge fail" }>{if c.passes_after { "would pass" } else { "would fail" }}</span>
                    " " <strong>{c.name}</strong>
                    <br /><small>{format!("now: {}", c.now)}</small>
                    <br /><small>{format!("after: {}", c.after)}</small>
                    <br /><small>{format!("must: {}", c.expected)}</small>
                </li>
            }).collect_view()}
        </ul>
    }
}

/// AI Agent → Bot tests: each saved conversation played with the shop's setup as it is now,
/// passing or failing, with what it must end in and what it ends in.
#[component]
fn BotTestsSection() -> impl IntoView {
    let tests = LocalResource::new(api::bot_tests);
    crate::live::refetch_on(tests, &[Area::Agent]);
    let (note, set_note) = signal(None::<Result<String, ApiError>>);
    let delete = move |id: i64| {
        spawn_local(async move {
            set_note.set(Some(api::delete_bot_test(id).await));
            tests.refetch();
        });
    };
    view! {
        <section id="bot-tests">
            <h2>"Bot tests"</h2>
            <p class="hint">"Conversations you saved (Inbox → Save as bot test) with the ending they must have. They are played again with the catalog, replies and scenario as they are now; a catalog or scenario change shows the tests it would change before it is saved. On the relay: ziflow-relay agent test --uid …"</p>
            {move || match tests.get() {
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="hint" id="bot-tests-none">"No bot tests yet: open a conversation in the Inbox and press Save as bot test."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="plain" id="bot-tests-list">
                        {list.into_iter().map(|t| {
                            let id = t.id;
                            view! {
                                <li data-test=id.to_string() data-passed=t.passed.to_string()>
                                    <span class=if t.passed { "badge ok" } else { "badge fail" }>{if t.passed { "PASS" } else { "FAIL" }}</span>
                                    " " <strong>{t.name}</strong>
                                    <br /><small>{format!("must: {}", t.expected)}</small>
                                    {(!t.passed).then(|| view! { <br /><small>{format!("ends in: {}", t.got)}</small> })}
                                    " " <button class="btn small secondary" on:click=move |_| delete(id)>"Delete"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                None => view! { <Loading /> }.into_any(),
            }}
            {move || note.get().map(|r| match r {
                Ok(t) => view! { <p id="bot-tests-note" class="ok">{t}</p> }.into_any(),
                Err(e) => view! { <p id="bot-tests-note" class="error">{e.message}</p> }.into_any(),
            })}
        </section>
    }
}
