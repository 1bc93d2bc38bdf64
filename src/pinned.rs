//! What a box was made with and must keep: the KDF parameters and the word lists.
//!
//! A source's lookup id and age identity come from argon2id with `kdf.memory_kib` and
//! `kdf.iterations`, and designations and typed codes come from the word lists. Change either
//! under an existing data dir and every source is silently locked out (their code derives other
//! keys) and every designation changes. So the first `serve` writes them to `DATA/params`
//! (mode 0600, written to a temp file, fsynced, renamed, the folder fsynced; no time in it),
//! and every later start compares and refuses to run on a difference, saying which value to
//! put back. `lanterne check` makes the same comparison ([`compare`]) without writing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::code::wordlist_sha256;
use crate::config::KdfConfig;
use crate::i18n::Lang;
use crate::store::{durable, fsync_dir, normalize_times};

/// The file in the data dir.
pub const FILE_NAME: &str = "params";

/// Written next to it, then renamed over it.
const TEMP_NAME: &str = "params.new";

/// The pinned values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinned {
    pub kdf: PinnedKdf,
    pub wordlists: PinnedWordlists,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedKdf {
    pub memory_kib: u32,
    pub iterations: u32,
}

/// SHA-256 of each word list file, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedWordlists {
    pub en_sha256: String,
    pub fr_sha256: String,
}

/// Why the box refuses to start. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(
        "this box was made with other settings than the config now gives, and starting would \
         lock out every source (their codes would derive other keys) and rename every \
         designation:\n{0}"
    )]
    Mismatch(String),
    #[error("{path} is damaged ({message}); restore it from a backup")]
    Damaged { path: PathBuf, message: String },
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl Pinned {
    /// What this build and `kdf` would derive with.
    pub fn current(kdf: &KdfConfig) -> Pinned {
        Pinned {
            kdf: PinnedKdf {
                memory_kib: kdf.memory_kib,
                iterations: kdf.iterations,
            },
            wordlists: PinnedWordlists {
                en_sha256: wordlist_sha256(Lang::En),
                fr_sha256: wordlist_sha256(Lang::Fr),
            },
        }
    }

    /// One line per difference from `stored`, each saying how to go back.
    fn differences(&self, stored: &Pinned) -> Vec<String> {
        let mut out = Vec::new();
        let mut kdf = |name: &str, now: u32, then: u32| {
            if now != then {
                out.push(format!(
                    "- kdf.{name} is {now} in the config, but this box was made with {then}: \
                     put `{name} = {then}` back in the [kdf] section of the config"
                ));
            }
        };
        kdf("memory_kib", self.kdf.memory_kib, stored.kdf.memory_kib);
        kdf("iterations", self.kdf.iterations, stored.kdf.iterations);
        for (lang, now, then) in [
            (
                "English",
                &self.wordlists.en_sha256,
                &stored.wordlists.en_sha256,
            ),
            (
                "French",
                &self.wordlists.fr_sha256,
                &stored.wordlists.fr_sha256,
            ),
        ] {
            if now != then {
                out.push(format!(
                    "- the {lang} word list of this lanterne build (sha256 {now}) is not the one \
                     this box was made with (sha256 {then}): run the lanterne version that made \
                     this box"
                ));
            }
        }
        out
    }
}

/// Whether the stored parameters match what `kdf` and this build would derive with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    /// `DATA/params` holds the same values.
    Same,
    /// No `DATA/params` yet: the box never started on this data dir.
    NotRecorded,
}

/// Compares `kdf` and this build's word lists with what the box was made with, without writing
/// anything (`lanterne check`, and every start through [`check_or_record`]).
pub fn compare(data_dir: &Path, kdf: &KdfConfig) -> Result<Compared, PinError> {
    let path = data_dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Compared::NotRecorded),
        Err(source) => return Err(PinError::Io { path, source }),
    };
    let stored: Pinned = toml::from_str(&text).map_err(|e| PinError::Damaged {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let diff = Pinned::current(kdf).differences(&stored);
    if diff.is_empty() {
        Ok(Compared::Same)
    } else {
        Err(PinError::Mismatch(diff.join("\n")))
    }
}

/// Records the parameters at first start, or checks them against what was recorded.
/// Call it with the data dir locked (see [`crate::hardening::DataDirLock`]).
pub fn check_or_record(data_dir: &Path, kdf: &KdfConfig) -> Result<(), PinError> {
    match compare(data_dir, kdf)? {
        Compared::Same => Ok(()),
        Compared::NotRecorded => {
            write_durably(data_dir, &Pinned::current(kdf)).map_err(|source| PinError::Io {
                path: data_dir.join(FILE_NAME),
                source,
            })
        }
    }
}

/// Temp file (0600), fsync, rename over `params`, fsync the folder.
fn write_durably(data_dir: &Path, pinned: &Pinned) -> io::Result<()> {
    let text = toml::to_string(pinned).map_err(io::Error::other)?;
    let temp = data_dir.join(TEMP_NAME);
    // A temp file left by a crash is ours (the data dir is locked): start it afresh.
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let text = format!("# Written by lanterne at this box's first start. Do not edit.\n{text}");
    durable::write_new(&temp, text.as_bytes(), 0o600)?;
    normalize_times(&temp)?;
    fs::rename(&temp, data_dir.join(FILE_NAME))?;
    fsync_dir(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn recorded_at_first_start_then_checked() {
        let dir = tempfile::tempdir().unwrap();
        let kdf = KdfConfig::default();
        check_or_record(dir.path(), &kdf).unwrap();
        let path = dir.path().join(FILE_NAME);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.modified().unwrap(), std::time::UNIX_EPOCH);
        assert!(!dir.path().join(TEMP_NAME).exists());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(&wordlist_sha256(Lang::En)), "{text}");
        check_or_record(dir.path(), &kdf).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "not rewritten");

        let mut other = kdf.clone();
        other.iterations = 4;
        let err = check_or_record(dir.path(), &other).unwrap_err().to_string();
        assert!(err.contains("put `iterations = 3` back"), "{err}");
        assert!(!err.contains("memory_kib"), "{err}");
    }

    #[test]
    fn a_changed_word_list_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kdf = KdfConfig::default();
        check_or_record(dir.path(), &kdf).unwrap();
        let path = dir.path().join(FILE_NAME);
        let text = fs::read_to_string(&path).unwrap();
        let en = wordlist_sha256(Lang::En);
        fs::write(&path, text.replace(&en, &"0".repeat(64))).unwrap();
        let err = check_or_record(dir.path(), &kdf).unwrap_err().to_string();
        assert!(err.contains("English word list"), "{err}");
        fs::write(&path, "garbage").unwrap();
        let err = check_or_record(dir.path(), &kdf).unwrap_err();
        assert!(matches!(err, PinError::Damaged { .. }), "{err}");
    }
}
