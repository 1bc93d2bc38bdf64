//! lanterne-core: the formats and the crypto that every machine of a lanterne deployment shares.
//!
//! It has no tokio, no HTTP and no Tor in its dependency tree (`scripts/check-offline-deps`
//! checks it), so the offline reviewer's binary can depend on it.
//!
//! # Layout
//!
//! Every module runs on more than one machine:
//!
//! - **Server and offline machine:** [`manifest`] (what a submission held, sealed beside its
//!   files: the server writes it, the reviewer reads it), [`seal`] (age recipients, sealing to
//!   them, and the one header-bounded decrypt, [`seal::decrypt`]), [`designation`] (the names
//!   reviewers use for sources, derived from their recipients), [`day`] (dates
//!   kept to the day), [`hardening`] (no core dumps for any process that holds keys or
//!   plaintext; the server's memory lock and data dir lock too), [`card`] (a reviewer's public
//!   age and signing keys, which the offline machine pins and the server reads from its keys
//!   dir), [`reply`] (the trusted comment a reply's signature carries, and the server's check of
//!   a pushed reply and its signature), [`padding`] (the size buckets every stored file is
//!   padded to, and how the exact bytes come back) and [`limits`] (the reply size that `review reply` writes, the reviewer API
//!   accepts and the source's page shows).
//! - **Networked workstation and offline machine:** [`bundle`], the reviewer bundle's format:
//!   `fetch` writes it, `review open` and `review reply` read it.
//! - **Server and networked workstation:** [`api`], the reviewer API's wire types and paths
//!   ([`api::path`]: the server's routes and the client's URLs), and [`credential`], the
//!   workstation's credential file.
//! - **Every machine:** [`durable`] (the one "temp file, fsync, rename" and the one "new 0600
//!   file, fsync"), [`text`] (the one escaping of untrusted text before it is printed) and
//!   [`causes`] (the one way an error and its causes are printed, each cause once).
//!
//! Shared means public; what only this crate uses is `pub(crate)`.

#![forbid(unsafe_code)]

pub mod api;
pub mod bundle;
pub mod card;
pub mod causes;
pub mod credential;
pub mod day;
pub mod designation;
pub mod durable;
pub mod hardening;
pub mod limits;
pub mod manifest;
pub mod padding;
pub mod reply;
pub mod seal;
pub mod text;
