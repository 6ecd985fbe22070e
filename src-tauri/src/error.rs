//! The one error every command returns, serialized as `{code, message}`. The UI matches on
//! `code`; `message` is written for the person at the desk.

use serde::Serialize;
use ziflow_protocol::{CommandError, ErrorCode};

/// A command failure.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Error(pub CommandError);

impl Error {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(CommandError::new(code, message))
    }
}

impl Error {
    /// A relay call that failed, the one way every command reports it: a refusal keeps `code`
    /// and the relay's words; anything else says what did not happen (`not_done`, like
    /// "nothing changed") and why — the relay unreachable, this device signed out, an answer
    /// this version cannot read.
    pub fn from_relay(e: crate::sync::SyncError, code: ErrorCode, not_done: &str) -> Self {
        use crate::sync::SyncError;
        match e {
            SyncError::Refused(why) => Self::new(code, why),
            SyncError::Storage(e) => e.into(),
            SyncError::Unauthorized => {
                Self::new(ErrorCode::Unauthorized, format!("{not_done}: {e}"))
            }
            SyncError::Protocol(_) => {
                Self::new(ErrorCode::RelayProtocol, format!("{not_done}: {e}"))
            }
            other => Self::new(ErrorCode::RelayUnreachable, format!("{not_done}: {other}")),
        }
    }
}

impl From<ziflow_core::Error> for Error {
    fn from(e: ziflow_core::Error) -> Self {
        if matches!(
            e,
            ziflow_core::Error::Storage(_) | ziflow_core::Error::Migrate(_)
        ) {
            tracing::error!("storage error in a command: {e}");
        }
        let message = match &e {
            ziflow_core::Error::Storage(_) | ziflow_core::Error::Migrate(_) => {
                "ZiFlow could not read its database. Restart the app; if this persists, \
                 check that the disk is not full."
                    .to_string()
            }
            other => other.to_string(),
        };
        let code = match e {
            ziflow_core::Error::Storage(_) | ziflow_core::Error::Migrate(_) => ErrorCode::Storage,
            ziflow_core::Error::NotFound(_) => ErrorCode::NotFound,
            ziflow_core::Error::InvalidInput(_) => ErrorCode::InvalidInput,
            ziflow_core::Error::Stale(_) => ErrorCode::Refused,
        };
        Self::new(code, message)
    }
}

/// Result of a command.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::SyncError;

    #[test]
    fn a_relay_refusal_is_reported_as_a_refusal_not_as_unreachable() {
        let refused = Error::from_relay(
            SyncError::Refused("that conversation does not exist".into()),
            ErrorCode::Refused,
            "not changed",
        );
        assert_eq!(refused.0.code, ErrorCode::Refused);
        assert_eq!(refused.0.message, "that conversation does not exist");
        let down = Error::from_relay(
            SyncError::Unreachable("connection refused".into()),
            ErrorCode::Refused,
            "not changed",
        );
        assert_eq!(down.0.code, ErrorCode::RelayUnreachable);
        assert_eq!(
            down.0.message,
            "not changed: relay unreachable: connection refused"
        );
        let out = Error::from_relay(SyncError::Unauthorized, ErrorCode::Refused, "not sent");
        assert_eq!(out.0.code, ErrorCode::Unauthorized);
    }

    #[test]
    fn serializes_as_code_and_message_only() {
        let e = Error::from(ziflow_core::Error::NotFound("invoice 7".into()));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "not_found", "message": "invoice 7 not found"})
        );
    }
}
