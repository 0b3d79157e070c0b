//! The one error type of the domain. The web layer maps it to HTTP status codes and
//! RFC 6749 error codes in `web::error`; nothing else decides those.

use std::borrow::Cow;

/// Error codes of RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6, RFC 6750 §3.1 and
/// RFC 7009 §2.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    InvalidToken,
    ServerError,
    /// OIDC Core §3.1.2.6: the `request` parameter (a request object) is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// OIDC Core §3.1.2.6, §7.2.1: the `registration` parameter is not supported.
    RegistrationNotSupported,
    /// RFC 9101 §6.2, RFC 9126 §4: a `request_uri` that names no usable request.
    InvalidRequestUri,
    /// RFC 8707 §2: the `resource` is not one this client may have a token for.
    InvalidTarget,
    /// OIDC Core §3.1.2.6, RFC 9101 §6.1: the request object is not acceptable.
    InvalidRequestObject,
    /// RFC 6749 §4.1.2.1: "unable to handle the request due to a temporary overloading or
    /// maintenance"; answered with 503 and `Retry-After`.
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidToken => "invalid_token",
            Self::ServerError => "server_error",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A protocol error to report to the client with its code.
    #[error("{}: {description}", code.as_str())]
    OAuth {
        code: ErrorCode,
        description: Cow<'static, str>,
    },
    /// A value given by an administrator or a user does not fit its field.
    #[error("{field}: expected {expected}")]
    Invalid {
        field: &'static str,
        expected: Cow<'static, str>,
    },
    #[error("{0} not found")]
    NotFound(Cow<'static, str>),
    #[error("{0}")]
    Conflict(Cow<'static, str>),
    /// Stored data that cannot be read back: a bug or tampering, never the caller's fault.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Our own failure with sound data: a blocking task that died, a template that did not
    /// render. Never the caller's fault either.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("database: {0}")]
    Store(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Too busy, or the database is out of reach for now: try again in a few seconds.
    #[error("temporarily unavailable: {0}")]
    Unavailable(Cow<'static, str>),
}

impl DomainError {
    pub fn oauth(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::OAuth {
            code,
            description: description.into(),
        }
    }
    pub fn invalid(field: &'static str, expected: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            field,
            expected: expected.into(),
        }
    }
    /// The RFC 6749 code this error is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::OAuth { code, .. } => *code,
            Self::Invalid { .. } | Self::NotFound(_) | Self::Conflict(_) => {
                ErrorCode::InvalidRequest
            }
            Self::Unavailable(_) | Self::Pool(_) => ErrorCode::TemporarilyUnavailable,
            Self::Store(e) if lost_connection(e) || refused_write(e).is_some() => {
                ErrorCode::TemporarilyUnavailable
            }
            _ => ErrorCode::ServerError,
        }
    }
    /// Whether the database refused to keep a write (a full disk, a read-only store): the
    /// transaction was rolled back whole, and an operator must act before writes succeed.
    pub fn refused_write(&self) -> Option<RefusedWrite> {
        match self {
            Self::Store(e) => refused_write(e),
            _ => None,
        }
    }
    /// Whether the caller is at fault (4xx) rather than us (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self.code(),
            ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
        )
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// Why the database would not keep a write. Reads still work, nothing was half-written
/// (each request's writes are one transaction, rolled back whole), and it will not pass by
/// itself in a few seconds the way a restart does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedWrite {
    /// The disk holding the database is full (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `ENOSPC`, SQLSTATE 53100).
    DiskFull,
    /// The database is read-only: a read-only file system or file (SQLite's
    /// `SQLITE_READONLY`), or a PostgreSQL standby or `default_transaction_read_only`
    /// (SQLSTATE 25006).
    ReadOnly,
}

impl RefusedWrite {
    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::ReadOnly => "read_only",
        }
    }
    /// What the operator reads in the log: the cause and what to do about it.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::DiskFull => {
                "the disk holding the database is full: free space on it; nothing was half-written, and writes succeed again as soon as there is room"
            }
            Self::ReadOnly => {
                "the database is read-only (a read-only file system or file, or a PostgreSQL standby): point database_url at a writable primary; nothing was half-written"
            }
        }
    }
}

/// The database's own words for a refused write. diesel names PostgreSQL's read-only
/// transactions; the rest has no kind of its own and is told by SQLite's `sqlite3_errstr`
/// texts and by the operating system's `ENOSPC`/`EROFS` texts PostgreSQL passes on.
fn refused_write(e: &diesel::result::Error) -> Option<RefusedWrite> {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _) => {
            Some(RefusedWrite::ReadOnly)
        }
        Error::DatabaseError(_, info) => {
            let message = info.message();
            if message.contains("database or disk is full")
                || message.contains("No space left on device")
            {
                Some(RefusedWrite::DiskFull)
            } else if message.contains("attempt to write a readonly database")
                || message.contains("Read-only file system")
                || message.contains("read-only transaction")
            {
                Some(RefusedWrite::ReadOnly)
            } else {
                None
            }
        }
        // SQLite rolls a transaction back itself when the disk fills; diesel's own ROLLBACK
        // then fails too, and reports both.
        Error::RollbackErrorOnCommit { commit_error, .. } => refused_write(commit_error),
        _ => None,
    }
}

/// A query that failed because the database went away under it (a restart, a failover):
/// the next try, on a fresh connection, may well succeed.
fn lost_connection(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(
        e,
        Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    fn database(kind: DatabaseErrorKind, message: &str) -> DomainError {
        DomainError::Store(Error::DatabaseError(kind, Box::new(message.to_string())))
    }

    /// The words SQLite and PostgreSQL use for a full disk and a read-only store are told
    /// apart from other failures: a 503 an operator must act on, not a 500.
    #[test]
    fn refused_writes_are_told_apart() {
        let cases = [
            (
                database(DatabaseErrorKind::Unknown, "database or disk is full"),
                Some(RefusedWrite::DiskFull),
            ),
            (
                database(
                    DatabaseErrorKind::Unknown,
                    "could not extend file \"base/16384/2619\": No space left on device",
                ),
                Some(RefusedWrite::DiskFull),
            ),
            (
                database(
                    DatabaseErrorKind::Unknown,
                    "attempt to write a readonly database",
                ),
                Some(RefusedWrite::ReadOnly),
            ),
            (
                database(
                    DatabaseErrorKind::ReadOnlyTransaction,
                    "cannot execute INSERT in a read-only transaction",
                ),
                Some(RefusedWrite::ReadOnly),
            ),
            (
                DomainError::Store(Error::RollbackErrorOnCommit {
                    rollback_error: Box::new(Error::BrokenTransactionManager),
                    commit_error: Box::new(Error::DatabaseError(
                        DatabaseErrorKind::Unknown,
                        Box::new("database or disk is full".to_string()),
                    )),
                }),
                Some(RefusedWrite::DiskFull),
            ),
            (
                database(DatabaseErrorKind::Unknown, "no such table: users"),
                None,
            ),
            (
                database(
                    DatabaseErrorKind::UniqueViolation,
                    "UNIQUE constraint failed",
                ),
                None,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.refused_write(), expected, "{error}");
            let code = if expected.is_some() {
                ErrorCode::TemporarilyUnavailable
            } else {
                ErrorCode::ServerError
            };
            assert_eq!(error.code(), code, "{error}");
        }
    }
}
