//! The end-to-end tests that drive the real `lanterne` and `lanterne-review` binaries over
//! loopback, as one test binary: one link of the library and its dependencies instead of one
//! per file (`autotests = false` in Cargo.toml, as ripgrep does). Each module is one concern,
//! and `common` is the harness they share (server start, a workstation credential and fetch,
//! a source's browser). Run one concern with `cargo test --test e2e reviewer_loop::`.
//!
//! The tests that time the server under load or load the machine themselves (availability,
//! slow_attacks, browser, onion, tornet_selftest) stay binaries of their own, so they never run
//! beside these.

mod common;

mod bounded_deletion;
mod check_digest;
mod cli;
mod crash;
mod disk_full;
mod hardening;
mod hostile;
mod hostile_server;
mod lifecycle;
mod logs;
mod old_lists;
mod replies_in_bundle;
mod reply_replay;
mod review_inbox;
mod review_offline;
mod review_tui;
mod reviewer_integrity;
mod reviewer_loop;
mod self_check;
mod signed_replies;
mod source_flow;
mod source_pages;
mod startup_guards;
mod stored_sizes;
mod workstation_onion;
