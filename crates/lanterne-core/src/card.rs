//! Reviewer cards: a reviewer's public keys in one small text file.
//!
//! A card names a reviewer and holds their age recipient (what submissions and replies are
//! encrypted to) and their minisign public key (what replies they write are signed with). It is
//! at the same time a valid age recipients file, so `age -R CARD` encrypts to the reviewer:
//!
//! ```text
//! # lanterne reviewer card v1
//! # name: alice
//! # minisign: RWQ…
//! age1…
//! ```
//!
//! The offline machine pins the team's cards (`lanterne review team add`), and the server reads
//! them from its keys dir (`seal::Recipients::load_dir`), where a reply pushed to a source must
//! carry a signature by one of their minisign keys. A file with only age recipients (no header)
//! is a read-only reviewer: they can decrypt, but no reply can be signed for them. Parsing is
//! strict: one recipient, known header lines only, a minisign key that parses,
//! [`MAX_CARD_BYTES`] at most.

use std::fmt;

/// The first line of every card.
pub const HEADER: &str = "# lanterne reviewer card v1";

/// Largest card read, in bytes.
pub const MAX_CARD_BYTES: usize = 4096;

/// Largest plain recipients file read, in bytes (post-quantum recipients are about 2 KB each).
pub const MAX_KEYS_FILE_BYTES: usize = 64 * 1024;

/// Longest reviewer name.
const MAX_NAME: usize = 32;

/// A reviewer's public card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// `[a-z0-9_-]{1,32}`.
    pub name: String,
    /// The age recipient, `age1…` (X25519, or a plugin's `age1<name>1…`).
    pub recipient: String,
    /// The minisign public key (base64, as `minisign` prints it); `None` for a read-only card.
    pub minisign: Option<String>,
}

/// Why a card was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    #[error("the card is larger than {MAX_CARD_BYTES} bytes")]
    TooLarge,
    #[error("the card is not UTF-8 text")]
    NotText,
    #[error("{0:?} is not a reviewer name: use 1 to 32 lower-case letters, digits, '-' or '_'")]
    BadName(String),
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the card holds no age recipient (age1…)")]
    NoRecipient,
    #[error("the card holds more than one age recipient; a card is one reviewer")]
    ManyRecipients,
    #[error("the card has a minisign key but no `# name:` line")]
    NoName,
}

/// Whether `name` is a reviewer name: `[a-z0-9_-]{1,32}`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether `s` looks like an age recipient: `age1` then bech32 characters (X25519 or plugin).
/// Only the shape: nothing is parsed that could name a plugin to run.
fn is_recipient_shaped(s: &str) -> bool {
    s.len() > 8
        && s.len() <= 2048
        && s.starts_with("age1")
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether `s` looks like a minisign Ed25519 public key in base64: 56 characters, `RW…`.
fn is_minisign_shaped(s: &str) -> bool {
    s.len() == 56
        && s.starts_with("RW")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

impl Card {
    /// Parses a card's bytes. `fallback_name` names a plain recipients file (no header), e.g.
    /// the file's stem; a card with a header must carry its own `# name:`. Exactly one
    /// recipient.
    pub fn parse(bytes: &[u8], fallback_name: &str) -> Result<Card, CardError> {
        if bytes.len() > MAX_CARD_BYTES {
            return Err(CardError::TooLarge);
        }
        let mut cards = Card::parse_file(bytes, fallback_name)?;
        match (cards.pop(), cards.is_empty()) {
            (Some(card), true) => Ok(card),
            (Some(_), false) => Err(CardError::ManyRecipients),
            (None, _) => Err(CardError::NoRecipient),
        }
    }

    /// Parses a file of the server's keys dir: a card (one reviewer), or a plain age
    /// recipients file (`age -R` format), each of whose recipients is a read-only reviewer
    /// named `fallback_name`. The one parser of recipient files: the server's
    /// `seal::Recipients::load_dir` and the offline machine's pinned team both read through it.
    pub fn parse_file(bytes: &[u8], fallback_name: &str) -> Result<Vec<Card>, CardError> {
        if bytes.len() > MAX_KEYS_FILE_BYTES {
            return Err(CardError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CardError::NotText)?;
        let has_header = text.lines().next().map(str::trim) == Some(HEADER);
        if has_header && bytes.len() > MAX_CARD_BYTES {
            return Err(CardError::TooLarge);
        }
        let mut name = None;
        let mut minisign = None;
        let mut recipients = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let bad = |message: &str| CardError::Line {
                line: i + 1,
                message: message.to_owned(),
            };
            if line.is_empty() || (i == 0 && has_header) {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if !has_header {
                    // A plain age recipients file: comments are only comments.
                    continue;
                }
                let Some((key, value)) = comment.trim().split_once(':') else {
                    return Err(bad("a card's comment lines are `# name:` or `# minisign:`"));
                };
                let value = value.trim();
                let slot = match key.trim() {
                    "name" => {
                        if !is_valid_name(value) {
                            return Err(CardError::BadName(value.to_owned()));
                        }
                        &mut name
                    }
                    "minisign" => {
                        if !is_minisign_shaped(value)
                            || minisign_verify::PublicKey::from_base64(value).is_err()
                        {
                            return Err(bad("not a minisign public key (RW…, base64)"));
                        }
                        &mut minisign
                    }
                    _ => return Err(bad("unknown card field; known: name, minisign")),
                };
                if slot.replace(value.to_owned()).is_some() {
                    return Err(bad("this field is given twice"));
                }
                continue;
            }
            if !is_recipient_shaped(line) {
                return Err(bad("not an age recipient (age1…)"));
            }
            recipients.push(line.to_owned());
        }
        if recipients.is_empty() {
            return Err(CardError::NoRecipient);
        }
        if has_header && recipients.len() > 1 {
            return Err(CardError::ManyRecipients);
        }
        let name = match name {
            Some(n) => n,
            None if minisign.is_some() => return Err(CardError::NoName),
            None if is_valid_name(fallback_name) => fallback_name.to_owned(),
            None => return Err(CardError::BadName(fallback_name.to_owned())),
        };
        Ok(recipients
            .into_iter()
            .map(|recipient| Card {
                name: name.clone(),
                recipient,
                minisign: minisign.clone(),
            })
            .collect())
    }

    /// The card's minisign public key, parsed for verifying; `None` for a read-only card.
    pub fn signing_key(&self) -> Option<minisign_verify::PublicKey> {
        // Checked when the card was parsed, so only a hand-built card can fail here.
        minisign_verify::PublicKey::from_base64(self.minisign.as_deref()?).ok()
    }

    /// Whether replies can be signed for this reviewer.
    pub fn can_sign(&self) -> bool {
        self.minisign.is_some()
    }
}

/// The card's text, as [`Card::parse`] reads it (and `age -R` too).
impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{HEADER}")?;
        writeln!(f, "# name: {}", self.name)?;
        if let Some(key) = &self.minisign {
            writeln!(f, "# minisign: {key}")?;
        }
        writeln!(f, "{}", self.recipient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
    const M: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    #[test]
    fn a_card_round_trips() {
        let card = Card {
            name: "alice".into(),
            recipient: R.into(),
            minisign: Some(M.into()),
        };
        let text = card.to_string();
        assert!(text.starts_with(HEADER), "{text}");
        assert_eq!(Card::parse(text.as_bytes(), "x").unwrap(), card);
        assert!(card.can_sign());
    }

    #[test]
    fn a_plain_recipients_file_is_a_read_only_card() {
        let card = Card::parse(format!("# bob's key\n{R}\n").as_bytes(), "bob").unwrap();
        assert_eq!(card.name, "bob");
        assert!(!card.can_sign());
        assert!(Card::parse(R.as_bytes(), "Bob!").is_err());
    }

    #[test]
    fn a_plain_file_may_hold_several_readers_but_a_card_one_reviewer() {
        const R2: &str = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        let two = format!("# team\n{R}\n\n{R2}\n");
        let cards = Card::parse_file(two.as_bytes(), "team").unwrap();
        assert_eq!(cards.len(), 2);
        assert!(cards.iter().all(|c| c.name == "team" && !c.can_sign()));
        assert_eq!(cards[1].recipient, R2);
        assert_eq!(
            Card::parse(two.as_bytes(), "team"),
            Err(CardError::ManyRecipients)
        );
        let card = format!("{HEADER}\n# name: a\n# minisign: {M}\n{R}\n");
        let one = Card::parse_file(card.as_bytes(), "x").unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].signing_key().is_some());
        // Shaped like a key but not one minisign reads (its algorithm bytes are not Ed).
        let bad_key = format!("RWA{}", "A".repeat(53));
        let card = format!("{HEADER}\n# name: a\n# minisign: {bad_key}\n{R}\n");
        assert!(Card::parse_file(card.as_bytes(), "x").is_err());
    }

    #[test]
    fn strict_parsing() {
        let card = |body: &str| Card::parse(format!("{HEADER}\n{body}").as_bytes(), "x");
        assert!(card(&format!("# name: a\n# minisign: {M}\n{R}\n")).is_ok());
        for bad in [
            format!("# name: a\n# email: a@b\n{R}\n"),
            format!("# name: a\n# name: b\n{R}\n"),
            format!("# name: A\n{R}\n"),
            format!("# name: a\n# minisign: nope\n{R}\n"),
            format!("# name: a\n{R}\n{R}\n"),
            format!("# minisign: {M}\n{R}\n"),
            format!("# name: a\n# free text\n{R}\n"),
            "# name: a\n".to_owned(),
            "# name: a\nage1../../x\n".to_owned(),
            format!("# name: a\nssh-ed25519 AAAA\n{R}\n"),
        ] {
            assert!(card(&bad).is_err(), "{bad}");
        }
        let big = format!("{HEADER}\n# name: a\n{R}\n{}", " ".repeat(MAX_CARD_BYTES));
        assert_eq!(Card::parse(big.as_bytes(), "x"), Err(CardError::TooLarge));
        assert_eq!(Card::parse(b"\xff", "x"), Err(CardError::NotText));
    }
}
