//! Fuzzes `lanterne::review::metadata::inspect`, which `lanterne review open` runs on every
//! decrypted file a source sent (hostile by nature): the kind is sniffed from the first bytes,
//! then the EXIF (kamadak-exif), XMP (roxmltree), PDF (lanterne's own reader, with inflate)
//! or Office/ODF (zip) reader looks for identifying metadata. The input is written to a file
//! (on tmpfs when there is one) and inspected. The first byte picks a magic prefix (none, JPEG,
//! TIFF, PNG, PDF, zip) so every reader gets inputs from the start, and (divided by the number
//! of prefixes) the file's extension, which the risky-type check (`metadata/risk.rs`) compares
//! with the content: mode bytes 0 to 5 keep the extensionless name the seeds were made with.
//!
//! Asserts: no panic, including panics that `inspect` would catch with `catch_unwind` (the
//! libFuzzer panic hook aborts first, so a reader that panics on some input is reported);
//! at most 100 findings plus notes; every finding prints.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../common/tmp.rs"]
mod tmp;

const PREFIXES: [&[u8]; 6] = [
    b"",
    b"\xFF\xD8\xFF",
    b"II*\0",
    b"\x89PNG\r\n\x1a\n",
    b"%PDF-1.7\n",
    b"PK\x03\x04",
];

/// Extensions of the inspected file's name, so the name-against-content check runs.
const EXTENSIONS: [&str; 8] = [
    "", ".pdf", ".docx", ".exe", ".txt", ".jpg", ".sh", ".desktop",
];

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tmp::dir("metadata");
        let path = dir.path().to_owned();
        (dir, path)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let prefix = PREFIXES[usize::from(mode) % PREFIXES.len()];
    let mut bytes = Vec::with_capacity(prefix.len() + rest.len());
    bytes.extend_from_slice(prefix);
    bytes.extend_from_slice(rest);
    let ext = EXTENSIONS[usize::from(mode) / PREFIXES.len() % EXTENSIONS.len()];
    let path = dir().join(format!("upload{ext}"));
    std::fs::write(&path, &bytes).unwrap();
    let inspection = lanterne::review::metadata::inspect(&path);
    let _ = std::fs::remove_file(&path);
    assert!(inspection.findings.len() <= 100);
    for finding in &inspection.findings {
        let _ = finding.to_string();
    }
    for risk in &inspection.risks {
        assert!(risk.contains("do not open it on this machine"), "{risk}");
    }
});
