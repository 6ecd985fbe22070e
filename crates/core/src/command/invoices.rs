//! Invoice and order commands: create, send (the pay job makes the link), refund, mark
//! paid by hand, and moving a paid order on the board.

use crate::storage::Conn;
use ziflow_protocol::answer as A;
use ziflow_protocol::event as ev;
use ziflow_protocol::{Command, Event};

use super::{answer, Context, Outcome, LINK_LIFETIME_SECS, NO_PROVIDER};
use crate::log::record;
use crate::pay::{self, work};
use crate::storage::invoices::{self, InvoiceRow};
use crate::{Error, InvoiceStatus, Money, Result};

/// Runs one of the invoice commands ([`super::execute`] routes them here).
pub(super) async fn execute(
    conn: &mut Conn,
    shop: &str,
    cmd: &Command,
    now: i64,
    ctx: &Context<'_>,
) -> Result<Outcome> {
    match cmd {
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
                answer: answer(&A::InvoiceCreate {
                    invoice_id,
                    number,
                    total_minor: total,
                }),
                event_ids: vec![id],
                jobs: Vec::new(),
            })
        }
        Command::InvoiceSend { invoice_id } => {
            let invoice = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invoice {invoice_id}")))?;
            if invoice.pay_link.is_some() {
                // Sent before: the same link, never a second one.
                return Ok(Outcome {
                    answer: answer(&sent_answer(&invoice, false)),
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
                answer: answer(&sent_answer(&invoice, true)),
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
                answer: answer(&A::InvoiceRefund {
                    invoice_id: *invoice_id,
                    refund_minor: amount,
                    pending: true,
                    message: None,
                }),
                event_ids: Vec::new(),
                jobs: vec![job],
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
                answer: answer(&A::InvoiceMarkPaid {
                    invoice_id: *invoice_id,
                    paid: true,
                    changed,
                }),
                event_ids,
                jobs: Vec::new(),
            })
        }
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
                    answer: answer(&A::OrderMove {
                        invoice_id: *invoice_id,
                        stage: stage.clone(),
                        changed: false,
                    }),
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
                answer: answer(&A::OrderMove {
                    invoice_id: *invoice_id,
                    stage: stage.clone(),
                    changed: true,
                }),
                event_ids: ids,
                jobs: Vec::new(),
            })
        }
        other => Err(Error::InvalidInput(format!(
            "not a invoice command: {other:?}"
        ))),
    }
}

/// The answer to `invoice.send`: the link once there is one, else that it is on its way.
pub fn sent_answer(invoice: &InvoiceRow, changed: bool) -> A::InvoiceSend {
    match (&invoice.pay_link, invoice.link_expires_at) {
        (Some(link), Some(expires_at)) => A::InvoiceSend {
            invoice_id: invoice.id,
            link: Some(link.clone()),
            expires_at: Some(expires_at),
            provider: invoice.pay_provider.clone(),
            changed,
            ..A::InvoiceSend::default()
        },
        _ => A::InvoiceSend {
            invoice_id: invoice.id,
            pending: true,
            changed,
            ..A::InvoiceSend::default()
        },
    }
}
