//! `lanterne review …` and `lanterne keys new` with no network at all: the same offline
//! commands as the `lanterne-review` binary (whose own tests, with the commands' behaviour on
//! damaged and hostile bundles, are in crates/lanterne-offline/tests/review_offline.rs).

use crate::common::support;

const BIN: &str = env!("CARGO_BIN_EXE_lanterne");

#[test]
fn the_offline_commands_work_with_no_network_and_open_no_socket() {
    support::offline_round_trip(BIN, &["review"]);
}
