//! The offline machine's own state: the pinned team and the pinned sources.
//!
//! A bundle comes from the server, which the offline machine does not trust: its reviewer list
//! and its sources' recipients could have been changed on the way. What the reviewers decided
//! themselves lives here instead, in the directory `LANTERNE_REVIEW_HOME` (default
//! `$XDG_DATA_HOME/lanterne-review`, else `~/.local/share/lanterne-review`), created 0700:
//!
//! - `team/<name>.card`: the reviewers' cards (`lanterne_core::card`), added by
//!   `review team add CARD`; replies are encrypted to these recipients only;
//! - `sources.txt`: `designation recipient` lines, each source's recipient as first seen;
//! - `inbox/`: the persistent inbox of ciphertext and its `state.json` (`inbox.rs`).
//!
//! Every file is written durably (temp file, fsync, rename, fsync of the folder).

use std::collections::BTreeMap;
use std::fs::{self};
use std::io;
use std::path::{Path, PathBuf};

use lanterne_core::card::{Card, CardError, MAX_CARD_BYTES};
use lanterne_core::designation::is_valid as is_designation;
use lanterne_core::durable;

use crate::bundle::read_capped;

/// The environment variable naming the offline state's directory.
pub(crate) const HOME_ENV: &str = "LANTERNE_REVIEW_HOME";

/// Largest `sources.txt` read (about 100,000 sources).
const MAX_SOURCES_BYTES: u64 = 16 << 20;

/// Why the offline state could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("no directory for the offline state: set {HOME_ENV}, XDG_DATA_HOME or HOME")]
    NoHome,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}: {source}. Check the folder and free space")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the card {path} cannot be used: {source}")]
    Card {
        path: PathBuf,
        #[source]
        source: CardError,
    },
    #[error(
        "{name} is already in the team with other keys (pinned: {pinned}; this card: {new}). \
         If the reviewer really changed keys, run `review team remove {name}` first"
    )]
    NameTaken {
        name: String,
        pinned: String,
        new: String,
    },
    #[error("{other} already has the recipient {recipient}; one card per key")]
    RecipientTaken { other: String, recipient: String },
    #[error("no reviewer called {0} in the team (see `review team list`)")]
    NotInTeam(String),
    #[error("{path} line {line} is damaged; fix or remove that line")]
    Damaged { path: PathBuf, line: usize },
}

/// The offline state's directory.
#[derive(Debug, Clone)]
pub struct ReviewHome {
    dir: PathBuf,
}

impl ReviewHome {
    /// The directory from the environment ([`HOME_ENV`], then XDG, then `$HOME`), created 0700.
    pub fn from_env() -> Result<ReviewHome, HomeError> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let dir = if let Some(d) = var(HOME_ENV) {
            PathBuf::from(d)
        } else if let Some(d) = var("XDG_DATA_HOME") {
            PathBuf::from(d).join("lanterne-review")
        } else if let Some(d) = var("HOME") {
            PathBuf::from(d).join(".local/share/lanterne-review")
        } else {
            return Err(HomeError::NoHome);
        };
        ReviewHome::at(&dir)
    }

    /// The directory `dir`, created 0700 if missing.
    pub fn at(dir: &Path) -> Result<ReviewHome, HomeError> {
        make_dir(dir)?;
        Ok(ReviewHome {
            dir: dir.to_owned(),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn team_dir(&self) -> PathBuf {
        self.dir.join("team")
    }

    fn sources_file(&self) -> PathBuf {
        self.dir.join("sources.txt")
    }

    /// The pinned team, sorted by name. Empty when no card was added.
    pub(crate) fn team(&self) -> Result<Vec<Card>, HomeError> {
        let dir = self.team_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(HomeError::Read { path: dir, source }),
        };
        let mut team = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| HomeError::Read {
                    path: dir.clone(),
                    source,
                })?
                .path();
            if path.extension().is_some_and(|x| x == "card") {
                team.push(read_card(&path)?);
            }
        }
        team.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(team)
    }

    /// Pins the card at `path`. Adding the same card again changes nothing; a name (or an age
    /// recipient) already pinned with other keys is refused. Returns the card.
    pub fn add_card(&self, path: &Path) -> Result<Card, HomeError> {
        let card = read_card(path)?;
        for pinned in self.team()? {
            if pinned.name == card.name && pinned != card {
                return Err(HomeError::NameTaken {
                    pinned: describe(&pinned),
                    new: describe(&card),
                    name: card.name,
                });
            }
            if pinned.name != card.name && pinned.recipient == card.recipient {
                return Err(HomeError::RecipientTaken {
                    other: pinned.name,
                    recipient: card.recipient,
                });
            }
        }
        make_dir(&self.team_dir())?;
        let dest = self.team_dir().join(format!("{}.card", card.name));
        write_durably(&dest, card.to_string().as_bytes())?;
        Ok(card)
    }

    /// Unpins the reviewer `name`.
    pub fn remove_card(&self, name: &str) -> Result<(), HomeError> {
        if !lanterne_core::card::is_valid_name(name) {
            return Err(HomeError::NotInTeam(name.to_owned()));
        }
        let path = self.team_dir().join(format!("{name}.card"));
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.team_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(HomeError::NotInTeam(name.to_owned()))
            }
            Err(source) => Err(HomeError::Write { path, source }),
        }
    }

    /// The pinned sources: designation → recipient.
    pub(crate) fn sources(&self) -> Result<BTreeMap<String, String>, HomeError> {
        let path = self.sources_file();
        let text = match read_capped(&path, MAX_SOURCES_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => return Err(HomeError::Read { path, source }),
        };
        let mut pins = BTreeMap::new();
        for (i, line) in String::from_utf8_lossy(&text).lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(' ') {
                Some((d, r)) if is_designation(d) && r.starts_with("age1") => {
                    pins.insert(d.to_owned(), r.trim().to_owned());
                }
                _ => return Err(HomeError::Damaged { path, line: i + 1 }),
            }
        }
        Ok(pins)
    }

    /// Adds new pins (designation, recipient) to `sources.txt`, durably.
    pub(crate) fn pin_sources(&self, new: &[(String, String)]) -> Result<(), HomeError> {
        if new.is_empty() {
            return Ok(());
        }
        let mut pins = self.sources()?;
        for (d, r) in new {
            pins.entry(d.clone()).or_insert_with(|| r.clone());
        }
        let mut text = String::from("# lanterne-review: each source's recipient as first seen\n");
        for (d, r) in &pins {
            text.push_str(&format!("{d} {r}\n"));
        }
        write_durably(&self.sources_file(), text.as_bytes())
    }
}

/// A card's name, recipient and minisign key id, as `team add` and `team list` show it.
pub(crate) fn describe(card: &Card) -> String {
    let key = match &card.minisign {
        Some(k) => format!(
            "minisign key {}",
            crate::signing::key_id(k).unwrap_or_else(|| "(unreadable)".into())
        ),
        None => "no signing key (read-only)".into(),
    };
    format!("{} {} {key}", card.name, card.recipient)
}

/// Reads and parses a card file (the file's stem names a plain recipients file).
pub(crate) fn read_card(path: &Path) -> Result<Card, HomeError> {
    let bytes = read_capped(path, MAX_CARD_BYTES as u64 + 1).map_err(|source| HomeError::Read {
        path: path.to_owned(),
        source,
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    // The core parser checks the minisign key too (the server reads its keys dir alike).
    Card::parse(&bytes, stem).map_err(|source| HomeError::Card {
        path: path.to_owned(),
        source,
    })
}

/// Writes a new public file (0644, never overwriting), e.g. a card.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    durable::write_new(path, bytes, 0o644)
}

fn make_dir(dir: &Path) -> Result<(), HomeError> {
    lanterne_core::durable::create_private_dir_all(dir).map_err(|source| HomeError::Write {
        path: dir.to_owned(),
        source,
    })
}

fn sync_dir(dir: &Path) -> Result<(), HomeError> {
    durable::fsync_dir(dir).map_err(|source| HomeError::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Writes `bytes` to `path`: a temp file beside it, fsync, rename over, fsync the folder.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    durable::replace(path, bytes).map_err(|source| HomeError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const R: &str = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
    const R2: &str = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

    #[test]
    fn team_pins_refuse_changed_keys_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let home = ReviewHome::at(&dir.path().join("home")).unwrap();
        let mode = fs::metadata(home.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(home.team().unwrap().is_empty());
        let card = dir.path().join("alice.card");
        fs::write(&card, format!("{R}\n")).unwrap();
        assert_eq!(home.add_card(&card).unwrap().name, "alice");
        home.add_card(&card).unwrap();
        fs::write(&card, format!("{R2}\n")).unwrap();
        let e = home.add_card(&card).unwrap_err();
        assert!(matches!(e, HomeError::NameTaken { .. }), "{e}");
        let bob = dir.path().join("bob.card");
        fs::write(&bob, format!("{R}\n")).unwrap();
        assert!(matches!(
            home.add_card(&bob),
            Err(HomeError::RecipientTaken { .. })
        ));
        home.remove_card("alice").unwrap();
        assert!(matches!(
            home.remove_card("alice"),
            Err(HomeError::NotInTeam(_))
        ));
        home.add_card(&card).unwrap();
        assert_eq!(home.team().unwrap()[0].recipient, R2);
    }

    #[test]
    fn source_pins_keep_the_first_recipient() {
        let dir = tempfile::tempdir().unwrap();
        let home = ReviewHome::at(dir.path()).unwrap();
        assert!(home.sources().unwrap().is_empty());
        home.pin_sources(&[("a-b-1".into(), R.into())]).unwrap();
        home.pin_sources(&[("a-b-1".into(), R2.into()), ("c-d-2".into(), R2.into())])
            .unwrap();
        let pins = home.sources().unwrap();
        assert_eq!(pins["a-b-1"], R);
        assert_eq!(pins["c-d-2"], R2);
        fs::write(dir.path().join("sources.txt"), "a-b-1\n").unwrap();
        assert!(matches!(home.sources(), Err(HomeError::Damaged { .. })));
    }
}
