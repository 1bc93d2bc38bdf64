//! Designations: the names reviewers use for sources, like `brave-otter-4127`.
//!
//! A designation is derived from the source's lookup id, so it is stable across fetches and
//! needs no table, and reviewers never handle the lookup id itself (which names the source's
//! folder). Two EFF words and a number in 1000..9999 give 7776² × 9000 ≈ 5.4 × 10¹¹ names, so
//! even 100,000 sources collide with probability under 1 %; the reviewer API refuses to act on
//! an ambiguous designation rather than guess.

use sha2::{Digest, Sha256};

use crate::code::wordlist;
use crate::i18n::Lang;
use crate::source_key::LookupId;

const DOMAIN: &[u8] = b"lanterne v1 designation";

/// The designation of a source.
pub fn of(lookup: &LookupId) -> String {
    let digest = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(lookup.to_hex().as_bytes())
        .finalize();
    let words = wordlist(Lang::En);
    let pick = |i: usize| {
        let n = u32::from_be_bytes([digest[i], digest[i + 1], digest[i + 2], digest[i + 3]]);
        words[n as usize % words.len()]
    };
    let number = 1000 + u32::from_be_bytes([digest[8], digest[9], digest[10], digest[11]]) % 9000;
    // A few EFF words carry a hyphen (t-shirt); drop it so a designation always has 3 parts.
    format!(
        "{}-{}-{number}",
        pick(0).replace('-', ""),
        pick(4).replace('-', "")
    )
}

/// Whether `s` has the shape of a designation (so it is safe in a path).
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_distinct_and_path_safe() {
        let a = LookupId::from_hex(&"01".repeat(32)).unwrap();
        let b = LookupId::from_hex(&"02".repeat(32)).unwrap();
        assert_eq!(of(&a), of(&a));
        assert_ne!(of(&a), of(&b));
        assert!(is_valid(&of(&a)), "{}", of(&a));
        assert_eq!(of(&a).split('-').count(), 3);
        for bad in ["", "../x", "a/b", "A-b", "-x", "x y"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    /// Designations did not change when the English list was vendored (values computed with
    /// `diceware_wordlists` 1.2.3 at 68b3e09).
    #[test]
    fn known_designations_are_unchanged() {
        let a = LookupId::from_hex(&"01".repeat(32)).unwrap();
        let b = LookupId::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(of(&a), "debit-compound-7849");
        assert_eq!(of(&b), "paper-decimal-4501");
    }
}
