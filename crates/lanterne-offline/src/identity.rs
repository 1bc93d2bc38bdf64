//! The reviewer's identity file, plain or passphrase-protected, and where the passphrase comes
//! from.
//!
//! Two shapes are read, the same two the stock `age -d -i` reads:
//! - a plain identity file (`AGE-SECRET-KEY-1…` lines, as `lanterne keys new` or `age-keygen`
//!   write; plugin identities too where the plugin is installed);
//! - an age file encrypted with a passphrase whose plaintext is such a file (what
//!   `age -p -o id.age id.txt` makes). It is decrypted once, up front, with
//!   [`age::encrypted::EncryptedIdentity`], so a wrong passphrase fails before any output.
//!
//! The passphrase is held in a [`SecretString`] (zeroized on drop) and never logged.

use std::io::{self, IsTerminal};
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::ReviewError;

/// Environment variable the CLI reads the identity passphrase from.
pub(crate) const PASSPHRASE_ENV: &str = "LANTERNE_IDENTITY_PASSPHRASE";

/// Largest identity file read (age's own limit is 16 MiB; real ones are a few hundred bytes).
const MAX_IDENTITY_BYTES: u64 = 1 << 20;

const AGE_MAGIC: &[u8] = b"age-encryption.org/";
const ARMOR_MAGIC: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// The identities that decrypt bundle files.
pub(crate) type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Answers age's questions during decryption: hands over the passphrase (if any) and shows
/// plugin messages ("touch your key") on stderr. It never prompts by itself.
#[derive(Clone)]
struct Answers {
    passphrase: Option<SecretString>,
}

impl age::Callbacks for Answers {
    fn display_message(&self, message: &str) {
        eprintln!("{message}");
    }

    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, _: &str) -> Option<SecretString> {
        self.passphrase.clone()
    }
}

/// Whether the identity file at `path` is passphrase-protected, so the CLI knows to ask for
/// a passphrase (with [`passphrase_from_env_or_tty`]) before calling [`super::open`].
pub fn identity_needs_passphrase(path: &Path) -> Result<bool, ReviewError> {
    let bytes = read_identity_file(path)?;
    Ok(bytes.starts_with(AGE_MAGIC)
        && age::Decryptor::new_buffered(&bytes[..]).is_ok_and(|d| d.is_scrypt()))
}

/// The identity passphrase from `LANTERNE_IDENTITY_PASSPHRASE`, or else typed at the terminal
/// (not echoed, through `rpassword`, which reads `/dev/tty`). `None` if neither is available.
pub(crate) fn passphrase_from_env_or_tty() -> Option<SecretString> {
    if let Some(value) = std::env::var_os(PASSPHRASE_ENV) {
        return value.into_string().ok().map(SecretString::from);
    }
    if !io::stdin().is_terminal() && !io::stderr().is_terminal() {
        return None;
    }
    rpassword::prompt_password("Passphrase for the identity file: ")
        .ok()
        .filter(|p| !p.is_empty())
        .map(SecretString::from)
}

/// Loads every identity from `path`, decrypting it with `passphrase` if it is protected.
pub(crate) fn load(
    path: &Path,
    passphrase: Option<SecretString>,
) -> Result<Identities, ReviewError> {
    let bytes = read_identity_file(path)?;
    let bad = |message: String| ReviewError::Identity {
        path: path.to_owned(),
        message,
    };
    let answers = Answers { passphrase };
    let identities = if bytes.starts_with(ARMOR_MAGIC) {
        return Err(bad(
            "it is ASCII-armored (made with `age -a`); lanterne reads binary protected identity \
             files: make one with `age -p -o id.age id.txt`"
                .into(),
        ));
    } else if bytes.starts_with(AGE_MAGIC) {
        decrypt_protected(path, &bytes, answers)?
    } else {
        age::IdentityFile::from_buffer(&bytes[..])
            .map_err(|e| bad(format!("{e}; expected AGE-SECRET-KEY-1… lines")))?
            .with_callbacks(answers)
            .into_identities()
            .map_err(|e| bad(plugin_hint(e)))?
    };
    if identities.is_empty() {
        return Err(bad(
            "it holds no identity; give the file `lanterne keys new` wrote".into(),
        ));
    }
    Ok(identities)
}

/// Decrypts a passphrase-protected identity file and returns its identities.
fn decrypt_protected(
    path: &Path,
    bytes: &[u8],
    answers: Answers,
) -> Result<Identities, ReviewError> {
    let bad = |message: String| ReviewError::Identity {
        path: path.to_owned(),
        message,
    };
    let missing = answers
        .passphrase
        .as_ref()
        .is_none_or(|p| p.expose_secret().is_empty());
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|e| bad(e.to_string()))?;
    let encrypted =
        age::encrypted::EncryptedIdentity::new(decryptor, answers, None).ok_or_else(|| {
            bad("it is an age file, but not encrypted with a passphrase (age -p)".into())
        })?;
    if missing {
        return Err(ReviewError::PassphraseNeeded(path.to_owned()));
    }
    let file = encrypted.decrypt(path.to_str()).map_err(|e| match e {
        age::DecryptError::KeyDecryptionFailed | age::DecryptError::DecryptionFailed => {
            ReviewError::WrongPassphrase(path.to_owned())
        }
        other => bad(other.to_string()),
    })?;
    // The passphrase was for the file only: a plugin asking for a PIN must not receive it.
    file.with_callbacks(Answers { passphrase: None })
        .into_identities()
        .map_err(|e| bad(plugin_hint(e)))
}

/// A decryption error from turning identity lines into identities: only plugins fail here.
fn plugin_hint(e: age::DecryptError) -> String {
    format!("{e} (plugin identities need their `age-plugin-NAME` program on PATH)")
}

fn read_identity_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, ReviewError> {
    super::bundle::read_capped(path, MAX_IDENTITY_BYTES)
        .map(Zeroizing::new)
        .map_err(|source| ReviewError::Read {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn protect(plaintext: &str, passphrase: &str) -> Vec<u8> {
        let enc = age::Encryptor::with_user_passphrase(SecretString::from(passphrase));
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(plaintext.as_bytes()).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn reads_plain_and_protected_identity_files() {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let text = format!("# comment\n{}\n", id.to_string().expose_secret());
        let plain = dir.path().join("id.txt");
        std::fs::write(&plain, &text).unwrap();
        assert!(!identity_needs_passphrase(&plain).unwrap());
        assert_eq!(load(&plain, None).unwrap().len(), 1);

        let protected = dir.path().join("id.age");
        std::fs::write(&protected, protect(&text, "correct horse")).unwrap();
        assert!(identity_needs_passphrase(&protected).unwrap());
        assert!(matches!(
            load(&protected, None),
            Err(ReviewError::PassphraseNeeded(_))
        ));
        assert!(matches!(
            load(&protected, Some("wrong".into())),
            Err(ReviewError::WrongPassphrase(_))
        ));
        assert_eq!(
            load(&protected, Some("correct horse".into()))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn other_files_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "not a key\n").unwrap();
        let e = load(&p, None).err().unwrap().to_string();
        assert!(e.contains("AGE-SECRET-KEY-1"), "{e}");
        assert!(
            !e.contains("not a key"),
            "the file's content must not leak: {e}"
        );
        std::fs::write(&p, "# only a comment\n").unwrap();
        assert!(load(&p, None)
            .err()
            .unwrap()
            .to_string()
            .contains("no identity"));
        std::fs::write(&p, "-----BEGIN AGE ENCRYPTED FILE-----\n").unwrap();
        assert!(load(&p, None)
            .err()
            .unwrap()
            .to_string()
            .contains("armored"));
        let e = load(&dir.path().join("missing"), None).err().unwrap();
        assert!(matches!(e, ReviewError::Read { .. }));
    }
}
