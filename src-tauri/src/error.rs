//! The one error every command returns, serialized as `{code, message}`. The UI matches on
//! `code`; `message` is written for the person at the desk.

use serde::Serialize;
use ziflow_protocol::CommandError;

/// A command failure.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Error(pub CommandError);

impl Error {
    /// An error with this code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self(CommandError::new(code, message))
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
        Self::new(e.code(), message)
    }
}

/// Result of a command.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_and_message_only() {
        let e = Error::from(ziflow_core::Error::NotFound("invoice 7".into()));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "not_found", "message": "invoice 7 not found"})
        );
    }
}
