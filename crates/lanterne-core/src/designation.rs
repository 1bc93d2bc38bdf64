//! Designations: the names reviewers use for sources, like `brave-otter-4127`.
//!
//! A designation is derived from a hash, so it is stable across fetches and needs no table.
//! The server derives it from the source's public age recipient ([`of_recipient`]): the name
//! commits to the key, so the offline machine checks that a bundle did not pair a designation
//! with another key, and reviewers never handle the lookup id (which names the source's folder
//! on the server and stays there, `lanterne::source_key`). Two EFF words and a number in 1000..9999 give 7776² × 9000 ≈ 5.4 × 10¹¹ names, so
//! even 100,000 sources collide with probability under 1 %; the reviewer API refuses to act on
//! an ambiguous designation rather than guess.
//!
//! That is about 2³⁹ names: enough to tell sources apart, too few to stop someone who grinds
//! a key with the same designation. So reviewers also see a source's [`fingerprint`], 128 bits
//! of its recipient, to compare between offline machines, and a reply's signature names the
//! full recipient (`crate::reply::Signed`).
//!
//! The words are the EFF large list as published, vendored in `wordlists/v1/en.txt`
//! ([`ENGLISH_WORDS`]). English codes were drawn from it up to list version 1; they now come
//! from a filtered list (`wordlists/en.txt`, `lanterne::code`), but designations stay on this
//! one, so no name a reviewer already knows or pinned changes. A designation is seen by the
//! team only, never written on a source's paper.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// Domain of designations derived from a source's public recipient ([`of_recipient`]).
const RECIPIENT_DOMAIN: &[u8] = b"lanterne v2 designation of a recipient";

/// Domain of a source recipient's [`fingerprint`].
const FINGERPRINT_DOMAIN: &[u8] = b"lanterne v1 fingerprint of a source recipient";

/// The fingerprint of a source's recipient (`age1…`, as text): 128 bits of a SHA-256, as 32
/// hex digits in eight groups of four, short enough for two reviewers to read to each other.
pub fn fingerprint(recipient: &str) -> String {
    let digest = Sha256::new()
        .chain_update(FINGERPRINT_DOMAIN)
        .chain_update(recipient.trim().as_bytes())
        .finalize();
    let hex = hex::encode(&digest[..16]);
    let groups: Vec<&str> = (0..8).map(|i| &hex[i * 4..i * 4 + 4]).collect();
    groups.join(" ")
}

/// The EFF large word list, as published (provenance and SHA-256 in `wordlists/PROVENANCE.md`).
pub const ENGLISH_WORDS: &str = include_str!("../../../wordlists/v1/en.txt");

/// The words of [`ENGLISH_WORDS`], split once.
fn words() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| ENGLISH_WORDS.lines().filter(|w| !w.is_empty()).collect())
}

/// The designation of a source, from its public age recipient (`age1…`, as text): the name
/// then commits to the key, so the offline machine can check that a bundle did not pair a
/// designation with another key.
pub fn of_recipient(recipient: &str) -> String {
    from_digest(
        &Sha256::new()
            .chain_update(RECIPIENT_DOMAIN)
            .chain_update(recipient.trim().as_bytes())
            .finalize(),
    )
}

/// Two words and a number in 1000..9999 picked by a SHA-256 digest.
fn from_digest(digest: &[u8]) -> String {
    let words = words();
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
    fn path_safe_shapes() {
        for bad in ["", "../x", "a/b", "A-b", "-x", "x y"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    /// Designations do not change under a reviewer's feet: the offline machine pins sources by
    /// them. (Values of this build with the vendored word list; a separate computation, SHA-256
    /// of the domain and the recipient, then word = u32 big-endian mod 7776, gives the same.)
    #[test]
    fn known_designations_are_unchanged() {
        let a = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
        let b = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        assert_eq!(of_recipient(a), "ethics-icky-7858");
        assert_eq!(of_recipient(b), "turf-prism-9664");
    }

    /// A fingerprint is 128 bits of its own domain's SHA-256 of the recipient (the value was
    /// computed apart, with Python's hashlib), stable under surrounding whitespace.
    #[test]
    fn fingerprints_are_128_bits_and_stable() {
        let a = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
        assert_eq!(fingerprint(a), "ec84 dfd1 ea6c d2c6 280b 22bb 4725 eeba");
        assert_eq!(fingerprint(&format!("{a}\n")), fingerprint(a));
    }

    #[test]
    fn recipient_designations_commit_to_the_key() {
        let a = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
        let b = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        assert_eq!(of_recipient(a), of_recipient(&format!(" {a}\n")));
        assert_ne!(of_recipient(a), of_recipient(b));
        assert!(is_valid(&of_recipient(a)));
        assert_eq!(of_recipient(a).split('-').count(), 3);
    }
}
