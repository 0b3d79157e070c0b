//! An OpenID Connect provider (STS) for school platforms.
//!
//! - `domain`: accounts, clients, keys and the OIDC protocol, free of HTTP;
//! - `store`: one diesel code path for SQLite and PostgreSQL;
//! - `web`: thin actix handlers and pages;
//! - `cli`: the `idp` command.

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod federation;
pub mod i18n;
pub mod mail_templates;
pub mod metrics;
pub mod notify;
pub mod store;
pub mod web;
