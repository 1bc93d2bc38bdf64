//! A reply to a source, as the server checks it before storing it: a well-formed age file,
//! signed by a reviewer whose card is in the server's keys dir, for the source it is pushed to.
//!
//! The offline machine writes the reply and its signature (`lanterne_offline::reply`); the
//! networked workstation only carries them (`lanterne push`, see [`crate::api`] for how the
//! signature travels). A workstation credential alone therefore cannot speak to a source: it
//! lacks the reviewers' signing keys, which never leave the offline machine.
//!
//! The signature is a standard minisign signature of the ciphertext (so the stock `minisign -V`
//! CLI checks it) whose trusted comment is a [`Signed`] ([`Signed::comment`]): the format
//! version, the source's designation and full age recipient, a random 128-bit reply id and the
//! submission or reply it answers (`after=`). The signature covers the comment, so a reply
//! signed for one source cannot be pushed to another, nor to a source whose key was swapped;
//! the server stores each reply id once, ever, so a reply cannot be pushed again after the
//! source deleted it; and the offline machine places a reply by what it answers, never by the
//! server's number. Replies signed in the first format (`lanterne-reply v1`, the designation
//! alone) are refused ([`ReplyError::OldVersion`]). Verification uses the `minisign-verify`
//! crate: it only verifies (no key generation, no secret key handling, no I/O), has no
//! dependencies, is small enough to read whole, and is kept by minisign's own author; the
//! server holds public keys only, so it needs nothing more. It has no HTTP in it, so the
//! fuzzers call it directly.

use crate::card::Card;

/// Largest signature accepted, in bytes of the `.minisig` text (minisign's are about 300 to
/// 400; the untrusted comment is free text, so it is bounded here).
pub const MAX_SIGNATURE_BYTES: usize = 2048;

/// The start of every trusted comment this build writes and accepts.
pub const COMMENT_PREFIX: &str = "lanterne-reply v2 ";
/// The start of the first format's comments (designation alone), refused since.
const OLD_PREFIX: &str = "lanterne-reply v1 ";

/// What a reply's signature vouches for, in its trusted comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The source's designation.
    pub designation: String,
    /// The source's full age recipient (`age1…`): a designation alone commits to it with too
    /// few bits to stop a ground key.
    pub recipient: String,
    /// A random 128-bit id, lower-case hex ([`is_reply_key`]): the server stores each once.
    pub id: String,
    /// What it answers: a submission id (`s<seq>-…`) or another reply's [`Signed::id`].
    pub after: String,
}

impl Signed {
    /// The trusted comment: `lanterne-reply v2 designation=D recipient=R id=I after=A`.
    pub fn comment(&self) -> String {
        format!(
            "{COMMENT_PREFIX}designation={} recipient={} id={} after={}",
            self.designation, self.recipient, self.id, self.after
        )
    }

    /// Parses a trusted comment strictly: the fields in [`Signed::comment`]'s order, each
    /// well-formed, nothing else.
    pub fn parse(comment: &str) -> Result<Signed, ReplyError> {
        if comment.starts_with(OLD_PREFIX) {
            return Err(ReplyError::OldVersion);
        }
        let bad = || ReplyError::BadComment(printable(comment));
        let rest = comment.strip_prefix(COMMENT_PREFIX).ok_or_else(bad)?;
        let mut fields = rest.split(' ');
        let mut field = |key: &str| {
            fields
                .next()
                .and_then(|f| f.strip_prefix(key))
                .and_then(|f| f.strip_prefix('='))
                .map(str::to_owned)
                .ok_or_else(bad)
        };
        let signed = Signed {
            designation: field("designation")?,
            recipient: field("recipient")?,
            id: field("id")?,
            after: field("after")?,
        };
        let recipient_ok = signed.recipient.starts_with("age1")
            && signed.recipient.len() <= 200
            && signed
                .recipient
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if fields.next().is_some()
            || !crate::designation::is_valid(&signed.designation)
            || !recipient_ok
            || !is_reply_key(&signed.id)
            || !is_answerable(&signed.after)
        {
            return Err(bad());
        }
        Ok(signed)
    }
}

/// The [`Signed::id`] named in a `.minisig` file's trusted comment, without checking the
/// signature: for the server's own stored signatures, each checked by [`verify`] when it was
/// pushed. `None` for anything that is not a current reply signature.
pub fn signed_id(signature: &[u8]) -> Option<String> {
    if signature.len() > MAX_SIGNATURE_BYTES {
        return None;
    }
    let text = std::str::from_utf8(signature).ok()?;
    let signature = minisign_verify::Signature::decode(text).ok()?;
    Signed::parse(signature.trusted_comment())
        .ok()
        .map(|s| s.id)
}

/// Whether `s` is a reply id as [`Signed::id`] holds it: 32 lower-case hex digits.
pub fn is_reply_key(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` can be what a reply answers: a submission id (`s<seq>-<hex>`) or a reply id
/// ([`is_reply_key`]).
pub fn is_answerable(s: &str) -> bool {
    is_reply_key(s)
        || (s.starts_with('s')
            && crate::bundle::safe_name(s)
            && crate::bundle::sequence_of(s).is_some()
            && s.split_once('-').is_some_and(|(_, h)| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }))
}

/// Text from a comment for a log line or an answer: no control characters, bounded.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// A reply whose signature checked: who signed it and what it vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The name on the signer's card.
    pub signer: &'a str,
    pub signed: Signed,
}

/// Why a pushed reply was refused. Every message says what to do; none is shown to a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("not a well-formed age file, or its header is too large")]
    HeaderTooLarge,
    #[error("not a well-formed age file")]
    NotAge,
    #[error("a reply must be encrypted to recipients, not a passphrase")]
    Passphrase,
    #[error(
        "the reply carries no signature: push the `.age.minisig` file that `review reply \
         --identity` wrote beside it"
    )]
    NoSignature,
    #[error("the signature is not a minisign signature of at most {MAX_SIGNATURE_BYTES} bytes")]
    BadSignatureFile,
    #[error(
        "no reviewer card in the server's keys dir has a signing key, so no reply can be \
         accepted: put each reviewer's card (`keys new --public CARD`) in the keys dir"
    )]
    NoSigners,
    #[error(
        "the signature is by no reviewer whose card is in the server's keys dir (a stolen \
         credential, or a card missing there): sign with `review reply --identity` on the \
         offline machine"
    )]
    UnknownSigner,
    #[error("the signature does not match this reply (it was changed, or re-encrypted)")]
    BadSignature,
    #[error(
        "the signature is for another source (trusted comment {found:?}, expected {expected:?})"
    )]
    WrongSource { expected: String, found: String },
    #[error(
        "the signature is for another key of this source (signed for {found}, but the source's \
         key is {expected}): the reply was encrypted to a key that is not the source's, so the \
         offline machine or the bundle it read was given a false key; tell the other reviewers"
    )]
    WrongRecipient { expected: String, found: String },
    #[error(
        "the signature is in the first reply format (`lanterne-reply v1`), which is refused \
         since replies name their id and what they answer: write the reply again with \
         `review reply` of this version"
    )]
    OldVersion,
    #[error("the signature's trusted comment is not a lanterne reply's ({0:?})")]
    BadComment(String),
}

/// Checks the shape of a reply: a well-formed age file addressed to recipients (not a
/// passphrase), with a header of bounded size (parsing a huge one would hold a worker for
/// minutes).
pub fn check_reply(bytes: &[u8]) -> Result<(), ReplyError> {
    if !crate::seal::header_is_bounded(bytes) {
        return Err(ReplyError::HeaderTooLarge);
    }
    match age::Decryptor::new_buffered(bytes) {
        Ok(d) if d.is_scrypt() => Err(ReplyError::Passphrase),
        Ok(_) => Ok(()),
        Err(_) => Err(ReplyError::NotAge),
    }
}

/// Checks a reply pushed to `designation`, whose source's recipient is `recipient`: its shape
/// ([`check_reply`]), then that `signature` (the `.minisig` file's bytes) is a valid signature
/// of `ciphertext` by one of `reviewers`' signing keys, whose trusted comment is a [`Signed`]
/// for this designation and this recipient. Returns the signer's name and what it signed.
pub fn verify<'a>(
    ciphertext: &[u8],
    signature: &[u8],
    designation: &str,
    recipient: &str,
    reviewers: &'a [Card],
) -> Result<Verified<'a>, ReplyError> {
    check_reply(ciphertext)?;
    if signature.is_empty() {
        return Err(ReplyError::NoSignature);
    }
    if signature.len() > MAX_SIGNATURE_BYTES {
        return Err(ReplyError::BadSignatureFile);
    }
    let text = std::str::from_utf8(signature).map_err(|_| ReplyError::BadSignatureFile)?;
    let signature =
        minisign_verify::Signature::decode(text).map_err(|_| ReplyError::BadSignatureFile)?;
    let signers: Vec<(&Card, minisign_verify::PublicKey)> = reviewers
        .iter()
        .filter_map(|c| Some((c, c.signing_key()?)))
        .collect();
    if signers.is_empty() {
        return Err(ReplyError::NoSigners);
    }
    let mut known_key = false;
    for (card, key) in &signers {
        // `false`: only prehashed signatures (minisign's default since 0.8), never legacy ones.
        match key.verify(ciphertext, &signature, false) {
            Ok(()) => {
                let comment = signature.trusted_comment();
                let signed = match Signed::parse(comment) {
                    Ok(s) => s,
                    // A first-format comment for another source is named as moved first.
                    Err(ReplyError::OldVersion)
                        if comment != format!("{OLD_PREFIX}designation={designation}") =>
                    {
                        return Err(ReplyError::WrongSource {
                            expected: designation.to_owned(),
                            found: printable(comment),
                        })
                    }
                    Err(e) => return Err(e),
                };
                if signed.designation != designation {
                    return Err(ReplyError::WrongSource {
                        expected: designation.to_owned(),
                        found: printable(comment),
                    });
                }
                if signed.recipient != recipient.trim() {
                    return Err(ReplyError::WrongRecipient {
                        expected: printable(recipient.trim()),
                        found: signed.recipient,
                    });
                }
                return Ok(Verified {
                    signer: &card.name,
                    signed,
                });
            }
            Err(minisign_verify::Error::UnexpectedKeyId) => {}
            Err(_) => known_key = true,
        }
    }
    Err(if known_key {
        ReplyError::BadSignature
    } else {
        ReplyError::UnknownSigner
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pushed reply whose age header is too large to parse quickly is refused before age
    /// parses it (that would take minutes), and so at once.
    #[test]
    fn huge_reply_headers_are_refused_before_parsing() {
        let huge = crate::seal::tests::huge_header();
        let started = std::time::Instant::now();
        assert_eq!(check_reply(&huge), Err(ReplyError::HeaderTooLarge));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// A key pair made by the stock `minisign` CLI (Debian's; `scripts/test` installs it), and
    /// its signature of `file` with `comment` as trusted comment. Returns the public key.
    fn minisign_cli(dir: &std::path::Path, file: &std::path::Path, comment: &str) -> String {
        use std::process::{Command, Stdio};
        let key = dir.join("cli.key");
        let public = dir.join("cli.pub");
        let made = Command::new("minisign")
            .args(["-G", "-W", "-f", "-p"])
            .arg(&public)
            .arg("-s")
            .arg(&key)
            .stdout(Stdio::null())
            .status()
            .expect("the `minisign` CLI must be installed");
        assert!(made.success());
        let signed = Command::new("minisign")
            .args(["-S", "-s"])
            .arg(&key)
            .arg("-m")
            .arg(file)
            .args(["-t", comment])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(signed.success());
        let public = std::fs::read_to_string(&public).unwrap();
        public.lines().nth(1).unwrap().trim().to_owned()
    }

    fn sealed_reply() -> Vec<u8> {
        let r = age::x25519::Identity::generate().to_public();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        std::io::Write::write_all(&mut w, b"merci").unwrap();
        w.finish().unwrap();
        out
    }

    fn signed(designation: &str, recipient: &str) -> Signed {
        Signed {
            designation: designation.into(),
            recipient: recipient.into(),
            id: "0123456789abcdef0123456789abcdef".into(),
            after: "s0000000001-00ff".into(),
        }
    }

    /// A signature made by the stock minisign CLI, with the expected trusted comment, is
    /// accepted; the same for another source, another recipient, another key or changed bytes
    /// is refused, and so is the first format's comment.
    #[test]
    fn a_minisign_cli_signature_is_accepted_for_its_source_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reply.age");
        let ciphertext = sealed_reply();
        std::fs::write(&file, &ciphertext).unwrap();
        let designation = "brave-otter-4127";
        let recipient = age::x25519::Identity::generate().to_public().to_string();
        let claim = signed(designation, &recipient);
        let key = minisign_cli(dir.path(), &file, &claim.comment());
        let sig = std::fs::read(dir.path().join("reply.age.minisig")).unwrap();
        let card = |name: &str, key: &str| Card {
            name: name.into(),
            recipient: "age1x".into(),
            minisign: Some(key.into()),
        };
        let reader = Card {
            minisign: None,
            ..card("reader", &key)
        };
        let other = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
        let team = [reader.clone(), card("other", other), card("alice", &key)];
        assert_eq!(
            verify(&ciphertext, &sig, designation, &recipient, &team),
            Ok(Verified {
                signer: "alice",
                signed: claim.clone()
            })
        );
        assert!(matches!(
            verify(&ciphertext, &sig, "other-source-1234", &recipient, &team),
            Err(ReplyError::WrongSource { .. })
        ));
        let ground = age::x25519::Identity::generate().to_public().to_string();
        assert!(matches!(
            verify(&ciphertext, &sig, designation, &ground, &team),
            Err(ReplyError::WrongRecipient { .. })
        ));
        assert_eq!(
            verify(&ciphertext, &sig, designation, &recipient, &team[..2]),
            Err(ReplyError::UnknownSigner)
        );
        assert_eq!(
            verify(&ciphertext, &sig, designation, &recipient, &[reader]),
            Err(ReplyError::NoSigners)
        );
        assert_eq!(
            verify(&sealed_reply(), &sig, designation, &recipient, &team),
            Err(ReplyError::BadSignature)
        );
        assert_eq!(
            verify(&ciphertext, b"", designation, &recipient, &team),
            Err(ReplyError::NoSignature)
        );
        assert_eq!(
            verify(
                &ciphertext,
                b"untrusted comment: x\nnope\n",
                designation,
                &recipient,
                &team
            ),
            Err(ReplyError::BadSignatureFile)
        );
        // The first format: refused as old, for its own source.
        let old = format!("lanterne-reply v1 designation={designation}");
        let key2 = minisign_cli(dir.path(), &file, &old);
        let old_sig = std::fs::read(dir.path().join("reply.age.minisig")).unwrap();
        let team2 = [card("alice", &key2)];
        assert_eq!(
            verify(&ciphertext, &old_sig, designation, &recipient, &team2),
            Err(ReplyError::OldVersion)
        );
    }

    /// The comment's fields are parsed strictly, in order, and round-trip.
    #[test]
    fn comments_round_trip_and_odd_ones_are_refused() {
        let r = age::x25519::Identity::generate().to_public().to_string();
        let s = signed("brave-otter-4127", &r);
        assert_eq!(Signed::parse(&s.comment()), Ok(s.clone()));
        for bad in [
            s.comment() + " extra=1",
            s.comment().replace(" id=", " ID="),
            s.comment().replace("after=s0000000001-00ff", "after=../x"),
            s.comment().replace(&s.id, "0123"),
            s.comment().replace(&r, "age1../"),
            "lanterne-reply v3 designation=x".to_owned(),
        ] {
            assert!(
                matches!(Signed::parse(&bad), Err(ReplyError::BadComment(_))),
                "{bad}"
            );
        }
        let reply = Signed {
            after: s.id.clone(),
            ..s.clone()
        };
        assert_eq!(Signed::parse(&reply.comment()), Ok(reply));
    }
}
