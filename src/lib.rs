//! lanterne: a drop box that encrypts every submission on arrival to offline reviewers.
//!
//! # Layout
//!
//! This package is the code of the two networked machines; the code they share with the
//! offline machine lives in the workspace's other crates and is re-exported here under its old
//! paths:
//!
//! - **Server:** [`server`] (the lifecycle: [`server::run`] binds, serves and shuts down;
//!   `lanterne serve` only calls it), [`web`] (the sources' pages and the reviewer API over
//!   HTTP), [`ingest`], [`store`], [`onion`] (the Tor onion service, with an in-process arti
//!   client; its self-check in `onion::selfcheck`), [`code`], [`source_key`], [`i18n`],
//!   [`config`], [`pinned`], [`credentials`] (the workstations' credentials, as the server
//!   checks them), [`demo`], [`status`] (the running box's status socket), [`check`]
//!   (`lanterne check`, which reads it) and [`digest`] (`lanterne digest`).
//! - **Networked workstation:** [`workstation`] (`lanterne fetch` and `lanterne push`, an HTTP
//!   client of the reviewer API), which is the `lanterne-workstation` crate.
//! - **Offline machine:** [`review`] and [`keys`], which are the `lanterne-offline` crate (the
//!   `lanterne-review` binary's library; no network code in its dependency tree).
//! - **Shared:** [`api`], [`manifest`], [`seal`], [`card`], [`reply`] (the check of a pushed
//!   reply and its signature), [`designation`], [`hardening`], [`durable`], from `lanterne-core`.
//!
//! Public are only the modules the `lanterne` binary, the integration tests, the benches and
//! the fuzzers call; [`ingest`], [`store`], [`source_key`], [`i18n`], [`pinned`], [`status`]
//! and `onion::selfcheck` are private to this crate, so the compiler reports what in them
//! nothing uses.
//!
//! The data path, in the order bytes travel:
//!
//! 1. [`web`] (its upload handler) reads the multipart request as a stream of chunks;
//! 2. [`ingest`] counts each chunk against the limits and queues it for its file's sealing
//!    thread, which runs age streaming encryption ([`seal`]);
//! 3. the ciphertext goes into a temporary file in the staging area ([`store`]);
//! 4. on commit every file is fsynced and the whole submission is renamed into place
//!    atomically, and only then is the source told it arrived.
//!
//! Around that path: [`code`] makes and reads the source's secret code, [`source_key`] turns
//! it into a lookup id and an age identity, [`i18n`] holds the page texts, and [`config`] the
//! settings. On the server, [`web`] is the only module that serves HTTP ([`workstation`],
//! the workstation's client, is the only code that sends it); the crypto ([`seal`], [`source_key`])
//! and storage ([`store`]) modules never see a request. [`onion`] publishes the same app as a
//! Tor onion service with an in-process arti client.

// The docs map private modules too (the layout above, each module's "who calls me"); they are
// links under `cargo doc --document-private-items`, plain names otherwise.
#![allow(rustdoc::private_intra_doc_links)]

pub mod check;
pub mod code;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod digest;
mod i18n;
mod ingest;
pub mod onion;
mod pinned;
pub mod server;
mod source_key;
mod status;
mod store;
pub mod web;

pub use lanterne_core::{
    api, card, designation, durable, hardening, manifest, padding, reply, seal,
};
pub use lanterne_offline as review;
pub use lanterne_offline::keys;
pub use lanterne_workstation as workstation;

/// What the server logs when `LANTERNE_LOG` is not set: its start, warnings and errors only,
/// never a line per event (journald timestamps every line, so such lines would be a record of
/// when sources and reviewers came).
pub const DEFAULT_LOG_FILTER: &str = "lanterne=info,warn";

/// Prints one status line for whoever started the server (`listening on …`, `onion address: …`)
/// on stdout. A closed stdout is ignored: the box keeps serving whether or not anyone reads it.
pub fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
