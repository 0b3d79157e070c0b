//! The language switch on every page: `/language?to=nl&back=/login?request=…` remembers the
//! choice on this browser (a cookie; the account gets it at the next login) and returns to
//! the page, which keeps what the person was doing (its pending login, its link).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{State, see_other};
use crate::i18n::Locale;
use crate::web::cookies;
use crate::web::landing::Landing;

#[derive(Debug, Deserialize)]
pub struct Switch {
    #[serde(default)]
    to: String,
    #[serde(default)]
    back: String,
}

pub async fn switch(state: State, query: web::Query<Switch>) -> HttpResponse {
    let query = query.into_inner();
    let back = Landing::page(&query.back);
    let mut resp = see_other(back.as_ref().map_or("/", Landing::as_str));
    if let Some(locale) = Locale::parse(&query.to) {
        let https = state.idp.settings.https();
        cookies::add(&mut resp, [cookies::language(locale, https)]);
    }
    resp
}
