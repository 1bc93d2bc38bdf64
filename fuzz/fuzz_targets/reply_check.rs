//! Fuzzes `lanterne::reply::check_reply`, the server's validation of the shape of a reply that
//! a reviewer workstation pushes (`POST /api/v1/sources/{designation}/replies`): it must be an
//! age file encrypted to recipients, not to a passphrase. (Its signature is checked after it,
//! by `reply::verify`, which runs `check_reply` first: inputs with a NUL byte also drive it, the
//! bytes after the NUL as the signature.)
//!
//! Asserts: no panic, and the same answer twice. An accepted reply has a header that ends
//! within `seal::MAX_HEADER_BYTES`, and it is also decrypted with `seal::open_small` (what
//! the box does with a stored reply when the source logs in) under a fixed X25519 identity,
//! the one the seeds are encrypted to: no panic whatever the payload.
#![no_main]

use std::str::FromStr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The test identity the `reply_check` seeds are encrypted to (a throwaway key, for fuzzing).
const IDENTITY: &str = include_str!("reply_check.identity");

fn identity() -> &'static age::x25519::Identity {
    static ID: OnceLock<age::x25519::Identity> = OnceLock::new();
    ID.get_or_init(|| {
        age::x25519::Identity::from_str(
            IDENTITY
                .lines()
                .find(|l| l.starts_with("AGE-SECRET-KEY-"))
                .expect("key line"),
        )
        .expect("test identity")
    })
}

/// A reviewer card for the signature check: its key signed none of the inputs, so this only
/// drives the signature parser and the verifier on outside bytes.
fn card() -> lanterne::card::Card {
    lanterne::card::Card {
        name: "fuzz".into(),
        recipient: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq".into(),
        minisign: Some("RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3".into()),
    }
}

fuzz_target!(|data: &[u8]| {
    // Bytes up to the first NUL are the reply, the rest its signature (`.minisig` text), as a
    // push carries them: a forged signature must be refused, never accepted, whatever it holds.
    if let Some(at) = data.iter().position(|&b| b == 0) {
        let (reply, signature) = (&data[..at], &data[at + 1..]);
        let team = [card()];
        let recipient = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
        let verdict =
            lanterne::reply::verify(reply, signature, "brave-otter-4127", recipient, &team);
        if let Ok(text) = std::str::from_utf8(signature) {
            // The comment parser on outside text: never a panic, and what it accepts round-trips.
            if let Ok(signed) = lanterne::reply::Signed::parse(text) {
                assert_eq!(lanterne::reply::Signed::parse(&signed.comment()), Ok(signed));
            }
        }
        assert!(verdict.is_err(), "an unsigned input was accepted");
        let _ = lanterne::api::decode_signature(&String::from_utf8_lossy(signature));
    }
    let first = lanterne::reply::check_reply(data);
    assert_eq!(first, lanterne::reply::check_reply(data));
    if first.is_ok() {
        assert!(lanterne::seal::header_is_bounded(data));
        // What the box does with a stored reply when the source logs in.
        let _ = lanterne::seal::open_small(data, identity(), 1 << 20);
    }
});
