//! `review reply`: encrypts a reviewer's message to a source and to every reviewer.
//!
//! The source reads it after logging in with their code (the box derives their identity, which
//! is X25519); the reviewers can read it too, so the team keeps a record of what was said.
//! The file is written atomically (temp file, fsync, rename) under a random name, ready for
//! `lanterne push`.

use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::Zeroizing;

use super::bundle::{read_capped, Bundle};
use super::ReviewError;
use lanterne_core::designation::is_valid as is_designation;

/// Largest reply, in bytes of UTF-8 text (the box refuses to show larger ones).
pub const MAX_REPLY_BYTES: u64 = 1 << 20;

// A recipient a reply can be encrypted to, parsed as the server parses keys/*.txt.
use lanterne_core::seal::Boxed;

/// `lanterne review reply BUNDLE --source DESIGNATION --message FILE --out REPLIES_DIR`.
///
/// Encrypts the UTF-8 text of `message_file` (at most [`MAX_REPLY_BYTES`]) to the source
/// and to every recipient in the bundle's `reviewers.txt`, writes it atomically to
/// `out/<designation>/<random id>.age`, and returns that path.
pub fn reply(
    bundle: &Path,
    designation: &str,
    message_file: &Path,
    out: &Path,
) -> Result<PathBuf, ReviewError> {
    if !is_designation(designation) {
        return Err(ReviewError::BadDesignation(designation.to_owned()));
    }
    let bundle = Bundle::open(bundle)?;
    let source = source_recipient(&bundle, designation)?;
    let reviewers = reviewer_recipients(&bundle.root().join("reviewers.txt"))?;
    let message = read_message(message_file)?;

    let recipients = reviewers
        .iter()
        .map(|r| r.as_ref() as &dyn age::Recipient)
        .chain(std::iter::once(&source as &dyn age::Recipient));
    let encryptor = age::Encryptor::with_recipients(recipients).map_err(|e| match e {
        age::EncryptError::IncompatibleRecipients { .. } => ReviewError::PostQuantumReply,
        other => ReviewError::Encrypt(other.to_string()),
    })?;
    let mut ciphertext = Vec::with_capacity(message.len() + 1024);
    let mut w = encryptor
        .wrap_output(&mut ciphertext)
        .map_err(|e| ReviewError::Encrypt(e.to_string()))?;
    w.write_all(&message)
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| ReviewError::Encrypt(e.to_string()))?;

    let dir = out.join(designation);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| ReviewError::Write {
            path: dir.clone(),
            source,
        })?;
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let path = dir.join(format!("{}.age", hex::encode(id)));
    let write_err = |source| ReviewError::Write {
        path: path.clone(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lanterne-reply-")
        .tempfile_in(&dir)
        .map_err(write_err)?;
    tmp.write_all(&ciphertext)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(write_err)?;
    tmp.persist_noclobber(&path)
        .map_err(|e| write_err(e.error))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// The source's recipient, checked against `SHA256SUMS`.
fn source_recipient(
    bundle: &Bundle,
    designation: &str,
) -> Result<age::x25519::Recipient, ReviewError> {
    let rel = format!("sources/{designation}/recipient");
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

/// The reviewers' recipients from `reviewers.txt` (age `-R` format).
fn reviewer_recipients(path: &Path) -> Result<Vec<Boxed>, ReviewError> {
    let text = read_capped(path, 1 << 20).map_err(|source| ReviewError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |message: String| ReviewError::BadRecipient {
            path: path.to_owned(),
            line: i + 1,
            message,
        };
        if let Ok(r) = line.parse::<age::x25519::Recipient>() {
            out.push(Box::new(r) as Boxed);
        } else if line.starts_with("age1pq1") {
            // Known post-quantum: fail before looking for the plugin.
            return Err(ReviewError::PostQuantumReply);
        } else {
            out.push(lanterne_core::seal::parse_recipient(line).map_err(bad)?);
        }
    }
    if out.is_empty() {
        return Err(ReviewError::BadRecipient {
            path: path.to_owned(),
            line: 0,
            message: "no recipient in the file; the bundle is damaged, fetch it again".into(),
        });
    }
    Ok(out)
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
    if bytes.len() as u64 > MAX_REPLY_BYTES {
        return Err(ReviewError::MessageTooLarge(path.to_owned()));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(ReviewError::MessageNotUtf8(path.to_owned()));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReviewError::MessageEmpty(path.to_owned()));
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
        std::fs::write(&p, vec![b'a'; MAX_REPLY_BYTES as usize + 1]).unwrap();
        let e = read_message(&p).unwrap_err();
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[test]
    fn reviewer_lines_are_parsed_and_pq_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reviewers.txt");
        let a = age::x25519::Identity::generate().to_public();
        std::fs::write(&p, format!("# team\n\n{a}\n")).unwrap();
        assert_eq!(reviewer_recipients(&p).unwrap().len(), 1);
        std::fs::write(&p, format!("{a}\nage1pq1qqqqqqqqqqqq\n")).unwrap();
        let e = reviewer_recipients(&p).err().unwrap();
        assert!(matches!(e, ReviewError::PostQuantumReply));
        assert!(e.to_string().contains("post-quantum"), "{e}");
        std::fs::write(&p, "garbage\n").unwrap();
        let e = reviewer_recipients(&p).err().unwrap().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::write(&p, "# nothing\n").unwrap();
        assert!(reviewer_recipients(&p).is_err());
    }
}
