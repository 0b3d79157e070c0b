//! OpenID Connect Front-Channel Logout 1.0: an application that can only clear a cookie in
//! the browser registers a `frontchannel_logout_uri`; the STS's logout page loads it in an
//! invisible iframe for each application of the ending session, with `iss` and `sid`
//! (§2, §3), then returns to the application that asked.

use diesel::prelude::*;

use crate::domain::types::RedirectUri;
use crate::domain::{DomainError, DomainResult};
use crate::store::DbConn;
use crate::store::schema::{clients, grants};

/// Sets the page client `id` clears its session on (none: it has none).
pub fn set_uri(conn: &mut DbConn, id: &str, uri: Option<&str>) -> DomainResult<()> {
    let uri = uri
        .map(|u| {
            RedirectUri::parse(u)
                .map_err(|_| super::backchannel::logout_uri_invalid("frontchannel_logout_uri"))
        })
        .transpose()?;
    let changed = diesel::update(clients::table.find(id))
        .set(clients::frontchannel_logout_uri.eq(uri.as_ref().map(RedirectUri::as_str)))
        .execute(conn)?;
    if changed == 0 {
        return Err(DomainError::NotFound(format!("client {id}").into()));
    }
    Ok(())
}

/// The addresses the logout page of session `sid` loads: each listening client's page with
/// `iss` and `sid` (§3).
pub fn pages_for_session(conn: &mut DbConn, issuer: &str, sid: &str) -> DomainResult<Vec<String>> {
    let uris: Vec<String> = grants::table
        .filter(grants::sso_session_id.eq(sid))
        .inner_join(clients::table)
        .filter(clients::frontchannel_logout_uri.is_not_null())
        .select(clients::frontchannel_logout_uri.assume_not_null())
        .distinct()
        .load(conn)?;
    Ok(uris
        .into_iter()
        .filter_map(|uri| {
            let mut url = url::Url::parse(&uri).ok()?;
            url.query_pairs_mut()
                .append_pair("iss", issuer)
                .append_pair("sid", sid);
            Some(url.to_string())
        })
        .collect())
}
