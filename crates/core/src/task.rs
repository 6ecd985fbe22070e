//! Every kind of durable job, typed: [`Task::read`] turns a stored job's kind and payload
//! into one variant, so the relay's runner dispatches with a `match` (a new kind that is not
//! handled there fails to compile) and each kind's code receives its payload already read.
//!
//! The kinds and their payloads are written by the domain modules that enqueue them
//! (`pay::work`, `channel`, `agent::phrase`, `agent::reader`, `reminders`, `notify`, `crm`);
//! the stored strings stay what they were, so jobs enqueued by an older relay still run.

use crate::agent::phrase::PhraseWork;
use crate::agent::reader::ReadWork;
use crate::channel::ChannelWork;
use crate::crm::{RuleHandoff, RuleMessage};
use crate::notify::NotifyWork;
use crate::pay::work::Work;
use crate::reminders::RemindWork;

/// One job's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// `pay.*`: make, expire or refund through a payment provider.
    Pay(Work),
    /// `wa.*`: send a message or mark one read on the WhatsApp Cloud API.
    Channel(ChannelWork),
    /// `agent.phrase`: let the shop's model word a reply.
    Phrase(PhraseWork),
    /// `agent.read`: let the shop's model read a customer's message.
    Read(ReadWork),
    /// `invoice.remind`: one payment-reminder step.
    Remind(RemindWork),
    /// `notify.send`: one owner notification on one channel.
    Notify(NotifyWork),
    /// `crm.message`: a rule messages the customer.
    RuleMessage(RuleMessage),
    /// `crm.handoff`: a rule hands the conversation to a person.
    RuleHandoff(RuleHandoff),
}

/// A job whose kind is unknown or whose payload does not read as that kind's: it is failed
/// for good with this text (retrying cannot make it readable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable job: {0}")]
pub struct Unreadable(pub String);

impl Task {
    /// Reads a stored job (`kind`, `payload`).
    pub fn read(kind: &str, payload: &str) -> Result<Self, Unreadable> {
        fn json<T: serde::de::DeserializeOwned>(
            kind: &str,
            payload: &str,
        ) -> Result<T, Unreadable> {
            serde_json::from_str(payload).map_err(|e| Unreadable(format!("{kind}: {e}")))
        }
        let task = match kind {
            "pay.create_link" | "pay.expire_link" | "pay.align_first_charge" | "pay.refund" => {
                let work: Work = json(kind, payload)?;
                if work.kind() != kind {
                    return Err(Unreadable(format!(
                        "a {kind} job carries {} work",
                        work.kind()
                    )));
                }
                Self::Pay(work)
            }
            "wa.send" | "wa.mark_read" => Self::Channel(json(kind, payload)?),
            PhraseWork::KIND => Self::Phrase(json(kind, payload)?),
            ReadWork::KIND => Self::Read(json(kind, payload)?),
            crate::reminders::KIND => Self::Remind(json(kind, payload)?),
            crate::notify::KIND => Self::Notify(json(kind, payload)?),
            crate::crm::MESSAGE_KIND => Self::RuleMessage(json(kind, payload)?),
            crate::crm::HANDOFF_KIND => Self::RuleHandoff(json(kind, payload)?),
            other => return Err(Unreadable(format!("no job kind {other:?}"))),
        };
        Ok(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_what_was_enqueued_and_strangers_are_unreadable() {
        let send = ChannelWork::Send { event_id: 7 };
        let stored = serde_json::to_string(&send).unwrap();
        assert_eq!(
            Task::read(send.kind(), &stored),
            Ok(Task::Channel(send)),
            "a wa.send job reads back as channel work"
        );
        let message = r#"{"to":"+34600000001","text":"Hola"}"#;
        assert_eq!(
            Task::read(crate::crm::MESSAGE_KIND, message),
            Ok(Task::RuleMessage(RuleMessage {
                to: "+34600000001".into(),
                text: "Hola".into()
            })),
            "a rule's message job (as stored by older relays too) reads back"
        );
        let expire = Work::ExpireLink {
            provider: "stripe".into(),
            invoice_id: 3,
            reference: "plink_1".into(),
        };
        let stored = serde_json::to_string(&expire).unwrap();
        assert!(
            Task::read("pay.refund", &stored).is_err(),
            "a pay job whose payload is another pay kind is refused, not run as it"
        );
        assert!(
            Task::read("pay.frobnicate", "{}").is_err(),
            "an unknown kind is unreadable"
        );
        assert!(
            Task::read(crate::notify::KIND, "not json").is_err(),
            "a broken payload is unreadable"
        );
    }
}
