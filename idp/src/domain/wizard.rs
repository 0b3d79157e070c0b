//! The required-actions wizard as a state machine: one submitted step moves the login flow
//! on (Back, Next, accept or refuse the terms, set the new password), and the last step ends
//! the login as every login ends (`login::finish`). The web shows the steps; it decides
//! nothing here.

use super::login::{self, Authenticated, Finished, Then};
use super::oidc::authorize;
use super::recovery::{self, NewPassword, Origin};
use super::required_actions::{self, Flow, Step};
use super::resets::Purpose;
use super::users::{self, User};
use super::{DomainError, DomainResult, ErrorCode, Idp, audit, links, migration, schools, terms};
use crate::store::DbConn;

/// What the person pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Back,
    Next,
    Accept,
    Refuse,
    /// Nothing to do (an expired form): the same step again.
    Stay,
}

impl Action {
    pub fn parse(button: &str) -> Self {
        match button {
            "back" => Self::Back,
            "next" => Self::Next,
            "accept" => Self::Accept,
            "refuse" => Self::Refuse,
            _ => Self::Stay,
        }
    }
}

/// Everything the wizard page needs, read in one go.
pub struct View {
    pub flow: Flow,
    pub user: User,
    /// The accounts this one is a co-account of (a guardian's children), with the relation.
    pub pupils: Vec<(User, String)>,
    pub schools: Vec<schools::School>,
    /// The terms still to accept.
    pub terms: Vec<terms::Terms>,
    /// Where the account came from, when a migration brought it.
    pub moved: Option<migration::Moved>,
}

pub fn load(conn: &mut DbConn, flow: Flow) -> DomainResult<View> {
    let user = users::find_by_id(conn, flow.user_id)?
        .ok_or_else(|| DomainError::NotFound("account".into()))?;
    let pupils = links::accounts_of(conn, user.id)?;
    let schools = schools::schools_of(conn, user.id)?;
    let terms = terms::owed_by(conn, user.id)?;
    let moved = migration::moved(conn, user.id)?;
    Ok(View {
        moved,
        flow,
        user,
        pupils,
        schools,
        terms,
    })
}

/// What a submitted step led to.
pub enum Next {
    /// Show the wizard (with the reasons a new password was refused).
    Show(Box<View>, Vec<recovery::Problem>),
    /// The login is done (or owes new required actions).
    Finished(Finished),
    /// Terms refused: back to the application with access_denied, or a page.
    Refused(Option<String>),
    Expired,
}

/// The wizard is done: the first login is recorded, and the login ends as every login
/// does, with how the person authenticated before the wizard.
fn finish(
    idp: &Idp,
    conn: &mut DbConn,
    secret: &str,
    flow: Flow,
    from: Origin<'_>,
) -> DomainResult<Next> {
    users::mark_first_login(conn, flow.user_id, idp.now())?;
    required_actions::end(conn, secret)?;
    let Some(user) = users::find_by_id(conn, flow.user_id)? else {
        return Ok(Next::Expired);
    };
    let then = match &flow.request_id {
        Some(id) => Then::answering(idp, conn, id)?,
        None => Then::Answer(None),
    };
    let client_id = match &then {
        Then::Answer(Some(pending)) => Some(pending.request.client_id.to_string()),
        _ => None,
    };
    let origin = from.for_client(client_id.as_deref());
    let who = Authenticated {
        user,
        amr: flow.amr,
        method: flow.method,
        old_identifier: None,
        upstream: flow.upstream,
    };
    let finished = login::finish(idp, conn, who, origin, then)?;
    Ok(Next::Finished(finished))
}

/// One submitted step of the wizard whose flow `secret` names.
pub fn submit(
    idp: &Idp,
    conn: &mut DbConn,
    secret: &str,
    action: Action,
    new: NewPassword<'_>,
    from: Origin<'_>,
) -> DomainResult<Next> {
    let now = idp.now();
    let Some(mut flow) = required_actions::find(conn, secret, now)? else {
        return Ok(Next::Expired);
    };
    // Disabled meanwhile: the login ends here.
    if users::find_by_id(conn, flow.user_id)?.is_none_or(|u| u.disabled) {
        required_actions::end(conn, secret)?;
        return Ok(Next::Expired);
    }
    let mut problems = Vec::new();
    match (action, flow.current()) {
        (Action::Back, _) => flow.position = flow.position.saturating_sub(1),
        (Action::Refuse, Some(Step::Terms)) => {
            for t in &terms::owed_by(conn, flow.user_id)? {
                audit::Event::new(audit::Kind::TermsRefused)
                    .from(from)
                    .user(flow.user_id)
                    .detail(&t.version)
                    .record(conn, now)?;
            }
            required_actions::end(conn, secret)?;
            let redirect = match &flow.request_id {
                Some(id) => match authorize::load_pending(idp, conn, id)? {
                    Some(p) => {
                        authorize::delete_pending(conn, id)?;
                        let err = DomainError::oauth(
                            ErrorCode::AccessDenied,
                            "the terms of use were refused",
                        );
                        Some(authorize::error_redirect(idp, &p, &err))
                    }
                    None => None,
                },
                None => None,
            };
            return Ok(Next::Refused(redirect));
        }
        (Action::Accept, Some(Step::Terms)) => {
            for t in terms::owed_by(conn, flow.user_id)? {
                terms::accept(conn, flow.user_id, &t.id, now)?;
                audit::Event::new(audit::Kind::TermsAccepted)
                    .from(from)
                    .user(flow.user_id)
                    .detail(&t.version)
                    .record(conn, now)?;
            }
            flow.position += 1;
        }
        (Action::Next, Some(Step::NewPassword)) => {
            let user = users::find_by_id(conn, flow.user_id)?
                .ok_or_else(|| DomainError::NotFound("account".into()))?;
            if user.password_change_required {
                problems = recovery::change_password(
                    idp,
                    conn,
                    &user,
                    new,
                    Purpose::TemporaryPassword,
                    from,
                )?;
            }
            if problems.is_empty() {
                flow.position += 1;
            }
        }
        (Action::Next, Some(Step::Terms)) => {} // Terms are accepted or refused, not skipped.
        (Action::Next, Some(_)) => flow.position += 1,
        _ => {}
    }
    if flow.position >= flow.steps.len() {
        return finish(idp, conn, secret, flow, from);
    }
    required_actions::move_to(conn, secret, flow.position)?;
    Ok(Next::Show(Box::new(load(conn, flow)?), problems))
}
