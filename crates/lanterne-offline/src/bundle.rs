//! Reading a reviewer bundle on the offline machine: its format marker, its `SHA256SUMS`, and
//! the sources and submissions it holds. The format itself (names, paths, the marker, the sums
//! file) is `lanterne_core::bundle`, which the workstation's `fetch` writes through.
//!
//! Nothing here decrypts. This module answers "is this file the one `fetch` wrote?" (a SHA-256
//! check against `SHA256SUMS`) and "which submissions are there?", refusing any name that is not
//! a plain server-chosen name and anything that is a symlink rather than a real file or folder.
//! It also reads `deletions.txt`, the server's records of who deleted what (issue 12).

use std::path::{Path, PathBuf};

use lanterne_core::bundle::{self as format, check_format, Integrity, MarkerError, Sums};
use lanterne_core::designation::is_valid as is_designation;

use super::names::is_server_name;
use super::ReviewError;
use lanterne_core::api::Deletion;
pub(crate) use lanterne_core::bundle::{read_capped, DELETIONS};

/// Largest `deletions.txt` read (about 100,000 records).
const MAX_DELETIONS_BYTES: u64 = 16 << 20;

/// An opened bundle: its root and its checksums.
#[derive(Debug)]
pub(crate) struct Bundle {
    root: PathBuf,
    sums: Sums,
    /// Lines of `SHA256SUMS` that could not be read, for the report.
    pub(crate) problems: Vec<String>,
}

/// One source folder of the bundle.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) designation: String,
    /// Submission ids, sorted.
    pub(crate) submissions: Vec<String>,
}

impl Bundle {
    /// Opens the bundle at `root`: checks its marker's format and reads `SHA256SUMS`.
    pub(crate) fn open(root: &Path) -> Result<Bundle, ReviewError> {
        check_format(root).map_err(|e| match e {
            MarkerError::NotABundle(_) => ReviewError::NotABundle(root.to_owned()),
            MarkerError::Format(f) => ReviewError::BundleFormat(f),
            MarkerError::Read { path, source } => ReviewError::Read { path, source },
        })?;
        let (sums, problems) = Sums::read(root, false).map_err(|source| ReviewError::Read {
            path: root.join(format::SUMS),
            source,
        })?;
        Ok(Bundle {
            root: root.to_owned(),
            sums,
            problems,
        })
    }

    /// The bundle folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The bundle's `SHA256SUMS`.
    pub(crate) fn sums(&self) -> &Sums {
        &self.sums
    }

    /// Checks one file, by its path relative to the bundle (`sources/…`), against `SHA256SUMS`.
    pub(crate) fn verify(&self, rel: &str) -> Result<(), Integrity> {
        self.sums.verify(&self.root, rel)
    }

    /// Opens one file to be checked against `SHA256SUMS` while it is read
    /// ([`Sums::open_checked`]).
    pub(crate) fn open_checked(&self, rel: &str) -> Result<format::CheckedFile, Integrity> {
        self.sums.open_checked(&self.root, rel)
    }

    /// Every source and its submissions, in name order. Odd entries become `problems`.
    pub(crate) fn sources(&self, problems: &mut Vec<String>) -> Result<Vec<Source>, ReviewError> {
        let dir = self.root.join(format::SOURCES);
        let mut out = Vec::new();
        if !real_dir(&dir, problems) {
            // A bundle fetched before any source wrote has no `sources/` yet.
            return Ok(out);
        }
        for designation in list_dirs(&dir, problems, is_designation)? {
            let subs_dir = self.root.join(format::submissions_path(&designation));
            let submissions = if real_dir(&subs_dir, problems) {
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
    pub(crate) fn submission_files(&self, designation: &str, id: &str) -> Vec<String> {
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

    fn submission_dir(&self, designation: &str, id: &str) -> PathBuf {
        self.root
            .join(format::submissions_path(designation))
            .join(id)
    }

    /// The deletion records of `deletions.txt` (none if the bundle has none), checked against
    /// `SHA256SUMS`; a file that does not check, and lines that do not parse, become `problems`.
    /// They say what the server reports, no more: a compromised server can lie in them.
    pub fn deletions(&self, problems: &mut Vec<String>) -> Vec<Deletion> {
        let path = self.root.join(DELETIONS);
        if !path.exists() && !self.sums.contains(DELETIONS) {
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
}

/// Whether `dir` is there and not a symlink; a symlink (never followed) is reported.
fn real_dir(dir: &Path, problems: &mut Vec<String>) -> bool {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            problems.push(format!(
                "ignored {}: a symlink, not a folder lanterne writes",
                dir.display()
            ));
            false
        }
        // Anything else that is there is listed as before (a file makes that a read error).
        Ok(_) => true,
        Err(_) => false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

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

    /// A symlinked `sources/`, `submissions/` or `replies/` folder is not followed: the files
    /// under it are refused even though their sums match, and its submissions are not listed.
    #[test]
    fn symlinked_folders_on_a_path_are_refused() {
        let hello = hex::encode(Sha256::digest(b"hello"));
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(elsewhere.path().join("s1")).unwrap();
        std::fs::write(elsewhere.path().join("s1/manifest.age"), b"hello").unwrap();
        std::fs::write(elsewhere.path().join("r.age"), b"hello").unwrap();
        let sums = format!(
            "{hello}  sources/brave-otter-41/submissions/s1/manifest.age\n\
             {hello}  sources/brave-otter-41/replies/r.age\n"
        );
        let (dir, b) = bundle_with(&sums);
        let source = dir.path().join("sources/brave-otter-41");
        std::fs::create_dir_all(&source).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), source.join("submissions")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), source.join("replies")).unwrap();
        for rel in [
            "sources/brave-otter-41/submissions/s1/manifest.age",
            "sources/brave-otter-41/replies/r.age",
        ] {
            assert!(
                matches!(b.verify(rel), Err(Integrity::SymlinkOnPath)),
                "{rel}: {:?}",
                b.verify(rel)
            );
        }
        let mut problems = Vec::new();
        let sources = b.sources(&mut problems).unwrap();
        assert_eq!(sources.len(), 1);
        assert!(
            sources[0].submissions.is_empty(),
            "{:?}",
            sources[0].submissions
        );
        assert!(
            problems.iter().any(|p| p.contains("symlink")),
            "{problems:?}"
        );

        // The whole `sources/` folder a symlink: nothing is listed.
        let (dir2, b2) = bundle_with(&sums);
        std::os::unix::fs::symlink(dir.path().join("sources"), dir2.path().join("sources"))
            .unwrap();
        let mut problems = Vec::new();
        assert!(b2.sources(&mut problems).unwrap().is_empty());
        assert!(
            problems.iter().any(|p| p.contains("symlink")),
            "{problems:?}"
        );
        assert!(matches!(
            b2.verify("sources/brave-otter-41/replies/r.age"),
            Err(Integrity::SymlinkOnPath)
        ));
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
