//! The relay's one error type: what went wrong with a request or a call, classified so the
//! door it came through (HTTP today) can answer it — 4xx says what was wrong; 5xx is logged
//! with detail and answered without it (see `http`).

/// Every error a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong; the text says how. Nothing was stored.
    #[error("{0}")]
    BadRequest(String),
    /// No or a bad device token.
    #[error("a valid device token is required (Authorization: Bearer …)")]
    Unauthorized,
    /// The thing addressed does not exist (or is not the caller's).
    #[error("{0} not found")]
    NotFound(String),
    /// The body is over the route's limit.
    #[error("{0}")]
    TooLarge(String),
    /// Refused by policy (e.g. a wrong WhatsApp verify token).
    #[error("{0}")]
    Forbidden(String),
    /// A dependency (the database) is not answering.
    #[error("service unavailable")]
    Unavailable(String),
    /// Too many of something at once (push streams of one device, one source's requests).
    #[error("{0}")]
    TooMany(String),
    /// Our fault; details go to the log only.
    #[error("internal error")]
    Internal(String),
}

impl From<ziflow_core::Error> for Error {
    fn from(e: ziflow_core::Error) -> Self {
        match e {
            ziflow_core::Error::NotFound(what) => Self::NotFound(what),
            ziflow_core::Error::InvalidInput(why) => Self::BadRequest(why),
            other => Self::Internal(other.to_string()),
        }
    }
}
