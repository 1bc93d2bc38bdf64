//! Fuzzes `lanterne::code::normalize`, which reads the secret code a source types at login
//! (`POST /login`), on arbitrary UTF-8 and on the lossy UTF-8 conversion of arbitrary bytes.
//!
//! Asserts: no panic; input longer than `MAX_INPUT_BYTES` is refused as `TooLong`; an accepted
//! code is exactly `WORDS` non-empty words joined by single spaces, holds no upper-case letter,
//! white space or combining mark, and normalizing it again gives the same bytes.
#![no_main]

use lanterne::code::{normalize, CodeError, MAX_INPUT_BYTES, WORDS};
use libfuzzer_sys::fuzz_target;

fn check(input: &str) {
    match normalize(input) {
        Ok(code) => {
            assert!(input.len() <= MAX_INPUT_BYTES);
            let text = std::str::from_utf8(code.as_bytes()).expect("a normalized code is UTF-8");
            let words: Vec<&str> = text.split(' ').collect();
            assert_eq!(words.len(), WORDS, "{text:?}");
            assert!(words.iter().all(|w| !w.is_empty()), "{text:?}");
            assert!(
                text.chars()
                    .all(|c| c == ' ' || (!c.is_whitespace() && !c.is_uppercase())),
                "{text:?}"
            );
            let again = normalize(text).expect("a normalized code normalizes again");
            assert_eq!(
                again.as_bytes(),
                code.as_bytes(),
                "normalize is not idempotent"
            );
        }
        Err(CodeError::TooLong) => assert!(input.len() > MAX_INPUT_BYTES),
        Err(_) => assert!(input.len() <= MAX_INPUT_BYTES),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
    }
    check(&String::from_utf8_lossy(data));
});
