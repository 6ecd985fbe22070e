//! The core's one error type. Callers at a front door map it to their transport's shape
//! (`CommandError` for Tauri, an HTTP status for the relay).

/// What can go wrong in core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be read or written.
    #[error("database error: {0}")]
    Storage(#[from] sqlx::Error),
    /// The database schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The caller asked for something that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller's input was refused; nothing was changed.
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    /// Stable code for the `{code, message}` error shape.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Storage(_) | Self::Migrate(_) => "storage",
            Self::NotFound(_) => "not_found",
            Self::InvalidInput(_) => "invalid_input",
        }
    }
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
