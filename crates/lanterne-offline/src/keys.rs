//! Reviewer identities: `lanterne-review keys new` (also `lanterne keys new`).
//!
//! Writes an age X25519 identity in the same format as `age-keygen`, so the stock `age` CLI
//! reads it (`age -d -i FILE`), and a minisign signing key beside it (`FILE.minisign`, see
//! [`crate::signing`]). This runs on the reviewers' offline machine; what leaves it is the
//! public card it prints (`lanterne_core::card`): the recipient and the signing public key.

use std::io;
use std::path::Path;

use age::secrecy::ExposeSecret;
use lanterne_core::card::{is_valid_name, Card};
use lanterne_core::durable;

use crate::signing::{self, SigningError};

/// Why no identity file was written.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0} already exists; refusing to overwrite a key")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error(
        "{0:?} is not a reviewer name: give --name with 1 to 32 lower-case letters, digits, \
         '-' or '_'"
    )]
    BadName(String),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// Creates a reviewer's keys: the age identity `out` ([`new_identity_file`]) and the signing
/// key `out.minisign`, both 0600 and never overwriting. Returns the reviewer's public card,
/// named `name` (default: the file's stem).
pub fn new_reviewer(out: &Path, name: Option<&str>) -> Result<Card, KeysError> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !is_valid_name(&name) {
        return Err(KeysError::BadName(name));
    }
    let signing_path = signing::key_path(out);
    if signing_path.exists() {
        return Err(KeysError::Exists(signing_path.display().to_string()));
    }
    let recipient = new_identity_file(out)?;
    let public = match signing::new_key_file(&signing_path) {
        Ok(pk) => pk,
        Err(e) => {
            // Leave no identity without its signing key; it was never shown to anyone.
            let _ = std::fs::remove_file(out);
            return Err(e.into());
        }
    };
    Ok(Card {
        name,
        recipient,
        minisign: Some(signing::public_base64(&public)),
    })
}

/// Creates a new identity file (mode 0600, never overwriting) and returns its recipient.
pub fn new_identity_file(out: &Path) -> Result<String, KeysError> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let shown = out.display().to_string();
    let secret = identity.to_string();
    let text = zeroize::Zeroizing::new(format!(
        "# lanterne reviewer identity: keep this file on the offline machine only.\n\
         # public key: {recipient}\n{}\n",
        secret.expose_secret()
    ));
    durable::create_private(out, text.as_bytes()).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeysError::Exists(shown)
        } else {
            KeysError::Write {
                path: shown,
                source,
            }
        }
    })?;
    Ok(recipient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_a_private_age_identity_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("me.key");
        let recipient = new_identity_file(&path).unwrap();
        assert!(recipient.starts_with("age1"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let ids = age::IdentityFile::from_file(path.to_str().unwrap().to_owned())
            .unwrap()
            .into_identities()
            .unwrap();
        assert_eq!(ids.len(), 1);
        assert!(matches!(
            new_identity_file(&path),
            Err(KeysError::Exists(_))
        ));
    }

    #[test]
    fn a_reviewer_gets_both_keys_and_a_card() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.key");
        let card = new_reviewer(&path, None).unwrap();
        assert_eq!(card.name, "alice");
        let parsed = Card::parse(card.to_string().as_bytes(), "x").unwrap();
        assert_eq!(parsed, card);
        let key = signing::SigningKey::load(&signing::key_path(&path)).unwrap();
        assert_eq!(card.minisign.as_deref(), Some(key.public_base64().as_str()));
        assert!(matches!(
            new_reviewer(&path, None),
            Err(KeysError::Exists(_))
        ));
        assert!(matches!(
            new_reviewer(&dir.path().join("b.key"), Some("Bad Name")),
            Err(KeysError::BadName(_))
        ));
        assert!(!dir.path().join("b.key").exists());
    }
}
