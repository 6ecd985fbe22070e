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
    /// The work was taken over: a job's lease ran out and a newer attempt (on this relay or
    /// another) owns its result, so this attempt's result is dropped.
    #[error("{0}")]
    Stale(String),
}

impl Error {
    /// Whether doing the same thing again will fail the same way: a constraint the data
    /// breaks, a row or column that is not there, input that is refused. The disk, a lock or
    /// a closed pool may pass, so they are not lasting. (The relay quarantines an event whose
    /// failure is lasting; a desk skips it.)
    pub fn lasting(&self) -> bool {
        match self {
            Self::NotFound(_) | Self::InvalidInput(_) | Self::Stale(_) => true,
            Self::Storage(e) => match e {
                sqlx::Error::Database(db) => !matches!(db.kind(), sqlx::error::ErrorKind::Other),
                sqlx::Error::RowNotFound
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::TypeNotFound { .. } => true,
                _ => false,
            },
            Self::Migrate(_) => false,
        }
    }

    /// Stable code for the `{code, message}` error shape.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Storage(_) | Self::Migrate(_) => "storage",
            Self::NotFound(_) => "not_found",
            Self::InvalidInput(_) => "invalid_input",
            Self::Stale(_) => "stale",
        }
    }
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
