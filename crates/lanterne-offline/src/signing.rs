//! Reviewers' signing keys: minisign (Ed25519) keys that sign every reply written offline.
//!
//! The server stores a pushed reply only with a valid signature by a reviewer on its card
//! (`lanterne_core::reply::verify`), so a stolen workstation credential alone cannot speak to
//! sources. The secret key lives beside the reviewer's age identity, at `<identity>.minisign`,
//! in minisign's own format and **unencrypted**: the offline machine's disk is its protection,
//! as for the age identity. The stock `minisign -S -s FILE.minisign` signs with it, and
//! `minisign -V` verifies what [`SigningKey::sign`] writes.

use std::io;
use std::path::{Path, PathBuf};

use minisign::{KeyPair, PublicKey, SecretKey, SecretKeyBox};

/// Largest signing key file read.
const MAX_KEY_BYTES: u64 = 4096;

/// Why a signing key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("{0} already exists; refusing to overwrite a key")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot read the signing key {path}: {source}. It is made by `keys new` beside the \
         identity file (IDENTITY.minisign)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not an unencrypted minisign secret key: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("minisign could not make or use the signing key")]
    Minisign(#[source] minisign::PError),
}

/// Where the signing key of the identity file `identity` lives.
pub(crate) fn key_path(identity: &Path) -> PathBuf {
    let mut name = identity.as_os_str().to_owned();
    name.push(".minisign");
    PathBuf::from(name)
}

/// Where the signature of `file` goes: `<file>.minisig`, where `minisign -V -m FILE` looks.
pub(crate) fn signature_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

/// The public key in the base64 form `minisign` prints.
pub(crate) fn public_base64(pk: &PublicKey) -> String {
    pk.to_base64()
}

/// The key id of a base64 public key as `minisign` shows it (16 upper-case hex digits), or
/// `None` if it is not a minisign public key.
pub(crate) fn key_id(public_b64: &str) -> Option<String> {
    let pk = PublicKey::from_base64(public_b64).ok()?;
    let id = pk.keynum();
    let mut le = [0u8; 8];
    le.copy_from_slice(id.get(..8)?);
    Some(format!("{:016X}", u64::from_le_bytes(le)))
}

/// Makes a new unencrypted key pair and writes its secret key to `path` (0600, never
/// overwriting); returns the public key.
pub(crate) fn new_key_file(path: &Path) -> Result<PublicKey, SigningError> {
    let KeyPair { pk, sk } =
        KeyPair::generate_unencrypted_keypair().map_err(SigningError::Minisign)?;
    let text = zeroize::Zeroizing::new(
        sk.to_box(Some(
            "lanterne reviewer signing key: keep this file on the offline machine only",
        ))
        .map_err(SigningError::Minisign)?
        .into_string(),
    );
    lanterne_core::durable::create_private(path, text.as_bytes()).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            SigningError::Exists(path.to_owned())
        } else {
            SigningError::Write {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    Ok(pk)
}

/// A loaded signing key and its public half.
pub(crate) struct SigningKey {
    sk: SecretKey,
    pub(crate) public: PublicKey,
}

impl SigningKey {
    /// Reads the unencrypted secret key at `path`.
    pub(crate) fn load(path: &Path) -> Result<SigningKey, SigningError> {
        let text = crate::bundle::read_capped(path, MAX_KEY_BYTES).map_err(|source| {
            SigningError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
        let bad = |message: String| SigningError::BadKey {
            path: path.to_owned(),
            message,
        };
        // Never prompts: a password-protected key is refused (`minisign -C -W` removes it).
        let sk = SecretKeyBox::from_string(&text)
            .and_then(SecretKeyBox::into_unencrypted_secret_key)
            .map_err(|e| bad(e.to_string()))?;
        let public = PublicKey::from_secret_key(&sk).map_err(|e| bad(e.to_string()))?;
        Ok(SigningKey { sk, public })
    }

    /// The public key in base64.
    pub(crate) fn public_base64(&self) -> String {
        public_base64(&self.public)
    }

    /// Signs `data` with `trusted_comment`; returns the text of a standard `.minisig` file.
    pub(crate) fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, SigningError> {
        minisign::sign(
            Some(&self.public),
            &self.sk,
            data,
            Some(trusted_comment),
            Some("signature from a lanterne reviewer's signing key"),
        )
        .map(|b| b.into_string())
        .map_err(SigningError::Minisign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_key_signs_and_verifies_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(&dir.path().join("me.key"));
        assert!(path.to_str().unwrap().ends_with("me.key.minisign"));
        let pk = new_key_file(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(new_key_file(&path), Err(SigningError::Exists(_))));
        let key = SigningKey::load(&path).unwrap();
        assert_eq!(key.public_base64(), public_base64(&pk));
        let sig = key
            .sign(b"data", "lanterne-reply v1 designation=a-b-1")
            .unwrap();
        let sig = minisign::SignatureBox::from_string(&sig).unwrap();
        assert_eq!(
            sig.trusted_comment().unwrap(),
            "lanterne-reply v1 designation=a-b-1"
        );
        minisign::verify(&pk, &sig, std::io::Cursor::new(b"data"), true, false, false).unwrap();
        assert!(
            minisign::verify(&pk, &sig, std::io::Cursor::new(b"datA"), true, false, false).is_err()
        );
        assert_eq!(key_id(&key.public_base64()).unwrap().len(), 16);
        assert!(key_id("RWnope").is_none());
    }
}
