//! Running a device's command against the shop's state, inside the caller's transaction,
//! appending the events it causes to the log.

use serde_json::{json, Value};
use sqlx::SqliteConnection;
use ziflow_protocol::Command;

use crate::log::record;
use crate::pay::{self, work};
use crate::storage::invoices;
use crate::{Error, InvoiceStatus, Money, Result};
use ziflow_protocol::event as ev;
use ziflow_protocol::Event;

/// What a command did: its answer and the ids of the events it appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The JSON answer for the device.
    pub answer: Value,
    /// Events appended (for push wake-ups).
    pub event_ids: Vec<i64>,
    /// Jobs enqueued that the caller should run now (the answer waits for them).
    pub jobs: Vec<i64>,
}

/// Why an order cannot get a pay link: the shop has no payment provider (no Stripe, and
/// the relay runs no sandbox). The bot's hand-off reason and the composer say this.
pub const NO_PROVIDER: &str = "no payment provider connected";

/// How long a pay link works.
pub const LINK_LIFETIME_SECS: i64 = 48 * 3600;

/// Where the command runs.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The relay's address as customers reach it (for sandbox pay links).
    pub public_url: &'a str,
    /// The shop's payment provider now: `stripe` once connected, else `sandbox` where the
    /// relay runs one, else none — and then no pay link can be made.
    pub provider: Option<&'a str>,
}

/// Executes `cmd` for `shop` at `now`.
pub async fn execute(
    conn: &mut SqliteConnection,
    shop: &str,
    cmd: &Command,
    now: i64,
    ctx: &Context<'_>,
) -> Result<Outcome> {
    match cmd {
        Command::InvoiceSend { invoice_id } => {
            let invoice = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invoice {invoice_id}")))?;
            if invoice.pay_link.is_some() {
                // Sent before: the same link, never a second one.
                return Ok(Outcome {
                    answer: sent_answer(&invoice, false),
                    event_ids: Vec::new(),
                    jobs: Vec::new(),
                });
            }
            if invoice.status() != InvoiceStatus::Draft {
                return Err(Error::InvalidInput(format!(
                    "invoice #{} is {} and cannot be sent",
                    invoice.number, invoice.status
                )));
            }
            let provider = ctx.provider.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{NO_PROVIDER}: connect Stripe (Settings → Billing) to send pay links"
                ))
            })?;
            let items = invoices::items_in(conn, *invoice_id).await?;
            let request = pay::LinkRequest {
                shop: shop.to_string(),
                invoice_id: *invoice_id,
                number: invoice.number,
                currency: invoice.currency.clone(),
                lines: pay::LinkRequest::lines_of(&items),
                shipping_minor: invoice.shipping_minor,
                expires_at: now + LINK_LIFETIME_SECS,
                created_at: now,
                recurrence: invoice.recurrence(),
                public_url: ctx.public_url.trim_end_matches('/').to_string(),
            };
            // Enqueued once per invoice: sending again while the provider is slow finds the
            // same job, so there is never a second link.
            let job = work::enqueue_in(
                conn,
                shop,
                &work::Work::CreateLink {
                    provider: provider.to_string(),
                    request,
                },
                "link",
                now,
                now,
            )
            .await?;
            // Asked again after the provider refused: try again (same idempotency key).
            crate::storage::jobs::revive_in(conn, job, now).await?;
            Ok(Outcome {
                answer: sent_answer(&invoice, true),
                event_ids: Vec::new(),
                jobs: vec![job],
            })
        }
        Command::InvoiceRefund {
            invoice_id,
            amount_minor,
        } => {
            let invoice = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invoice {invoice_id}")))?;
            if !matches!(
                invoice.status(),
                InvoiceStatus::Paid | InvoiceStatus::PartiallyRefunded
            ) {
                return Err(Error::InvalidInput(format!(
                    "invoice #{} is {}; only a paid invoice can be refunded",
                    invoice.number, invoice.status
                )));
            }
            let provider = match (invoice.paid_via.as_deref(), invoice.pay_provider.clone()) {
                (Some("webhook"), Some(p)) => p,
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "invoice #{} was marked paid by hand, not through a provider; refund it where the money was taken",
                        invoice.number
                    )))
                }
            };
            let left = invoice.total_minor - invoice.refunded_minor;
            let amount = amount_minor.unwrap_or(left);
            if amount <= 0 || amount > left {
                return Err(Error::InvalidInput(format!(
                    "a refund of invoice #{} is between {} and {}",
                    invoice.number,
                    Money::new(1, invoice.currency.clone()).display(),
                    Money::new(left, invoice.currency.clone()).display()
                )));
            }
            let refunds = crate::storage::jobs::refund_states_in(conn, shop, *invoice_id).await?;
            if refunds.iter().any(|state| state == "pending") {
                return Err(Error::InvalidInput(format!(
                    "a refund of invoice #{} is already on its way; wait for it before another",
                    invoice.number
                )));
            }
            let request = pay::RefundRequest {
                shop: shop.to_string(),
                invoice_id: *invoice_id,
                payment_ref: invoice.payment_ref.clone(),
                amount_minor: amount,
                currency: invoice.currency.clone(),
                refunded_before: invoice.refunded_minor,
                total_minor: invoice.total_minor,
            };
            let job = work::enqueue_in(
                conn,
                shop,
                &work::Work::Refund { provider, request },
                &format!("refund{}", refunds.len() + 1),
                now,
                now,
            )
            .await?;
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "refund_minor": amount, "pending": true }),
                event_ids: Vec::new(),
                jobs: vec![job],
            })
        }
        Command::BillingConnect { .. }
        | Command::BillingWebhookSecret { .. }
        | Command::BillingDisconnect {}
        | Command::WhatsappConnect { .. }
        | Command::WhatsappDisconnect {}
        | Command::LlmSet { .. }
        | Command::NotifySet { .. }
        | Command::NotifyTest { .. } => Err(Error::InvalidInput(
            "connecting providers is done by the relay, which holds the shop's keys".into(),
        )),
        Command::DevicePermit { .. }
        | Command::DeviceRevoke { .. }
        | Command::EventRetry { .. } => Err(Error::InvalidInput(
            "devices and quarantined events are the relay's own; send this to the relay".into(),
        )),
        Command::OrderMove {
            invoice_id,
            stage,
            notify,
        } => {
            if !matches!(stage.as_str(), "ready_to_ship" | "shipped" | "delivered") {
                return Err(Error::InvalidInput(format!(
                    "an order moves to ready_to_ship, shipped or delivered, not {stage:?}"
                )));
            }
            let inv = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("order {invoice_id}")))?;
            let Some(from) = inv.fulfilment_stage.clone() else {
                return Err(Error::InvalidInput(format!(
                    "order #{} is not paid, so it is not on the board",
                    inv.number
                )));
            };
            if &from == stage {
                return Ok(Outcome {
                    answer: json!({ "invoice_id": invoice_id, "stage": stage, "changed": false }),
                    event_ids: Vec::new(),
                    jobs: Vec::new(),
                });
            }
            let moved = Event::OrderStageChanged(ev::OrderStageChanged {
                invoice_id: *invoice_id,
                from: Some(from),
                to: stage.clone(),
            });
            let mut ids = vec![record(conn, shop, &moved, now).await?];
            if *notify && stage == "shipped" {
                let text = crate::reminders::send::shipped_text(conn, shop, &inv).await?;
                let message = ev::MessageSent {
                    invoice_id: Some(*invoice_id),
                    link: Some(false),
                    ..ev::MessageSent::new(&inv.customer_phone, text, "rep")
                };
                ids.push(record(conn, shop, &Event::MessageSent(message), now).await?);
            }
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "stage": stage, "changed": true }),
                event_ids: ids,
                jobs: Vec::new(),
            })
        }
        Command::AgentTestSave {
            name,
            messages,
            expect,
        } => {
            let ending: crate::agent::bottests::Ending = serde_json::from_value(expect.clone())
                .map_err(|e| Error::InvalidInput(format!("the test's ending: {e}")))?;
            crate::agent::bottests::validate(name, messages, &ending)
                .map_err(Error::InvalidInput)?;
            let saved = Event::AgentTestSaved(ev::AgentTestSaved {
                name: name.trim().to_string(),
                messages: messages.clone(),
                expect: serde_json::to_value(&ending)
                    .map_err(|e| Error::InvalidInput(format!("the test's ending: {e}")))?,
            });
            let id = record(conn, shop, &saved, now).await?;
            Ok(Outcome {
                answer: json!({ "id": id, "saved": true }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::AgentTestDelete { id } => {
            if !crate::storage::agent_tests::exists_in(conn, shop, *id).await? {
                return Err(Error::NotFound(format!("bot test {id}")));
            }
            let deleted = Event::AgentTestDeleted(ev::AgentTestDeleted { id: *id });
            let event = record(conn, shop, &deleted, now).await?;
            Ok(Outcome {
                answer: json!({ "id": id, "deleted": true }),
                event_ids: vec![event],
                jobs: Vec::new(),
            })
        }
        Command::ScenarioSet { scenario } => {
            crate::scenario::check(scenario)?;
            let changed = Event::ScenarioChanged(scenario.clone());
            let id = record(conn, shop, &changed, now).await?;
            // A new reminder schedule moves the steps already waiting.
            crate::reminders::reschedule_in(conn, shop, now).await?;
            Ok(Outcome {
                answer: json!({ "saved": true }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::InvoiceMarkPaid { invoice_id } => {
            let invoice = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invoice {invoice_id}")))?;
            let changed = matches!(
                invoice.status(),
                InvoiceStatus::Draft
                    | InvoiceStatus::Sent
                    | InvoiceStatus::Expired
                    | InvoiceStatus::Failed
            );
            let mut event_ids = Vec::new();
            if changed {
                // The event is the fact; the projection (the same code the desktops run)
                // makes the invoice paid.
                let paid = Event::InvoicePaid(ev::InvoicePaid {
                    invoice_id: *invoice_id,
                    via: Some("manual".into()),
                    source_event: None,
                });
                event_ids.push(record(conn, shop, &paid, now).await?);
            }
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "paid": true, "changed": changed }),
                event_ids,
                jobs: Vec::new(),
            })
        }
        Command::InvoiceCreate {
            customer_phone,
            currency,
            items,
            shipping_minor,
            address,
            subscription,
        } => {
            let recurrence = subscription
                .as_ref()
                .map(|s| pay::Recurrence::new(&s.unit, s.count, s.first_charge_at, now))
                .transpose()?;
            let new = invoices::NewInvoice {
                customer_phone: customer_phone.clone(),
                currency: currency.clone(),
                items: items.iter().map(invoices::LineItem::from).collect(),
                shipping_minor: *shipping_minor,
                address: address.clone(),
                recurrence,
            };
            let (invoice_id, number) = invoices::create_in(conn, shop, &new, now).await?;
            let total = invoices::total_minor(&new.items, new.shipping_minor)?;
            let created = Event::InvoiceCreated(ev::InvoiceCreated {
                invoice_id,
                number,
                customer_phone: customer_phone.clone(),
                currency: currency.clone(),
                items: items.clone(),
                shipping_minor: *shipping_minor,
                total_minor: Some(total),
                address: address.clone(),
                subscription: subscription.clone(),
            });
            let id = record(conn, shop, &created, now).await?;
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "number": number, "total_minor": total }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::MessageSend { to, text } => {
            if !crate::storage::conversations::is_e164(to) {
                return Err(Error::InvalidInput(format!(
                    "to: a phone in E.164 like +15125550123, got {to:?}"
                )));
            }
            let text = text.trim();
            if text.is_empty() || text.chars().count() > 4096 {
                return Err(Error::InvalidInput(
                    "a message has 1 to 4096 characters".into(),
                ));
            }
            let sent = Event::MessageSent(ev::MessageSent::new(to, text, "rep"));
            let id = record(conn, shop, &sent, now).await?;
            Ok(Outcome {
                answer: json!({ "sent": true }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::ConversationBot { phone, enabled } => {
            if crate::storage::conversations::reach_in(conn, shop, phone)
                .await?
                .is_none()
            {
                return Err(Error::NotFound(format!("conversation with {phone}")));
            }
            let set = Event::ConversationBotSet(ev::BotSet {
                phone: phone.clone(),
                enabled: *enabled,
            });
            let id = record(conn, shop, &set, now).await?;
            Ok(Outcome {
                answer: json!({ "phone": phone, "bot_enabled": enabled }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::CatalogSet { catalog } => {
            let parsed = crate::catalog::Catalog::parse(catalog)?;
            let payload = serde_json::to_value(&parsed)
                .map_err(|e| Error::InvalidInput(format!("the catalog: {e}")))?;
            let replaced = Event::CatalogReplaced(ev::CatalogReplaced(payload));
            let id = record(conn, shop, &replaced, now).await?;
            Ok(Outcome {
                answer: json!({ "products": parsed.catalog.len(), "zones": parsed.shipping.len() }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::AutomationsSet { rules } => {
            let stages = crate::crm::stages_in(conn, shop).await?;
            crate::crm::check_rules(rules, &stages)?;
            let text = serde_json::to_string(rules)
                .map_err(|e| Error::InvalidInput(format!("the rules: {e}")))?;
            settings_event(conn, shop, "automations", &text, now).await
        }
        Command::PipelineSet { stages } => {
            crate::crm::check_pipeline(conn, shop, stages).await?;
            let text = serde_json::to_string(stages)
                .map_err(|e| Error::InvalidInput(format!("the stages: {e}")))?;
            settings_event(conn, shop, "pipeline", &text, now).await
        }
        Command::LeadUpdate {
            phone,
            stage,
            add_tag,
            remove_tag,
        } => {
            if !crate::storage::conversations::is_customer_in(conn, shop, phone).await? {
                return Err(Error::NotFound(format!("a customer {phone}")));
            }
            if let Some(s) = stage {
                let stages = crate::crm::stages_in(conn, shop).await?;
                if !stages.contains(s) {
                    return Err(Error::InvalidInput(format!(
                        "{s:?} is not a stage; stages: {}",
                        stages.join(", ")
                    )));
                }
            }
            let tags = [add_tag, remove_tag];
            if tags.iter().any(|t| {
                t.as_ref()
                    .is_some_and(|t| t.trim().is_empty() || t.len() > 40)
            }) {
                return Err(Error::InvalidInput("a tag has 1 to 40 characters".into()));
            }
            if stage.is_none() && tags.iter().all(|t| t.is_none()) {
                return Err(Error::InvalidInput("nothing to change".into()));
            }
            let trimmed = |t: &Option<String>| t.as_deref().map(|t| t.trim().to_string());
            let changed = Event::LeadChanged(ev::LeadChanged {
                phone: phone.clone(),
                stage: stage.clone(),
                add_tag: trimmed(add_tag),
                remove_tag: trimmed(remove_tag),
            });
            let id = record(conn, shop, &changed, now).await?;
            Ok(Outcome {
                answer: json!({ "phone": phone, "changed": true }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::TemplateSet { name, text } => {
            let allowed = match name.as_str() {
                "invoice" => crate::template::INVOICE_VARIABLES,
                n if n
                    .strip_prefix("notify.")
                    .and_then(ziflow_protocol::automation::Trigger::from_key)
                    .is_some() =>
                {
                    crate::notify::VARIABLES
                }
                other => match other
                    .strip_prefix("reply.")
                    .and_then(crate::agent::reply_variables)
                {
                    Some(vars) => vars,
                    None => {
                        return Err(Error::InvalidInput(format!(
                            "there is no {other:?} template; templates: invoice, the \
                             agent's replies (reply.en.greeting, reply.es.paid, …) and the \
                             notifications (notify.payment_succeeded, notify.handoff, …)"
                        )))
                    }
                },
            };
            // An empty reply or notification goes back to the built-in wording.
            let reset = (name.starts_with("reply.") || name.starts_with("notify."))
                && text.trim().is_empty();
            if !reset {
                let checked = if name == "invoice" {
                    crate::template::parse_invoice(text)
                } else {
                    crate::template::Template::parse(text, allowed)
                };
                checked.map_err(|e| Error::InvalidInput(format!("the {name} template: {e}")))?;
            }
            let key = if name.starts_with("reply.") {
                name.clone() // the agent's replies live under reply.<lang>.<reply>
            } else {
                format!("template.{name}")
            };
            settings_event(conn, shop, &key, text, now).await
        }
    }
}

/// Records a `settings.changed` of `key` to `value` (already checked).
async fn settings_event(
    conn: &mut SqliteConnection,
    shop: &str,
    key: &str,
    value: &str,
    now: i64,
) -> Result<Outcome> {
    let changed = Event::SettingsChanged(ev::SettingChanged {
        key: key.to_string(),
        value: value.to_string(),
    });
    let id = record(conn, shop, &changed, now).await?;
    Ok(Outcome {
        answer: json!({ "key": key, "saved": true }),
        event_ids: vec![id],
        jobs: Vec::new(),
    })
}

/// The answer to `invoice.send`: the link once there is one, else that it is on its way.
pub fn sent_answer(invoice: &invoices::InvoiceRow, changed: bool) -> Value {
    match (&invoice.pay_link, invoice.link_expires_at) {
        (Some(link), Some(expires_at)) => json!({
            "invoice_id": invoice.id, "link": link, "expires_at": expires_at,
            "provider": invoice.pay_provider, "changed": changed,
        }),
        _ => json!({ "invoice_id": invoice.id, "pending": true, "changed": changed }),
    }
}
