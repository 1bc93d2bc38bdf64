//! `review reply`: encrypts a reviewer's message to a source and to the pinned team, and signs it.
//!
//! The source reads it after logging in with their code (the box derives their identity, which
//! is X25519); the reviewers can read it too, so the team keeps a record of what was said.
//! Nothing the bundle says about keys is trusted (see [`crate::trust`]): the reply is encrypted
//! to the team pinned on this machine, only when the bundle's reviewer list matches it, and to
//! the source's recipient only when it is plain X25519 and matches its pin. The ciphertext is
//! signed with the reviewer's minisign key (`<identity>.minisign`), which must be on a pinned
//! card. The signature's trusted comment (`lanterne_core::reply::Signed`) names the source's
//! designation and full recipient, a fresh random reply id, and what the reply answers: the
//! latest submission or signed reply of the conversation in the bundle (`crate::thread`), or
//! the one the reviewer names. Both files are written atomically (`lanterne_core::durable::create_atomic`: temp file,
//! fsync, link, never over a file) under a random name,
//! ready for `lanterne push`: `<id>.age` and its signature `<id>.age.minisig`.

use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::Zeroizing;

use super::bundle::{read_capped, Bundle};
use super::home::ReviewHome;
use super::signing::{self, SigningKey};
use super::trust::{self, SourcePin};
use super::ReviewError;
use lanterne_core::designation::is_valid as is_designation;

use lanterne_core::limits::MAX_REPLY_BYTES;
use lanterne_core::padding;

use lanterne_core::reply::{is_answerable, Signed};
// A recipient a reply can be encrypted to, parsed as the server parses its keys dir.
use lanterne_core::seal::Boxed;

/// What `review reply` needs.
pub struct ReplyRequest<'a> {
    pub bundle: &'a Path,
    /// The source's designation.
    pub designation: &'a str,
    /// A UTF-8 text file with the reply.
    pub message: &'a Path,
    /// The reviewer's age identity; the signing key is `<identity>.minisign`.
    pub identity: &'a Path,
    /// The replies folder: the reply goes to `out/<designation>/`.
    pub out: &'a Path,
    /// The pinned team and sources.
    pub home: &'a ReviewHome,
    /// What the reply answers (a submission id or a reply's signed id); `None`: the latest
    /// item of the conversation in the bundle.
    pub after: Option<&'a str>,
}

/// `lanterne review reply BUNDLE --source DESIGNATION --message FILE --identity FILE --out DIR`.
///
/// Encrypts the UTF-8 text of the message (at most [`MAX_REPLY_BYTES`]) to the source and to
/// the pinned team, writes it atomically to `out/<designation>/<random id>.age` with its
/// signature beside it (`.age.minisig`), and returns the `.age` path.
pub fn reply(req: &ReplyRequest<'_>) -> Result<PathBuf, ReviewError> {
    seal_reply(req, || read_message(req.message))
}

/// [`reply`] with the text typed in the inbox's terminal UI, in memory (`req.message` only
/// names it in errors), checked as a message file is.
pub(crate) fn reply_text(req: &ReplyRequest<'_>, text: &str) -> Result<PathBuf, ReviewError> {
    seal_reply(req, || {
        check_message(Zeroizing::new(text.as_bytes().to_vec()), req.message)
    })
}

/// [`reply`]'s checks, encryption and signing; `message` gives the text once every trust
/// check passed.
fn seal_reply(
    req: &ReplyRequest<'_>,
    message: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, ReviewError>,
) -> Result<PathBuf, ReviewError> {
    let designation = req.designation;
    if !is_designation(designation) {
        return Err(ReviewError::BadDesignation(designation.to_owned()));
    }
    let team = req.home.team()?;
    if team.is_empty() {
        return Err(ReviewError::NoTeam(req.home.dir().to_owned()));
    }
    let bundle = Bundle::open(req.bundle)?;
    let diff = trust::team_diff(&trust::bundle_reviewers(&bundle)?, &team);
    if !diff.is_empty() {
        return Err(ReviewError::TeamMismatch(diff.to_string()));
    }
    let source = source_recipient(&bundle, designation)?;
    let source_text = source.to_string();
    // A changed key is named as such first (the loudest case); then the name must commit to
    // the key (the server derives each designation from its source's recipient), and only
    // then is a new source pinned.
    let pin = trust::source_pin(req.home, designation, &source_text)?;
    if let SourcePin::Changed { pinned } = pin {
        return Err(ReviewError::SourceChanged {
            designation: designation.to_owned(),
            pinned,
            bundle: source_text,
        });
    }
    if !trust::designation_matches(designation, &source_text) {
        return Err(ReviewError::DesignationMismatch {
            designation: designation.to_owned(),
            recipient: source_text,
        });
    }
    if pin == SourcePin::New {
        req.home
            .pin_sources(&[(designation.to_owned(), source_text.clone())])?;
    }
    let key = SigningKey::load(&signing::key_path(req.identity))?;
    let public = key.public_base64();
    if !team.iter().any(|c| c.minisign.as_deref() == Some(&public)) {
        return Err(ReviewError::SignerNotInTeam(
            signing::key_id(&public).unwrap_or(public),
        ));
    }
    let reviewers = team
        .iter()
        .map(|c| team_recipient(&c.recipient))
        .collect::<Result<Vec<_>, _>>()?;
    let after = match req.after {
        Some(a) if is_answerable(a) => a.to_owned(),
        Some(a) => return Err(ReviewError::BadAfter(crate::names::shown(a))),
        None => latest_item(&bundle, &team, designation, &source_text)?,
    };
    let message = message()?;

    let recipients = reviewers
        .iter()
        .map(|r| r.as_ref() as &dyn age::Recipient)
        .chain(std::iter::once(&source as &dyn age::Recipient));
    let encryptor = age::Encryptor::with_recipients(recipients).map_err(|e| match e {
        age::EncryptError::IncompatibleRecipients { .. } => ReviewError::PostQuantumReply,
        other => ReviewError::Encrypt(other),
    })?;
    // Padded to its size bucket, as every file the server stores (`padding`): the source
    // sees the text without it, and the server stores this ciphertext as it is signed.
    let message = padding::pad_text(&message);
    let mut ciphertext = Vec::with_capacity(message.len() + 1024);
    let mut w = encryptor
        .wrap_output(&mut ciphertext)
        .map_err(ReviewError::EncryptIo)?;
    w.write_all(&message)
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(ReviewError::EncryptIo)?;
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let signed = Signed {
        designation: designation.to_owned(),
        recipient: source_text,
        id: hex::encode(id),
        after,
    };
    let signature = key.sign(&ciphertext, &signed.comment())?;

    let dir = req.out.join(designation);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| ReviewError::Write {
            path: dir.clone(),
            source,
        })?;
    let path = dir.join(format!("{}.age", signed.id));
    // The signature first: a crash in between leaves a lone `.minisig`, which push ignores.
    write_new(&signing::signature_path(&path), signature.as_bytes())?;
    write_new(&path, &ciphertext)?;
    Ok(path)
}

/// The latest item of `designation`'s conversation in `bundle`: its submissions and the
/// replies signed by `team` for `recipient`, placed as the inbox places them.
fn latest_item(
    bundle: &Bundle,
    team: &[lanterne_core::card::Card],
    designation: &str,
    recipient: &str,
) -> Result<String, ReviewError> {
    let mut ignored = Vec::new();
    let submissions = bundle
        .sources(&mut ignored)?
        .into_iter()
        .find(|s| s.designation == designation)
        .map(|s| s.submissions)
        .unwrap_or_default();
    let mut submissions = submissions;
    submissions.sort_by_key(|id| lanterne_core::bundle::sequence_of(id));
    let ids: Vec<String> =
        crate::inbox_replies::reply_ids(bundle.root(), designation, &mut ignored)
            .into_iter()
            .filter(|id| {
                bundle
                    .sums()
                    .contains(&lanterne_core::bundle::reply_file(designation, id))
            })
            .collect();
    let mut replies =
        crate::inbox_replies::checked(bundle, team, designation, Some(recipient), ids, None);
    replies.sort_by_key(|r| r.seq);
    crate::thread::latest(&submissions, &mut replies)
        .ok_or_else(|| ReviewError::NothingToAnswer(designation.to_owned()))
}

/// Writes a new file atomically (temp file, fsync, link, fsync of the folder; never over a
/// file).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ReviewError> {
    lanterne_core::durable::create_atomic(path, bytes).map_err(|source| ReviewError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The source's recipient, checked against `SHA256SUMS`: plain X25519 only, so no plugin.
pub(crate) fn source_recipient(
    bundle: &Bundle,
    designation: &str,
) -> Result<age::x25519::Recipient, ReviewError> {
    let rel = lanterne_core::bundle::recipient_path(designation);
    let path = bundle.root().join(&rel);
    if !path.exists() {
        return Err(ReviewError::UnknownSource(designation.to_owned()));
    }
    bundle
        .verify(&rel)
        .map_err(|e| ReviewError::SourceRecipient {
            path: path.clone(),
            message: format!("{e}; fetch the bundle again"),
        })?;
    let text = read_capped(&path, 4096).map_err(|source| ReviewError::Read {
        path: path.clone(),
        source,
    })?;
    String::from_utf8_lossy(&text)
        .trim()
        .parse()
        .map_err(|_| ReviewError::SourceRecipient {
            path,
            message: "not an age X25519 recipient (age1…)".into(),
        })
}

/// A pinned card's recipient: X25519, or a plugin recipient the team chose to pin (the only
/// way a plugin runs here). Post-quantum ones cannot be mixed with the source's X25519 key.
fn team_recipient(line: &str) -> Result<Boxed, ReviewError> {
    if line.starts_with("age1pq1") {
        // Known post-quantum: fail before looking for the plugin.
        return Err(ReviewError::PostQuantumReply);
    }
    lanterne_core::seal::parse_recipient(line).map_err(ReviewError::TeamRecipient)
}

/// Reads the message: UTF-8 text, not empty, at most [`MAX_REPLY_BYTES`].
fn read_message(path: &Path) -> Result<Zeroizing<Vec<u8>>, ReviewError> {
    let read_err = |source| ReviewError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_REPLY_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    check_message(bytes, path)
}

/// A message must be UTF-8 text, not empty, at most [`MAX_REPLY_BYTES`]; `path` names it in
/// errors.
fn check_message(
    bytes: Zeroizing<Vec<u8>>,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, ReviewError> {
    if bytes.len() as u64 > MAX_REPLY_BYTES {
        return Err(ReviewError::MessageTooLarge(path.to_owned()));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(ReviewError::MessageNotUtf8(path.to_owned()));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReviewError::MessageEmpty(path.to_owned()));
    }
    // The source's page and the thread drop the padding's NULs from the end of a reply.
    if bytes.contains(&padding::PAD_BYTE) {
        return Err(ReviewError::MessageHasNul(path.to_owned()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_must_be_small_utf8_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.txt");
        std::fs::write(&p, "bonjour, merci\n").unwrap();
        assert_eq!(&read_message(&p).unwrap()[..], b"bonjour, merci\n");
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert!(matches!(
            read_message(&p),
            Err(ReviewError::MessageNotUtf8(_))
        ));
        std::fs::write(&p, " \n").unwrap();
        assert!(matches!(
            read_message(&p),
            Err(ReviewError::MessageEmpty(_))
        ));
        std::fs::write(&p, "merci\0").unwrap();
        let e = read_message(&p).unwrap_err();
        assert!(matches!(e, ReviewError::MessageHasNul(_)), "{e}");
        std::fs::write(&p, vec![b'a'; MAX_REPLY_BYTES as usize + 1]).unwrap();
        let e = read_message(&p).unwrap_err();
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[test]
    fn team_recipients_are_parsed_and_pq_is_refused_clearly() {
        let a = age::x25519::Identity::generate().to_public();
        assert!(team_recipient(&a.to_string()).is_ok());
        let e = team_recipient("age1pq1qqqqqqqqqqqq").err().unwrap();
        assert!(matches!(e, ReviewError::PostQuantumReply));
        assert!(e.to_string().contains("post-quantum"), "{e}");
        assert!(team_recipient("garbage").is_err());
    }
}
