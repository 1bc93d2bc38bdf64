//! Temp folders for the fuzz targets: on tmpfs when there is one (the store and `review open`
//! fsync), named `lanterne-fuzz-<target>-<pid>-<random>`. libFuzzer ends the process with
//! `exit`, so a folder held in a `static` is never removed; each new process therefore first
//! removes the folders of processes that are gone.

use std::path::{Path, PathBuf};

fn base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Removes `lanterne-fuzz-*-<pid>-*` folders in `base` whose process no longer runs.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("lanterne-fuzz-")) else {
            continue;
        };
        let mut parts = rest.split('-');
        let (Some(_target), Some(pid), Some(_random)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh temp folder for `target` (a name without `-`).
pub fn dir(target: &str) -> tempfile::TempDir {
    let base = base();
    sweep(&base);
    let prefix = format!("lanterne-fuzz-{target}-{}-", std::process::id());
    tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(&base)
        .or_else(|_| tempfile::Builder::new().prefix(&prefix).tempdir())
        .expect("temp dir")
}
