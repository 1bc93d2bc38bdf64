//! Reviewer identities: `lanterne-review keys new` (also `lanterne keys new`).
//!
//! Writes an age X25519 identity in the same format as `age-keygen`, so the stock `age` CLI
//! reads it (`age -d -i FILE`). This runs on the reviewers' offline machine; the server only
//! ever receives the recipient (public key) it prints.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use age::secrecy::ExposeSecret;

/// Why no identity file was written.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0} already exists; refusing to overwrite a key")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: io::Error },
}

/// Creates a new identity file (mode 0600, never overwriting) and returns its recipient.
pub fn new_identity_file(out: &Path) -> Result<String, KeysError> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let shown = out.display().to_string();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                KeysError::Exists(shown.clone())
            } else {
                KeysError::Write {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
    let secret = identity.to_string();
    let text = zeroize::Zeroizing::new(format!(
        "# lanterne reviewer identity: keep this file on the offline machine only.\n\
         # public key: {recipient}\n{}\n",
        secret.expose_secret()
    ));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| KeysError::Write {
            path: shown,
            source,
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
}
