//! Account recovery: "Forgot password?", the reset link and code, the new password,
//! temporary passwords and "Forgot your identifier?" (OWASP Forgot Password cheat sheet,
//! NIST 800-63B §6.1.2.3).
//!
//! Nothing here tells whether an account exists: requests answer the same way whatever
//! matched, and the web layer gives every answer the same minimum duration.

mod complete;
mod recipients;
mod request;
mod temporary;

use chrono::Duration;
use serde::{Deserialize, Serialize};

pub use complete::{Credential, Done, NewPassword, Outcome as CompletionOutcome, Problem};
pub use complete::{change_password, complete, open, password_problems};
pub use recipients::Recipient;
pub use request::{Requested, ResetRequest, forgot_identifier, forgot_password};
pub use temporary::{Delivery, IssuedTemporary, issue_temporary_password};

pub use super::audit::Origin;

/// Which fields of the "Forgot password?" form identify the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyBy {
    /// The identifier only.
    Identifier,
    /// The e-mail address only: every account using it gets a link (families).
    Email,
    /// One field taking either (CREOS).
    #[default]
    Either,
    /// Both, and they must belong to the same account (Smartschool).
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoverySettings {
    /// Which fields identify the account on the "Forgot password?" form.
    pub identify_by: IdentifyBy,
    /// How long a reset link and its code stay valid.
    pub reset_ttl_seconds: i64,
    /// Ask again for the account's e-mail address with the new password (CREOS).
    pub confirm_email_on_reset: bool,
    /// End the account's sessions and refresh tokens when its password is reset.
    pub end_sessions_on_reset: bool,
    /// How long a temporary password works.
    pub temporary_password_ttl_seconds: i64,
    /// Shortest time a request takes to answer, so timing does not reveal a match.
    pub response_floor_millis: u64,
    /// Seconds the confirmation page waits before going back to the application (CREOS).
    pub redirect_delay_seconds: u32,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            identify_by: IdentifyBy::Either,
            reset_ttl_seconds: 48 * 3600,
            confirm_email_on_reset: false,
            end_sessions_on_reset: true,
            temporary_password_ttl_seconds: 7 * 86_400,
            response_floor_millis: 400,
            redirect_delay_seconds: 5,
        }
    }
}

impl RecoverySettings {
    /// A bad value, as (key, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(600..=14 * 86_400).contains(&self.reset_ttl_seconds) {
            return Err((
                "reset_ttl_seconds",
                "must be between 600 (10 minutes) and 1209600 (14 days)".into(),
            ));
        }
        if !(3600..=90 * 86_400).contains(&self.temporary_password_ttl_seconds) {
            return Err((
                "temporary_password_ttl_seconds",
                "must be between 3600 (1 hour) and 7776000 (90 days)".into(),
            ));
        }
        if self.response_floor_millis > 5000 {
            return Err(("response_floor_millis", "must be at most 5000".into()));
        }
        if self.redirect_delay_seconds > 60 {
            return Err(("redirect_delay_seconds", "must be at most 60".into()));
        }
        Ok(())
    }

    pub fn reset_ttl(&self) -> Duration {
        Duration::seconds(self.reset_ttl_seconds)
    }
}
