//! Fuzzes `lanterne::manifest::Manifest::parse`, which reads the decrypted manifest of a
//! submission (JSON written by the server, but carried by a bundle the reviewer does not
//! control end to end).
//!
//! Asserts: no panic; an accepted manifest has the version this build reads, and it survives a
//! round trip through `to_padded_json` (padded to its size bucket) and `parse` unchanged.
#![no_main]

use lanterne::manifest::{Manifest, VERSION};
use lanterne::padding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        assert_eq!(m.version, VERSION);
        let json = m.to_padded_json();
        assert_eq!(json.len() as u64, padding::bucket(json.len() as u64));
        let back = Manifest::parse(&json).expect("a padded manifest parses again");
        assert_eq!(back, m, "manifest round trip changed it");
    }
});
