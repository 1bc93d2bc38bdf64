//! The workstation's credential file: a reviewer name and a random token, as JSON, mode 0600.
//! The server writes it (`lanterne reviewers add`) and keeps only a hash of the token; the
//! networked workstation reads it to sign in to the reviewer API. Defined once, here.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// What a workstation holds: its name and secret token.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub name: String,
    pub token: String,
}

/// Why a credential file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the credential file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0} is not a lanterne credential file (it is written by `lanterne reviewers add`)")]
    Parse(PathBuf),
}

impl Credential {
    /// Reads a credential file; the text is zeroized once parsed.
    pub fn read(path: &Path) -> Result<Credential, ReadError> {
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?);
        serde_json::from_str(&text).map_err(|_| ReadError::Parse(path.to_owned()))
    }

    /// The file's bytes.
    pub fn to_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        // Serializing two strings cannot fail.
        Zeroizing::new(serde_json::to_vec_pretty(self).unwrap_or_default())
    }

    /// The HTTP `Authorization` header value the reviewer API checks.
    pub fn bearer(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("Bearer {}:{}", self.name, self.token))
    }
}
