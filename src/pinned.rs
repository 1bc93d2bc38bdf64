//! What a box was made with and must keep: the KDF parameters and the word lists.
//!
//! A source's lookup id and age identity come from argon2id with `kdf.memory_kib` and
//! `kdf.iterations`, and a typed code must be words of the lists the box gave codes from.
//! Change either under an existing data dir and every source is silently locked out (their
//! code derives other keys, or is refused as unknown words). (Designations come from the first
//! English list, which never changes: `lanterne_core::designation`.) So the first `serve` writes them to `DATA/params`
//! (mode 0600, written to a temp file, fsynced, renamed, the folder fsynced; no time in it),
//! and every later start compares and refuses to run on a difference, saying which value to
//! put back. `lanterne check` makes the same comparison ([`compare`]) without writing.
//!
//! The word lists have versions ([`ListVersion`]): a box made with an older version this build
//! still knows starts, and the comparison says which version it was made with, so that login
//! also takes that version's words (`code::normalize_for`) while new codes come from the
//! current lists. Lists this build does not know are refused, saying which builds would run.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::code::{wordlist_sha256, ListVersion};
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
        "this box was made with other settings than this lanterne build and its config give, \
         and starting would lock out every source (their codes would derive other keys, or \
         their words would not be known):\n{0}"
    )]
    Mismatch(String),
    #[error("{path} is damaged ({message}); restore it from a backup")]
    Damaged { path: PathBuf, message: String },
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl Pinned {
    /// What this build and `kdf` would make a new box with.
    pub fn current(kdf: &KdfConfig) -> Pinned {
        Pinned {
            kdf: PinnedKdf {
                memory_kib: kdf.memory_kib,
                iterations: kdf.iterations,
            },
            wordlists: PinnedWordlists::of(ListVersion::CURRENT),
        }
    }

    /// One line per difference from `stored`, each saying how to go back. The word lists
    /// differ only if `stored` names a version this build does not know.
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
        if stored.wordlists.version().is_none() {
            let known: Vec<String> = ListVersion::ALL
                .iter()
                .map(|&v| {
                    let w = PinnedWordlists::of(v);
                    format!(
                        "version {} (English {}, French {})",
                        v.number(),
                        w.en_sha256,
                        w.fr_sha256
                    )
                })
                .collect();
            out.push(format!(
                "- the word lists this box was made with (English sha256 {}, French sha256 {}) \
                 are not among those this lanterne build knows ({}): run the lanterne version \
                 that made this box, or a later one whose wordlists/PROVENANCE.md lists these \
                 checksums; do not edit DATA/params, as the codes the box gave out would stop \
                 working",
                stored.wordlists.en_sha256,
                stored.wordlists.fr_sha256,
                known.join("; ")
            ));
        }
        out
    }
}

impl PinnedWordlists {
    /// The checksums of a version's lists.
    pub fn of(version: ListVersion) -> PinnedWordlists {
        PinnedWordlists {
            en_sha256: wordlist_sha256(version, Lang::En),
            fr_sha256: wordlist_sha256(version, Lang::Fr),
        }
    }

    /// The version these checksums name, if this build knows it.
    pub fn version(&self) -> Option<ListVersion> {
        ListVersion::ALL
            .into_iter()
            .find(|&v| PinnedWordlists::of(v) == *self)
    }
}

/// Whether the stored parameters match what `kdf` and this build would derive with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    /// `DATA/params` holds the same KDF values, and word lists of this version (which this
    /// build knows: the current one, or an older one whose codes it still takes).
    Same(ListVersion),
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
    match stored.wordlists.version() {
        Some(version) if diff.is_empty() => Ok(Compared::Same(version)),
        _ => Err(PinError::Mismatch(diff.join("\n"))),
    }
}

/// Records the parameters at first start, or checks them against what was recorded, and says
/// which list version the box was made with (the current one for a new box).
/// Call it with the data dir locked (see [`crate::hardening::DataDirLock`]).
pub fn check_or_record(data_dir: &Path, kdf: &KdfConfig) -> Result<ListVersion, PinError> {
    match compare(data_dir, kdf)? {
        Compared::Same(version) => Ok(version),
        Compared::NotRecorded => {
            write_durably(data_dir, &Pinned::current(kdf)).map_err(|source| PinError::Io {
                path: data_dir.join(FILE_NAME),
                source,
            })?;
            Ok(ListVersion::CURRENT)
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
        let current = wordlist_sha256(ListVersion::CURRENT, Lang::En);
        assert!(text.contains(&current), "{text}");
        assert_eq!(
            check_or_record(dir.path(), &kdf).unwrap(),
            ListVersion::CURRENT
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "not rewritten");

        let mut other = kdf.clone();
        other.iterations = 4;
        let err = check_or_record(dir.path(), &other).unwrap_err().to_string();
        assert!(err.contains("put `iterations = 3` back"), "{err}");
        assert!(!err.contains("memory_kib"), "{err}");
    }

    /// A box made with the first lists starts and says so (its sources' codes keep working);
    /// lists this build does not know are refused, saying what to do.
    #[test]
    fn first_lists_are_taken_and_unknown_lists_refused_saying_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let kdf = KdfConfig::default();
        check_or_record(dir.path(), &kdf).unwrap();
        let path = dir.path().join(FILE_NAME);
        let text = fs::read_to_string(&path).unwrap();
        let (now, first) = (
            PinnedWordlists::of(ListVersion::CURRENT),
            PinnedWordlists::of(ListVersion::V1),
        );
        assert_ne!(now, first);
        let made_on_first = text
            .replace(&now.en_sha256, &first.en_sha256)
            .replace(&now.fr_sha256, &first.fr_sha256);
        fs::write(&path, &made_on_first).unwrap();
        assert_eq!(check_or_record(dir.path(), &kdf).unwrap(), ListVersion::V1);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            made_on_first,
            "not rewritten"
        );

        // Unknown lists: the English one changed, then both mixed from two versions.
        for unknown in [
            made_on_first.replace(&first.en_sha256, &"0".repeat(64)),
            text.replace(&now.en_sha256, &first.en_sha256),
        ] {
            fs::write(&path, &unknown).unwrap();
            let err = check_or_record(dir.path(), &kdf).unwrap_err().to_string();
            for part in [
                "the word lists this box was made with",
                "are not among those this lanterne build knows",
                "run the lanterne version that made this box",
                "do not edit DATA/params",
                &format!("version 1 (English {}", first.en_sha256),
                &format!("version 2 (English {}", now.en_sha256),
            ] {
                assert!(err.contains(part), "{part}: {err}");
            }
        }
        fs::write(&path, "garbage").unwrap();
        let err = check_or_record(dir.path(), &kdf).unwrap_err();
        assert!(matches!(err, PinError::Damaged { .. }), "{err}");
    }
}
