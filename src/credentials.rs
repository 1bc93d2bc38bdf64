//! Reviewer workstations' fetch credentials: made by `lanterne reviewers add`, checked by the
//! reviewer API.
//!
//! A credential is a name and a random 256-bit token. The workstation keeps both in a file
//! (mode 0600); the server keeps only SHA-256 of the token in `DATA/reviewers/<name>`, which
//! cannot be replayed into access. (A plain hash is enough: the token is random and long, so
//! there is nothing for a slow hash to protect.) Removing the file revokes the credential at
//! once: the server reads it on every request.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

const DIR: &str = "reviewers";

/// Where the reviewer onion's authorized clients live: one `<name>.auth` file per workstation
/// (`descriptor:x25519:<base32 public key>`, the format arti and C tor read). The reviewer
/// onion's restricted discovery watches this folder.
pub fn onion_clients_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("reviewer-onion-clients")
}

pub use lanterne_core::credential::Credential;

/// Why a credential operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "a reviewer name is 1 to 32 characters of a-z, 0-9, - and _, and not `retention` \
         (the deletion records use that name for the retention sweep)"
    )]
    BadName,
    #[error("reviewer {0} already exists; remove it first to issue a new credential")]
    Exists(String),
    #[error("no reviewer named {0}")]
    Unknown(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn valid_name(name: &str) -> bool {
    lanterne_core::api::is_credential_name(name)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CredentialError + '_ {
    move |source| CredentialError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates a credential: the hash goes under `data_dir`, the credential file to `out`.
pub fn add(data_dir: &Path, name: &str, out: &Path) -> Result<(), CredentialError> {
    if !valid_name(name) || name == "retention" {
        return Err(CredentialError::BadName);
    }
    let dir = data_dir.join(DIR);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err(&dir))?;
    let stored = dir.join(name);
    if stored.exists() {
        return Err(CredentialError::Exists(name.to_owned()));
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let credential = Credential {
        name: name.to_owned(),
        token: hex::encode(raw),
    };
    raw.zeroize();
    write_new(out, &credential.to_file_bytes())?;
    write_new(&stored, format!("{}\n", hash(&credential.token)).as_bytes())
}

/// Revokes a credential.
pub fn remove(data_dir: &Path, name: &str) -> Result<(), CredentialError> {
    if !valid_name(name) {
        return Err(CredentialError::BadName);
    }
    let path = data_dir.join(DIR).join(name);
    match fs::remove_file(&path) {
        Ok(()) => lanterne_core::durable::fsync_dir(&data_dir.join(DIR)).map_err(io_err(&path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(CredentialError::Unknown(name.to_owned()))
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Whether `name` and `token` match a stored credential (constant time in the token).
pub fn verify(data_dir: &Path, name: &str, token: &str) -> bool {
    if !valid_name(name) {
        return false;
    }
    let Ok(stored) = fs::read_to_string(data_dir.join(DIR).join(name)) else {
        return false;
    };
    bool::from(stored.trim().as_bytes().ct_eq(hash(token).as_bytes()))
}

/// Whether `name` is a registered reviewer (whatever token is presented with it).
pub fn exists(data_dir: &Path, name: &str) -> bool {
    valid_name(name) && data_dir.join(DIR).join(name).is_file()
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    lanterne_core::durable::create_private(path, bytes).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alice.cred");
        add(dir.path(), "alice", &out).unwrap();
        let c = Credential::read(&out).unwrap();
        assert_eq!(c.name, "alice");
        assert!(verify(dir.path(), "alice", &c.token));
        assert!(!verify(dir.path(), "alice", "00"));
        assert!(!verify(dir.path(), "bob", &c.token));
        assert!(!verify(dir.path(), "../alice", &c.token));
        let stored = fs::read_to_string(dir.path().join("reviewers/alice")).unwrap();
        assert!(!stored.contains(&c.token));
        assert!(matches!(
            add(dir.path(), "alice", &dir.path().join("x")),
            Err(CredentialError::Exists(_))
        ));
        for bad in ["Alice!", "retention"] {
            assert!(matches!(
                add(dir.path(), bad, &dir.path().join("y")),
                Err(CredentialError::BadName)
            ));
        }
        remove(dir.path(), "alice").unwrap();
        assert!(!verify(dir.path(), "alice", &c.token));
        assert!(matches!(
            remove(dir.path(), "alice"),
            Err(CredentialError::Unknown(_))
        ));
    }
}
