//! Account recovery: "Forgot password?", the reset link and code, the new password,
//! temporary passwords and "Forgot your identifier?" (OWASP Forgot Password cheat sheet,
//! NIST 800-63B §6.1.2.3).
//!
//! Nothing here tells whether an account exists: requests answer the same way whatever
//! matched, and the web layer gives every answer the same minimum duration.

mod complete;
mod notice;
mod recipients;
mod request;
mod temporary;

pub use complete::{Credential, Done, NewPassword, Outcome as CompletionOutcome, Problem};
pub use complete::{change_password, complete, open, password_problems};
pub use notice::{email_changed, sign_in_changed};
pub use recipients::Recipient;
pub use request::{
    Requested, ResetRequest, StaffReset, forgot_identifier, forgot_password, reset_by_staff,
};
pub use temporary::{Delivery, IssuedTemporary, issue_temporary_password};

pub use super::audit::Origin;
pub use crate::config::{IdentifyBy, RecoverySettings};
