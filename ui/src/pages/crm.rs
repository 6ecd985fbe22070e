//! CRM: every lead (one per customer) with its stage, tags, fields and history, moved or
//! tagged by hand; the automation rules ("On EVENT [if CONDITION] → ACTIONS") in the order
//! they run; and the pipeline's stages. Rules and stages are the owner's; the relay checks
//! them again when they are saved.

use leptos::prelude::*;
use leptos::task::spawn_local;
use ziflow_protocol::automation::{
    channel_label, AutomationsView, Condition, LeadRow, Rule, RuleAction, Source, Trigger, CHANNELS,
};
use ziflow_protocol::Area;

use crate::api::{self, ApiError};
use crate::components::{EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format;
use crate::pages::agent::unknown_variable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Leads,
    Automations,
    Pipeline,
}

/// The CRM screen.
#[component]
pub fn Crm() -> impl IntoView {
    let (tab, set_tab) = signal(Tab::Leads);
    let info = LocalResource::new(api::app_info);
    let owner = move || {
        info.get()
            .and_then(Result::ok)
            .is_none_or(|i| i.role != "rep")
    };
    let tab_button = move |t: Tab, id: &'static str, label: &'static str| {
        view! {
            <button id=id role="tab" class="tab" class:active=move || tab.get() == t
                aria-selected=move || (tab.get() == t).to_string()
                on:click=move |_| set_tab.set(t)>{label}</button>
        }
    };
    view! {
        <PageHeader title="CRM" subtitle="Every customer as a lead: where they are in your pipeline, what happened, and the rules that move them." />
        <div class="tabs" role="tablist">
            {tab_button(Tab::Leads, "crm-tab-leads", "Leads")}
            <Show when=owner>
                {tab_button(Tab::Automations, "crm-tab-automations", "Automations")}
                {tab_button(Tab::Pipeline, "crm-tab-pipeline", "Pipeline")}
            </Show>
        </div>
        {move || match tab.get() {
            Tab::Leads => view! { <Leads /> }.into_any(),
            Tab::Automations => view! { <Automations /> }.into_any(),
            Tab::Pipeline => view! { <Pipeline /> }.into_any(),
        }}
    }
}

#[component]
fn Leads() -> impl IntoView {
    let leads = LocalResource::new(api::list_leads);
    let setup = LocalResource::new(api::get_automations);
    crate::live::refetch_on(leads, &[Area::Leads]);
    let filter = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<String>);
    let stages = move || {
        setup
            .get()
            .and_then(Result::ok)
            .map(|s| s.stages)
            .unwrap_or_default()
    };
    let rows = move || -> Vec<LeadRow> {
        let all = leads.get().and_then(Result::ok).unwrap_or_default();
        let (f, q) = (filter.get(), query.get().to_lowercase());
        all.into_iter()
            .filter(|l| f.is_empty() || l.stage == f)
            .filter(|l| {
                q.is_empty()
                    || l.phone.contains(q.trim_start_matches('+'))
                    || l.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&q))
                    || l.tags.iter().any(|t| t.to_lowercase().contains(&q))
            })
            .collect()
    };
    view! {
        <div class="crm-leads">
            <div class="lead-filters">
                <label>"Stage "
                    <select id="lead-filter" on:change=move |ev| filter.set(event_target_value(&ev))>
                        <option value="">"All stages"</option>
                        {move || stages().into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <input id="lead-search" type="search" placeholder="Name, phone or tag" bind:value=query />
            </div>
            {move || match leads.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <ErrorPanel error=e on_retry=move |()| leads.refetch() /> }.into_any(),
                Some(Ok(all)) if all.is_empty() => view! {
                    <EmptyState id="empty-leads" title="No leads yet"
                        lines=&["A lead appears when a customer first writes, gets an invoice or pays.", "Try the sandbox chat: Inbox → Open the sandbox chat."] />
                }.into_any(),
                Some(Ok(_)) if rows().is_empty() => view! {
                    <p id="lead-none" class="hint">"No lead matches this stage and search."</p>
                }.into_any(),
                Some(Ok(_)) => ().into_any(),
            }}
            // Keyed rows: a refresh that changes nothing leaves the rows (and a click) alone.
            <table class="list" id="lead-list" hidden=move || rows().is_empty()>
                <thead><tr><th>"Customer"</th><th>"Stage"</th><th>"Tags"</th><th>"Fields"</th><th>"Last change"</th></tr></thead>
                <tbody>
                    <For each=rows key=|l: &LeadRow| (l.phone.clone(), l.updated_at, l.stage.clone(), l.tags.clone(), l.fields.clone(), l.name.clone()) let:l>
                        {lead_row(l, selected)}
                    </For>
                </tbody>
            </table>
            {move || selected.get().map(|phone| view! { <LeadDetail phone stages=Signal::derive(stages) on_changed=move || leads.refetch() /> })}
        </div>
    }
}

fn lead_row(l: LeadRow, selected: RwSignal<Option<String>>) -> impl IntoView {
    let phone = l.phone.clone();
    let is_selected = {
        let phone = phone.clone();
        move || selected.get().as_deref() == Some(phone.as_str())
    };
    view! {
        <tr data-phone=l.phone.clone() class="clickable" class:selected=is_selected
            on:click=move |_| selected.set(Some(phone.clone()))>
            <td>
                <strong>{l.name.clone().unwrap_or_else(|| format::phone(&l.phone))}</strong>
                {l.name.is_some().then(|| view! { <small>" " {format::phone(&l.phone)}</small> })}
            </td>
            <td><span class="stage" data-stage=l.stage.clone()>{l.stage.clone()}</span></td>
            <td>{l.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}</td>
            <td>{l.fields.iter().map(|(k, v)| view! { <span class="field">{format!("{k}: {v}")}</span> }).collect_view()}</td>
            <td><small>{format::datetime(l.updated_at)}</small></td>
        </tr>
    }
}

#[component]
fn LeadDetail(
    phone: String,
    stages: Signal<Vec<String>>,
    on_changed: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let who = StoredValue::new(phone.clone());
    let lead = LocalResource::new(move || {
        let phone = who.get_value();
        async move { api::lead_view(&phone).await }
    });
    crate::live::refetch_on(lead, &[Area::Leads]);
    let stage = RwSignal::new(String::new());
    let tag = RwSignal::new(String::new());
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let change = move |stage: Option<String>, add: Option<String>, remove: Option<String>| {
        spawn_local(async move {
            let r = api::update_lead(
                &who.get_value(),
                stage.as_deref(),
                add.as_deref(),
                remove.as_deref(),
            )
            .await
            .map(|()| "Saved; it shows once the relay confirms.".to_string());
            if r.is_ok() {
                tag.set(String::new());
            }
            set_result.set(Some(r));
            lead.refetch();
            on_changed();
        });
    };
    view! {
        <section class="panel lead-detail" id="lead-detail" data-phone=phone.clone()>
            <h2>{format::phone(&phone)}</h2>
            {move || lead.get().and_then(Result::ok).flatten().map(|l| {
                if stage.get_untracked().is_empty() {
                    stage.set(l.stage.clone());
                }
                view! {
                    <div class="lead-now">
                        <span class="stage" data-stage=l.stage.clone() id="lead-detail-stage">{l.stage.clone()}</span>
                        {l.tags.iter().map(|t| {
                            let t2 = t.clone();
                            view! {
                                <span class="tag">{t.clone()}
                                    <button class="tag-remove" data-tag=t.clone() title="Remove this tag"
                                        on:click=move |_| change(None, None, Some(t2.clone()))>"×"</button>
                                </span>
                            }
                        }).collect_view()}
                        {l.fields.iter().map(|(k, v)| view! { <span class="field">{format!("{k}: {v}")}</span> }).collect_view()}
                    </div>
                    <ul id="lead-detail-history" class="history">
                        {l.history.iter().rev().map(|(at, what)| view! {
                            <li><small>{format::datetime(*at)}</small> " " {what.clone()}</li>
                        }).collect_view()}
                    </ul>
                }
            })}
            <div class="lead-actions">
                <label>"Move to "
                    <select id="lead-stage" prop:value=move || stage.get() on:change=move |ev| stage.set(event_target_value(&ev))>
                        {move || stages.get().into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <button id="lead-stage-save" class="btn secondary" on:click=move |_| change(Some(stage.get_untracked()), None, None)>"Move"</button>
                <input id="lead-tag" placeholder="New tag" bind:value=tag />
                <button id="lead-tag-add" class="btn secondary" disabled=move || tag.get().trim().is_empty()
                    on:click=move |_| change(None, Some(tag.get_untracked().trim().to_string()), None)>"Add tag"</button>
            </div>
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <p id="lead-result" class="ok">{m}</p> }.into_any(),
                Err(e) => view! { <p id="lead-result" class="error">{e.message}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Automations() -> impl IntoView {
    let data = LocalResource::new(api::get_automations);
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <RulesEditor v /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Money typed as "100" or "99.50" in the shop's currency → minor units (no floats).
fn parse_minor(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches('$');
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac.parse::<i64>().ok()?)
}

fn show_minor(minor: i64) -> String {
    if minor % 100 == 0 {
        (minor / 100).to_string()
    } else {
        format!("{}.{:02}", minor / 100, minor % 100)
    }
}

fn action_kind(a: &RuleAction) -> &'static str {
    match a {
        RuleAction::SetStage { .. } => "set_stage",
        RuleAction::AddTag { .. } => "add_tag",
        RuleAction::RemoveTag { .. } => "remove_tag",
        RuleAction::SetField { .. } => "set_field",
        RuleAction::AddToField { .. } => "add_to_field",
        RuleAction::Notify { .. } => "notify",
        RuleAction::SendMessage { .. } => "send_message",
        RuleAction::Handoff { .. } => "handoff",
    }
}

const ACTION_KINDS: [(&str, &str); 8] = [
    ("set_stage", "Set stage"),
    ("add_tag", "Add tag"),
    ("remove_tag", "Remove tag"),
    ("set_field", "Set field"),
    ("add_to_field", "Add amount to field"),
    ("notify", "Notify"),
    ("send_message", "Message the customer"),
    ("handoff", "Hand off to a person"),
];

fn new_action(kind: &str, stages: &[String]) -> RuleAction {
    match kind {
        "add_tag" => RuleAction::AddTag { tag: String::new() },
        "remove_tag" => RuleAction::RemoveTag { tag: String::new() },
        "set_field" => RuleAction::SetField {
            name: String::new(),
            from: Source::Amount,
        },
        "add_to_field" => RuleAction::AddToField {
            name: String::new(),
        },
        "notify" => RuleAction::Notify {
            channels: Vec::new(),
        },
        "send_message" => RuleAction::SendMessage {
            text: String::new(),
        },
        "handoff" => RuleAction::Handoff {
            reason: String::new(),
        },
        _ => RuleAction::SetStage {
            stage: stages.first().cloned().unwrap_or_default(),
        },
    }
}

/// The editor's state, shared by its rows.
#[derive(Clone, Copy)]
struct Ed {
    rules: RwSignal<Vec<Rule>>,
    /// Bumped by typed values, which change `rules` without drawing the rows again.
    edits: RwSignal<u32>,
    stages: StoredValue<Vec<String>>,
    vars: StoredValue<Vec<String>>,
}

impl Ed {
    /// A change of shape (an event, a condition kind, an action added): rows drawn again.
    fn reshape(self, i: usize, f: impl FnOnce(&mut Rule)) {
        self.rules.update(|list| {
            if let Some(rule) = list.get_mut(i) {
                f(rule);
            }
        });
    }

    /// A typed value: kept without drawing the rows again, so the field keeps its focus.
    fn typed(self, i: usize, f: impl FnOnce(&mut Rule)) {
        self.rules.update_untracked(|list| {
            if let Some(rule) = list.get_mut(i) {
                f(rule);
            }
        });
        self.edits.update(|n| *n += 1);
    }
}

/// The first problem of the rules the page can see, in words (the relay checks them all).
fn rules_problem(rules: &[Rule], vars: &[String]) -> Option<String> {
    for r in rules {
        for a in &r.actions {
            let p = match a {
                RuleAction::AddTag { tag } | RuleAction::RemoveTag { tag }
                    if tag.trim().is_empty() =>
                {
                    Some("a tag is empty".to_string())
                }
                RuleAction::SetField { name, .. } | RuleAction::AddToField { name }
                    if name.trim().is_empty() =>
                {
                    Some("a field has no name".to_string())
                }
                RuleAction::SendMessage { text } if text.trim().is_empty() => {
                    Some("a message is empty".to_string())
                }
                RuleAction::SendMessage { text } => unknown_variable(text, vars),
                RuleAction::Handoff { reason } if reason.trim().is_empty() => {
                    Some("say why the person takes over".to_string())
                }
                _ => None,
            };
            if let Some(p) = p {
                return Some(format!("{}: {p}", r.on.label()));
            }
        }
        if r.actions.is_empty() {
            return Some(format!(
                "{}: the rule does nothing; add an action",
                r.on.label()
            ));
        }
        if r.when
            .as_ref()
            .and_then(|c| c.has_tag.as_deref())
            .is_some_and(|t| t.trim().is_empty())
        {
            return Some(format!("{}: name the tag of the condition", r.on.label()));
        }
    }
    None
}

#[component]
fn RulesEditor(v: AutomationsView) -> impl IntoView {
    let AutomationsView {
        rules,
        stages,
        variables,
        ..
    } = v;
    let rules = RwSignal::new(rules);
    let stages = StoredValue::new(stages);
    let vars = StoredValue::new(variables);
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let (busy, set_busy) = signal(false);
    let edits = RwSignal::new(0_u32);
    let ed = Ed {
        rules,
        edits,
        stages,
        vars,
    };
    let problem = move || {
        edits.track();
        rules.with(|r| rules_problem(r, &vars.get_value()))
    };
    let add_rule = move |_| {
        rules.update(|list| {
            let mut n = list.len() + 1;
            while list.iter().any(|r| r.id == format!("rule-{n}")) {
                n += 1;
            }
            list.push(Rule {
                id: format!("rule-{n}"),
                on: Trigger::PaymentSucceeded,
                when: None,
                actions: vec![RuleAction::Notify {
                    channels: Vec::new(),
                }],
            });
        });
    };
    let save = move |_| {
        set_busy.set(true);
        let list = rules.get_untracked();
        spawn_local(async move {
            set_result.set(Some(api::save_automations(&list).await));
            set_busy.set(false);
        });
    };
    let var_list = vars
        .get_value()
        .iter()
        .map(|v| format!("{{{v}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <section class="panel" id="automations">
            <h2>"Automations"</h2>
            <p class="hint">"On an event, if its condition holds, a rule's actions run in order — once per event, also across restarts. Rules run top to bottom. Notifications use the event's template (Settings → Notifications); messages may use " <code>{var_list}</code> "."</p>
            <ol id="rules" class="rules">
                {move || rules.get().into_iter().enumerate().map(|(i, r)| rule_row(i, r, ed)).collect_view()}
            </ol>
            <div class="row-buttons">
                <button id="rule-add" class="btn secondary" on:click=add_rule>"+ Rule"</button>
                <button id="rules-save" class="btn" disabled=move || busy.get() || problem().is_some() on:click=save>"Save rules"</button>
            </div>
            {move || problem().map(|p| view! { <p id="rules-problem" class="error">{p}</p> })}
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <p id="rules-result" class="ok">{m}</p> }.into_any(),
                Err(e) => view! { <p id="rules-result" class="error">{e.message}</p> }.into_any(),
            })}
        </section>
    }
}

fn rule_row(i: usize, r: Rule, ed: Ed) -> impl IntoView {
    let Ed { rules, stages, .. } = ed;
    let cond = r.when.clone().unwrap_or_default();
    let (cond_kind, cond_value) = if let Some(a) = cond.amount_at_least {
        ("amount", show_minor(a))
    } else if let Some(t) = cond.has_tag.clone() {
        ("tag", t)
    } else if let Some(s) = cond.stage_is.clone() {
        ("stage", s)
    } else {
        ("always", String::new())
    };
    // A new kind draws the row again; a typed value does not.
    let set_condition = move |kind: String, value: String, typed: bool| {
        let apply = move |rule: &mut Rule| {
            rule.when = match kind.as_str() {
                "amount" => Some(Condition {
                    amount_at_least: Some(parse_minor(&value).unwrap_or(0)),
                    ..Condition::default()
                }),
                "tag" => Some(Condition {
                    has_tag: Some(value.trim().to_string()),
                    ..Condition::default()
                }),
                "stage" => Some(Condition {
                    stage_is: Some(if value.is_empty() {
                        stages.get_value().first().cloned().unwrap_or_default()
                    } else {
                        value
                    }),
                    ..Condition::default()
                }),
                _ => None,
            };
        };
        if typed {
            ed.typed(i, apply);
        } else {
            ed.reshape(i, apply);
        }
    };
    let value_of_kind = StoredValue::new(cond_kind.to_string());
    let count = rules.with_untracked(Vec::len);
    view! {
        <li class="rule" data-rule=r.id.clone()>
            <div class="rule-head">
                <span>"On "</span>
                <select class="rule-on" on:change=move |ev| {
                    let t = Trigger::from_key(&event_target_value(&ev)).unwrap_or(Trigger::PaymentSucceeded);
                    ed.reshape(i, move |rule| rule.on = t);
                }>
                    {Trigger::ALL.into_iter().map(|t| view! { <option value=t.key() selected={t == r.on}>{t.label()}</option> }).collect_view()}
                </select>
                <span>" if "</span>
                <select class="rule-if" on:change=move |ev| set_condition(event_target_value(&ev), String::new(), false)>
                    {[("always", "always"), ("amount", "amount at least"), ("tag", "the lead has tag"), ("stage", "the lead is in stage")]
                        .into_iter()
                        .map(|(k, label)| view! { <option value=k selected={k == cond_kind}>{label}</option> })
                        .collect_view()}
                </select>
                {match cond_kind {
                    "stage" => view! {
                        <select class="rule-if-value" on:change=move |ev| set_condition("stage".into(), event_target_value(&ev), false)>
                            {stages.get_value().into_iter().map(|s| { let sel = s == cond_value; view! { <option value=s.clone() selected=sel>{s.clone()}</option> } }).collect_view()}
                        </select>
                    }.into_any(),
                    "always" => ().into_any(),
                    _ => view! {
                        <input class="rule-if-value" value=cond_value.clone()
                            placeholder=if cond_kind == "amount" { "100.00" } else { "vip" }
                            on:input=move |ev| set_condition(value_of_kind.get_value(), event_target_value(&ev), true) />
                    }.into_any(),
                }}
                <span class="rule-tools">
                    <button class="rule-up icon" title="Run earlier" disabled={i == 0}
                        on:click=move |_| rules.update(|l| l.swap(i, i - 1))>"↑"</button>
                    <button class="rule-down icon" title="Run later" disabled={i + 1 >= count}
                        on:click=move |_| rules.update(|l| l.swap(i, i + 1))>"↓"</button>
                    <button class="rule-delete icon" title="Delete the rule"
                        on:click=move |_| rules.update(|l| { l.remove(i); })>"✕"</button>
                </span>
            </div>
            <ol class="actions">
                {r.actions.iter().cloned().enumerate().map(|(j, a)| action_row(i, j, a, ed)).collect_view()}
            </ol>
            <button class="action-add btn secondary small" on:click=move |_| {
                let a = RuleAction::AddTag { tag: String::new() };
                ed.reshape(i, move |rule| rule.actions.push(a));
            }>"+ Action"</button>
        </li>
    }
}

fn action_row(i: usize, j: usize, a: RuleAction, ed: Ed) -> impl IntoView {
    let Ed {
        rules,
        stages,
        vars,
        ..
    } = ed;
    let put = move |rule: &mut Rule, new: RuleAction| {
        if let Some(slot) = rule.actions.get_mut(j) {
            *slot = new;
        }
    };
    // A chosen kind, stage or source draws the row again; typed text does not.
    let set = move |new: RuleAction| ed.reshape(i, move |r| put(r, new));
    let typed = move |new: RuleAction| ed.typed(i, move |r| put(r, new));
    let kind = action_kind(&a);
    let params = match a.clone() {
        RuleAction::SetStage { stage } => view! {
            <select class="action-value" on:change=move |ev| set(RuleAction::SetStage { stage: event_target_value(&ev) })>
                {stages.get_value().into_iter().map(|s| { let sel = s == stage; view! { <option value=s.clone() selected=sel>{s.clone()}</option> } }).collect_view()}
            </select>
        }.into_any(),
        RuleAction::AddTag { tag } | RuleAction::RemoveTag { tag } => {
            let add = kind == "add_tag";
            view! {
                <input class="action-value" placeholder="tag" value=tag on:input=move |ev| {
                    let tag = event_target_value(&ev).trim().to_string();
                    typed(if add { RuleAction::AddTag { tag } } else { RuleAction::RemoveTag { tag } });
                } />
            }.into_any()
        }
        RuleAction::SetField { name, from } => {
            // The other half as it is now (typing does not draw the row again).
            let now = move || match rules.with_untracked(|l| l.get(i).and_then(|r| r.actions.get(j)).cloned()) {
                Some(RuleAction::SetField { name, from }) => (name, from),
                _ => (String::new(), Source::Amount),
            };
            view! {
                <input class="action-value" placeholder="lastPayment" value=name on:input=move |ev| {
                    typed(RuleAction::SetField { name: event_target_value(&ev).trim().to_string(), from: now().1 });
                } />
                <span>" = "</span>
                <select class="action-from" on:change=move |ev| {
                    let from = match event_target_value(&ev).as_str() { "date" => Source::Date, "order" => Source::Order, _ => Source::Amount };
                    set(RuleAction::SetField { name: now().0, from });
                }>
                    {[(Source::Amount, "amount", "the amount"), (Source::Date, "date", "the date"), (Source::Order, "order", "the order number")]
                        .into_iter()
                        .map(|(s, v, label)| view! { <option value=v selected={s == from}>{label}</option> })
                        .collect_view()}
                </select>
            }.into_any()
        }
        RuleAction::AddToField { name } => view! {
            <input class="action-value" placeholder="lifetimeValue" value=name
                on:input=move |ev| typed(RuleAction::AddToField { name: event_target_value(&ev).trim().to_string() }) />
        }.into_any(),
        RuleAction::Notify { channels } => {
            let chosen = StoredValue::new(channels.clone());
            view! {
                <span class="channels">
                    {CHANNELS.into_iter().map(|c| {
                        let on = channels.iter().any(|x| x == c);
                        view! {
                            <label class="check">
                                <input type="checkbox" class="action-channel" value=c prop:checked=on on:change=move |ev| {
                                    let mut list = chosen.get_value();
                                    list.retain(|x| x != c);
                                    if event_target_checked(&ev) {
                                        list.push(c.to_string());
                                    }
                                    set(RuleAction::Notify { channels: list });
                                } />
                                {channel_label(c)}
                            </label>
                        }
                    }).collect_view()}
                    {channels.is_empty().then(|| view! { <small class="hint">" (none ticked: every channel that is on)"</small> })}
                </span>
            }.into_any()
        }
        RuleAction::SendMessage { text } => {
            let draft = RwSignal::new(text);
            let problem = move || unknown_variable(&draft.get(), &vars.get_value());
            view! {
                <textarea class="action-value" rows="2" placeholder="Hi {name}, …" bind:value=draft
                    on:input=move |ev| typed(RuleAction::SendMessage { text: event_target_value(&ev) })></textarea>
                {move || problem().map(|p| view! { <span class="action-problem error">{p}</span> })}
            }.into_any()
        }
        RuleAction::Handoff { reason } => view! {
            <input class="action-value" placeholder="Why a person takes over" value=reason
                on:input=move |ev| typed(RuleAction::Handoff { reason: event_target_value(&ev) }) />
        }.into_any(),
    };
    view! {
        <li class="action" data-index=j data-kind=kind>
            <select class="action-kind" on:change=move |ev| set(new_action(&event_target_value(&ev), &stages.get_value()))>
                {ACTION_KINDS.into_iter().map(|(k, label)| view! { <option value=k selected={k == kind}>{label}</option> }).collect_view()}
            </select>
            {params}
            <button class="action-delete icon" title="Remove the action" on:click=move |_| {
                rules.update(|list| {
                    if let Some(r) = list.get_mut(i) {
                        if j < r.actions.len() {
                            r.actions.remove(j);
                        }
                    }
                });
            }>"✕"</button>
        </li>
    }
}

#[component]
fn Pipeline() -> impl IntoView {
    let data = LocalResource::new(api::get_automations);
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <PipelineEditor stages=v.stages flow=v.flow_stages /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e on_retry=move |()| data.refetch() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PipelineEditor(stages: Vec<String>, flow: Vec<String>) -> impl IntoView {
    let stages = RwSignal::new(stages);
    let flow = StoredValue::new(flow);
    let new_stage = RwSignal::new(String::new());
    let (result, set_result) = signal(None::<Result<String, ApiError>>);
    let add = move || {
        let s = new_stage.get_untracked().trim().to_string();
        if !s.is_empty() {
            stages.update(|l| {
                if !l.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                    l.push(s);
                }
            });
            new_stage.set(String::new());
        }
    };
    let save = move |_| {
        let list = stages.get_untracked();
        spawn_local(async move { set_result.set(Some(api::save_pipeline(&list).await)) });
    };
    view! {
        <section class="panel" id="pipeline">
            <h2>"Pipeline"</h2>
            <p class="hint">"The stages a lead moves through, in order. Add your own (like “VIP follow-up”); the stages ZiFlow moves leads to by itself stay, and a stage a rule or a lead uses cannot go."</p>
            <ol class="stages">
                {move || {
                    let n = stages.with(Vec::len);
                    stages.get().into_iter().enumerate().map(|(i, s)| {
                        let fixed = flow.get_value().contains(&s);
                        view! {
                            <li data-stage=s.clone()>
                                <span class="stage" data-stage=s.clone()>{s.clone()}</span>
                                <button class="stage-up icon" title="Earlier" disabled={i == 0} on:click=move |_| stages.update(|l| l.swap(i, i - 1))>"↑"</button>
                                <button class="stage-down icon" title="Later" disabled={i + 1 >= n} on:click=move |_| stages.update(|l| l.swap(i, i + 1))>"↓"</button>
                                <button class="stage-remove icon" disabled=fixed
                                    title=if fixed { "ZiFlow moves leads here by itself" } else { "Remove" }
                                    on:click=move |_| stages.update(|l| { l.remove(i); })>"✕"</button>
                            </li>
                        }
                    }).collect_view()
                }}
            </ol>
            <form class="row-buttons" on:submit=move |ev| { ev.prevent_default(); add(); }>
                <input id="stage-new" placeholder="New stage" bind:value=new_stage />
                <button id="stage-add" class="btn secondary" type="submit">"Add stage"</button>
                <button id="pipeline-save" class="btn" type="button" on:click=save>"Save pipeline"</button>
            </form>
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <p id="pipeline-result" class="ok">{m}</p> }.into_any(),
                Err(e) => view! { <p id="pipeline-result" class="error">{e.message}</p> }.into_any(),
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_typed_in_currency_units_and_kept_in_minor_units() {
        assert_eq!(parse_minor("100"), Some(10_000));
        assert_eq!(parse_minor("99.5"), Some(9_950));
        assert_eq!(parse_minor("$12.05"), Some(1_205));
        assert_eq!(parse_minor("1.234"), None);
        assert_eq!(parse_minor("ten"), None);
        assert_eq!(show_minor(9_950), "99.50");
        assert_eq!(show_minor(10_000), "100");
    }
}
