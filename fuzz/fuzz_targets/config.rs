//! Fuzzes the operator's configuration parsers: `lanterne::config::Config::from_toml` (the
//! `--config` file) followed by `validate()` when it parses, and
//! `lanterne::onion::parse_network` (the `--tor-network` arti TOML fragment) followed by
//! arti's own `build()` of the resulting client configuration. Input: the fuzz bytes as
//! UTF-8 when they are, else their lossy conversion; both parsers see every input.
//!
//! Asserts: no panic; a validated config listens only on loopback unless
//! `allow_public_listen` is set, and keeps the KDF at 64 MiB or more; a parsed config
//! serializes back to TOML that parses again to the same TOML.
#![no_main]

use std::borrow::Cow;

use lanterne::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text: Cow<str> = match std::str::from_utf8(data) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(data),
    };

    if let Ok(config) = Config::from_toml(&text) {
        if config.validate().is_ok() {
            assert!(config.allow_public_listen || config.listen.ip().is_loopback());
            assert!(config.allow_public_listen || config.reviewer.listen.ip().is_loopback());
            assert!(config.kdf.memory_kib >= 64 * 1024);
        }
        if let Ok(written) = toml::to_string(&config) {
            let again = Config::from_toml(&written)
                .unwrap_or_else(|e| panic!("re-parsing {written:?} failed: {e}"));
            let rewritten = toml::to_string(&again).expect("serializes twice");
            assert_eq!(written, rewritten, "config TOML round trip changed it");
        }
    }

    if let Ok(builder) = lanterne::onion::parse_network(&text) {
        let _ = builder.build();
    }
});
