//! Listing, walking and searching folders, and decrypting with the stock `age` CLI: helpers
//! every end-to-end test uses (the top-level harness, tests/common/mod.rs, includes this file).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The entries of `dir`, sorted (none if it cannot be read).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Runs `age -d -i IDENTITY FILE`. The stock CLI must be installed (Debian package `age`).
pub fn age_cli_decrypt(identity: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .expect("the `age` CLI must be installed (apt-get install age)");
    assert!(
        out.status.success(),
        "age -d failed on {file:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in list(dir) {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// True if any file under `dir` contains `needle`.
pub fn any_file_contains(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    let finder = memchr::memmem::Finder::new(needle);
    walk(dir).into_iter().find(|p| {
        std::fs::read(p)
            .map(|b| finder.find(&b).is_some())
            .unwrap_or(false)
    })
}
