//! Reading a reviewer bundle (docs/bundle.md): its format marker, its `SHA256SUMS`, and the
//! sources and submissions it holds.
//!
//! Nothing here decrypts. This module answers "is this file the one `fetch` wrote?" (a SHA-256
//! check against `SHA256SUMS`) and "which submissions are there?", refusing any name that is not
//! a plain server-chosen name and anything that is a symlink rather than a real file or folder.
//! It also reads `deletions.txt`, the server's records of who deleted what (issue 12).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::names::is_server_name;
use super::ReviewError;
use lanterne_core::api::Deletion;
use lanterne_core::designation::is_valid as is_designation;

/// The bundle format this build reads.
pub const FORMAT: u64 = 1;

/// Largest `SHA256SUMS` read (about 700,000 files).
const MAX_SUMS_BYTES: u64 = 64 << 20;

/// The server's deletion records, as `fetch` wrote them (docs/bundle.md).
pub const DELETIONS: &str = "deletions.txt";

/// Largest `deletions.txt` read (about 100,000 records).
const MAX_DELETIONS_BYTES: u64 = 16 << 20;

/// What `SHA256SUMS` says about one path.
#[derive(Debug, Clone, Copy)]
enum Listed {
    Sum([u8; 32]),
    /// Listed twice with different sums: trusted neither way.
    Conflict,
}

/// An opened bundle: its root and its checksums.
#[derive(Debug)]
pub struct Bundle {
    root: PathBuf,
    sums: HashMap<String, Listed>,
    /// Lines of `SHA256SUMS` that could not be read, for the report.
    pub problems: Vec<String>,
}

/// Why a file of the bundle is not trusted.
#[derive(Debug)]
pub enum Integrity {
    NotListed,
    Conflict,
    Missing,
    NotAFile,
    Mismatch,
    Unreadable(io::Error),
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Integrity::NotListed => write!(f, "not listed in SHA256SUMS"),
            Integrity::Conflict => write!(f, "listed twice in SHA256SUMS with different sums"),
            Integrity::Missing => write!(f, "missing from the bundle"),
            Integrity::NotAFile => write!(f, "not a regular file (a symlink or a folder)"),
            Integrity::Mismatch => write!(f, "does not match its SHA256SUMS line (damaged)"),
            Integrity::Unreadable(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

/// One source folder of the bundle.
#[derive(Debug)]
pub struct Source {
    pub designation: String,
    /// Submission ids, sorted.
    pub submissions: Vec<String>,
}

impl Bundle {
    /// Opens the bundle at `root`: checks `lanterne-bundle.json` and reads `SHA256SUMS`.
    pub fn open(root: &Path) -> Result<Bundle, ReviewError> {
        let marker = root.join("lanterne-bundle.json");
        let text = match read_capped(&marker, 64 << 10) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ReviewError::NotABundle(root.to_owned()))
            }
            Err(source) => {
                return Err(ReviewError::Read {
                    path: marker,
                    source,
                })
            }
        };
        let format = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("format").and_then(|f| f.as_u64()));
        match format {
            Some(FORMAT) => {}
            Some(other) => return Err(ReviewError::BundleFormat(other)),
            None => return Err(ReviewError::NotABundle(root.to_owned())),
        }
        let sums_path = root.join("SHA256SUMS");
        let sums = read_capped(&sums_path, MAX_SUMS_BYTES).map_err(|source| ReviewError::Read {
            path: sums_path,
            source,
        })?;
        let mut bundle = Bundle {
            root: root.to_owned(),
            sums: HashMap::new(),
            problems: Vec::new(),
        };
        bundle.parse_sums(&String::from_utf8_lossy(&sums));
        Ok(bundle)
    }

    /// The bundle folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `sha256sum` lines: `<64 hex>  <path>` (or ` *<path>`, binary mode).
    fn parse_sums(&mut self, text: &str) {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(hash, rest)| {
                let path = rest.strip_prefix([' ', '*'])?;
                let mut sum = [0u8; 32];
                hex::decode_to_slice(hash, &mut sum).ok()?;
                Some((path, sum))
            });
            let Some((path, sum)) = parsed else {
                self.problems.push(format!(
                    "SHA256SUMS line {} is not `<sha256>  <path>`",
                    i + 1
                ));
                continue;
            };
            let entry = match self.sums.get(path) {
                Some(Listed::Sum(old)) if *old != sum => Listed::Conflict,
                Some(old) => *old,
                None => Listed::Sum(sum),
            };
            self.sums.insert(path.to_owned(), entry);
        }
    }

    /// Checks one file, by its path relative to the bundle (`sources/…`), against `SHA256SUMS`.
    pub fn verify(&self, rel: &str) -> Result<(), Integrity> {
        let expected = match self.sums.get(rel) {
            None => return Err(Integrity::NotListed),
            Some(Listed::Conflict) => return Err(Integrity::Conflict),
            Some(Listed::Sum(s)) => *s,
        };
        let path = self.root.join(rel);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Integrity::Missing),
            Err(e) => return Err(Integrity::Unreadable(e)),
            Ok(m) if !m.is_file() => return Err(Integrity::NotAFile),
            Ok(_) => {}
        }
        let mut hasher = Sha256::new();
        File::open(&path)
            .and_then(|mut f| io::copy(&mut f, &mut hasher))
            .map_err(Integrity::Unreadable)?;
        if hasher.finalize().as_slice() == expected {
            Ok(())
        } else {
            Err(Integrity::Mismatch)
        }
    }

    /// Every source and its submissions, in name order. Odd entries become `problems`.
    pub fn sources(&self, problems: &mut Vec<String>) -> Result<Vec<Source>, ReviewError> {
        let dir = self.root.join("sources");
        let mut out = Vec::new();
        if !dir.exists() {
            // A bundle fetched before any source wrote has no `sources/` yet.
            return Ok(out);
        }
        for designation in list_dirs(&dir, problems, is_designation)? {
            let subs_dir = dir.join(&designation).join("submissions");
            let submissions = if subs_dir.exists() {
                list_dirs(&subs_dir, problems, is_server_name)?
            } else {
                Vec::new()
            };
            out.push(Source {
                designation,
                submissions,
            });
        }
        Ok(out)
    }

    /// The regular files of a submission folder, by name (for spotting unlisted files).
    pub fn submission_files(&self, designation: &str, id: &str) -> Vec<String> {
        let dir = self.submission_dir(designation, id);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn submission_dir(&self, designation: &str, id: &str) -> PathBuf {
        self.root
            .join("sources")
            .join(designation)
            .join("submissions")
            .join(id)
    }

    /// The deletion records of `deletions.txt` (none if the bundle has none), checked against
    /// `SHA256SUMS`; a file that does not check, and lines that do not parse, become `problems`.
    /// They say what the server reports, no more: a compromised server can lie in them.
    pub fn deletions(&self, problems: &mut Vec<String>) -> Vec<Deletion> {
        let path = self.root.join(DELETIONS);
        if !path.exists() && !self.sums.contains_key(DELETIONS) {
            return Vec::new();
        }
        if let Err(e) = self.verify(DELETIONS) {
            problems.push(format!("{DELETIONS}: {e}; its records are not shown"));
            return Vec::new();
        }
        let text = match read_capped(&path, MAX_DELETIONS_BYTES) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{DELETIONS}: {e}"));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, line) in String::from_utf8_lossy(&text).lines().enumerate() {
            match Deletion::parse_line(line) {
                Some(d) => out.push(d),
                None => problems.push(format!(
                    "{DELETIONS} line {} is not a deletion record; ignored",
                    i + 1
                )),
            }
        }
        out
    }

    /// `sources/<designation>/submissions/<id>/<name>`, the form `SHA256SUMS` uses.
    pub fn rel(designation: &str, id: &str, name: &str) -> String {
        format!("sources/{designation}/submissions/{id}/{name}")
    }
}

/// The sub-folders of `dir` whose names pass `valid`, sorted; others are reported.
fn list_dirs(
    dir: &Path,
    problems: &mut Vec<String>,
    valid: fn(&str) -> bool,
) -> Result<Vec<String>, ReviewError> {
    let read = std::fs::read_dir(dir).map_err(|source| ReviewError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| ReviewError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let shown = super::names::shown(&entry.file_name().to_string_lossy());
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        match entry.file_name().into_string() {
            Ok(name) if is_dir && valid(&name) => names.push(name),
            _ => problems.push(format!(
                "ignored {shown} in {}: not a folder with a name lanterne writes",
                dir.display()
            )),
        }
    }
    names.sort();
    Ok(names)
}

/// Reads a whole file, refusing more than `max` bytes.
pub fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::other(format!(
            "larger than the {max} bytes allowed"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(sums: &str) -> (tempfile::TempDir, Bundle) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lanterne-bundle.json"), r#"{"format":1}"#).unwrap();
        std::fs::write(dir.path().join("SHA256SUMS"), sums).unwrap();
        let b = Bundle::open(dir.path()).unwrap();
        (dir, b)
    }

    #[test]
    fn checks_files_against_sha256sums() {
        let hello = hex::encode(Sha256::digest(b"hello"));
        let other = hex::encode(Sha256::digest(b"other"));
        let sums = format!(
            "{hello}  sources/a/x\n{hello} *sources/a/bin\n{other}  sources/a/y\n\
             {hello}  sources/a/gone\n{hello}  sources/a/twice\n{other}  sources/a/twice\nbad line\n"
        );
        let (dir, b) = bundle_with(&sums);
        std::fs::create_dir_all(dir.path().join("sources/a")).unwrap();
        for name in ["x", "bin", "y", "twice", "unlisted"] {
            std::fs::write(dir.path().join("sources/a").join(name), b"hello").unwrap();
        }
        assert!(b.verify("sources/a/x").is_ok());
        assert!(b.verify("sources/a/bin").is_ok());
        assert!(matches!(b.verify("sources/a/y"), Err(Integrity::Mismatch)));
        assert!(matches!(
            b.verify("sources/a/gone"),
            Err(Integrity::Missing)
        ));
        assert!(matches!(
            b.verify("sources/a/twice"),
            Err(Integrity::Conflict)
        ));
        assert!(matches!(
            b.verify("sources/a/unlisted"),
            Err(Integrity::NotListed)
        ));
        assert_eq!(b.problems.len(), 1, "{:?}", b.problems);
        let (dir2, b2) = bundle_with(&format!("{hello}  l\n"));
        std::os::unix::fs::symlink(dir.path().join("sources/a/x"), dir2.path().join("l")).unwrap();
        assert!(matches!(b2.verify("l"), Err(Integrity::NotAFile)));
    }

    #[test]
    fn refuses_what_is_not_a_bundle_of_this_format() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Bundle::open(dir.path()),
            Err(ReviewError::NotABundle(_))
        ));
        std::fs::write(dir.path().join("lanterne-bundle.json"), r#"{"format":2}"#).unwrap();
        assert!(matches!(
            Bundle::open(dir.path()),
            Err(ReviewError::BundleFormat(2))
        ));
    }

    #[test]
    fn lists_only_plausible_source_and_submission_folders() {
        let (dir, b) = bundle_with("");
        let s = dir.path().join("sources");
        std::fs::create_dir_all(s.join("brave-otter-41/submissions/abc-1")).unwrap();
        std::fs::create_dir_all(s.join("brave-otter-41/submissions/bad.name")).unwrap();
        std::fs::create_dir_all(s.join("Upper")).unwrap();
        std::fs::write(s.join("stray-file"), b"").unwrap();
        let mut problems = Vec::new();
        let sources = b.sources(&mut problems).unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].designation, "brave-otter-41");
        assert_eq!(sources[0].submissions, vec!["abc-1".to_owned()]);
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
