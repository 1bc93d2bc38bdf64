//! A reply to a source, as the server checks it before storing it: a well-formed age file,
//! signed by a reviewer whose card is in the server's keys dir, for the source it is pushed to.
//!
//! The offline machine writes the reply and its signature (`lanterne_offline::reply`); the
//! networked workstation only carries them (`lanterne push`, see [`crate::api`] for how the
//! signature travels). A workstation credential alone therefore cannot speak to a source: it
//! lacks the reviewers' signing keys, which never leave the offline machine.
//!
//! The signature is a standard minisign signature of the ciphertext (so the stock `minisign -V`
//! CLI checks it) whose trusted comment is [`trusted_comment`] of the source's designation:
//! the signature covers the comment, so a reply signed for one source cannot be replayed to
//! another. Verification uses the `minisign-verify` crate: it only verifies (no key
//! generation, no secret key handling, no I/O), has no dependencies, is small enough to read
//! whole, and is kept by minisign's own author; the server holds public keys only, so it needs
//! nothing more. It has no HTTP in it, so the fuzzers call it directly.

use crate::card::Card;

/// Largest signature accepted, in bytes of the `.minisig` text (minisign's are about 300 to
/// 400; the untrusted comment is free text, so it is bounded here).
pub const MAX_SIGNATURE_BYTES: usize = 2048;

/// The trusted comment of a reply's signature: it binds the reply to its source.
pub fn trusted_comment(designation: &str) -> String {
    format!("lanterne-reply v1 designation={designation}")
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

/// Checks a reply pushed to `designation`: its shape ([`check_reply`]), then that `signature`
/// (the `.minisig` file's bytes) is a valid signature of `ciphertext` by one of `reviewers`'
/// signing keys, with the trusted comment of `designation`. Returns the signer's name.
pub fn verify<'a>(
    ciphertext: &[u8],
    signature: &[u8],
    designation: &str,
    reviewers: &'a [Card],
) -> Result<&'a str, ReplyError> {
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
                let expected = trusted_comment(designation);
                if signature.trusted_comment() != expected {
                    return Err(ReplyError::WrongSource {
                        expected,
                        // Shown in a log line and an answer: no control characters, bounded.
                        found: signature
                            .trusted_comment()
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(200)
                            .collect(),
                    });
                }
                return Ok(&card.name);
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

    /// A signature made by the stock minisign CLI, with the expected trusted comment, is
    /// accepted; the same for another source, another key or changed bytes is refused.
    #[test]
    fn a_minisign_cli_signature_is_accepted_for_its_source_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reply.age");
        let ciphertext = sealed_reply();
        std::fs::write(&file, &ciphertext).unwrap();
        let designation = "brave-otter-4127";
        let key = minisign_cli(dir.path(), &file, &trusted_comment(designation));
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
        assert_eq!(verify(&ciphertext, &sig, designation, &team), Ok("alice"));
        assert!(matches!(
            verify(&ciphertext, &sig, "other-source-1234", &team),
            Err(ReplyError::WrongSource { .. })
        ));
        assert_eq!(
            verify(&ciphertext, &sig, designation, &team[..2]),
            Err(ReplyError::UnknownSigner)
        );
        assert_eq!(
            verify(&ciphertext, &sig, designation, &[reader]),
            Err(ReplyError::NoSigners)
        );
        assert_eq!(
            verify(&sealed_reply(), &sig, designation, &team),
            Err(ReplyError::BadSignature)
        );
        assert_eq!(
            verify(&ciphertext, b"", designation, &team),
            Err(ReplyError::NoSignature)
        );
        assert_eq!(
            verify(
                &ciphertext,
                b"untrusted comment: x\nnope\n",
                designation,
                &team
            ),
            Err(ReplyError::BadSignatureFile)
        );
    }
}
