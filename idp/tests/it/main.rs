#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! One integration-test binary: the real server on a free port, on SQLite and on a real
//! PostgreSQL (a fresh database per test), with the `openidconnect` crate as relying party.

mod admin;
mod attack;
mod branding;
mod browser;
mod claims;
mod deliverability;
mod faults;
mod flow;
mod journeys;
mod login;
mod logout_everywhere;
mod logs;
mod mail;
mod migration;
mod migration_screens;
mod negative;
mod onboarding;
mod ops;
mod overload;
mod pages;
mod par;
mod people;
mod properties;
mod recovery_e2e;
mod remembered_clients;
mod request_objects;
mod reset_grants;
mod resources;
mod scale_out;
mod sessions;
mod staff;
mod support;
mod upstream;
