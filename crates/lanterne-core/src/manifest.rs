//! The manifest: what a submission held, sealed beside its files.
//!
//! File names, declared types, sizes and the message are secrets too, so they never appear on
//! disk in clear: they go in this JSON document, which is age-encrypted to the reviewers like
//! the files. The JSON is padded with spaces (which JSON ignores) to its size bucket
//! ([`crate::padding::bucket`], as every stored file) so the ciphertext's length does not give
//! away the message's length or the number of files. Time is kept only to the day.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::padding;

/// Name of the manifest inside a submission folder.
pub const FILE_NAME: &str = "manifest.age";

/// Most files one manifest may list. The server refuses `limits.max_files` above it
/// (`lanterne::config::Config::validate`) and `review open` refuses a manifest that lists more,
/// before any work.
pub const MAX_FILES: usize = 10_000;

/// Format version written by this build.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// The day the submission arrived, `YYYY-MM-DD` (UTC).
    pub received: String,
    /// The source's message; empty if none.
    pub message: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The name the source's browser gave, as sent (sanitize before using it as a path).
    pub name: String,
    /// The declared MIME type, as sent.
    pub content_type: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// The name of its ciphertext in the submission folder.
    pub stored_as: String,
}

/// Why a decrypted manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the manifest has version {0}, which this build does not read")]
    Version(u32),
}

impl Manifest {
    /// Today's date in UTC, to the day.
    pub fn today() -> String {
        crate::day::utc(0)
    }

    /// The padded JSON to encrypt.
    pub fn to_padded_json(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(padding::MIN_BUCKET as usize));
        // Serializing plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        let padded = usize::try_from(padding::bucket(out.len() as u64)).unwrap_or(out.len());
        out.resize(padded, b' ');
        out
    }

    /// Parses decrypted manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes)?;
        if m.version != VERSION {
            return Err(ManifestError::Version(m.version));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(message: &str) -> Manifest {
        Manifest {
            version: VERSION,
            received: Manifest::today(),
            message: message.to_owned(),
            files: vec![FileEntry {
                name: "rapport « final ».pdf".into(),
                content_type: "application/pdf".into(),
                size: 12,
                stored_as: "00ff.age".into(),
            }],
        }
    }

    #[test]
    fn round_trips_and_pads() {
        let m = sample("bonjour\n\"quoted\"");
        let json = m.to_padded_json();
        assert_eq!(json.len() as u64, padding::MIN_BUCKET);
        assert_eq!(Manifest::parse(&json).unwrap(), m);
        assert_eq!(
            sample("a").to_padded_json().len(),
            sample(&"ab".repeat(20_000)).to_padded_json().len()
        );
        let long = sample(&"é".repeat(100_000)).to_padded_json();
        assert_eq!(long.len() as u64, padding::bucket(200_000));
        assert_eq!(m.received.len(), 10);
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(Manifest::parse(b"{}").is_err());
        assert!(Manifest::parse(b"\xff").is_err());
        let mut m = sample("x");
        m.version = 99;
        let json = serde_json::to_vec(&m).unwrap();
        assert!(matches!(
            Manifest::parse(&json),
            Err(ManifestError::Version(99))
        ));
    }
}
