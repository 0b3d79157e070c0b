//! The organising bodies' screens (`/admin`), without HTTP: roles and who they cover
//! (`scope`), and what the screens show and do. Every function takes the signed-in
//! `Staff` and finds what it names through it, so nothing outside a person's scope is
//! ever read or changed.

pub mod accounts;
pub mod grants;
pub mod help;
pub mod migration;
pub mod requests;
pub mod roles;
pub mod scope;
pub mod terms;
pub mod trail;

pub use roles::Role;
pub use scope::{Access, SignedIn, Staff, signed_in};
