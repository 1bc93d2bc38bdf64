//! `lanterne demo`: a first run with nothing to set up.
//!
//! Makes a throwaway reviewer identity, its signing key and its card (in the demo's keys dir)
//! and a config under `./demo/`, then the caller serves with it. The identity sits next to the server, which is exactly what a real deployment must
//! never do, so this says so loudly.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::keys;

/// Where the demo keeps its files.
pub struct Demo {
    pub identity: PathBuf,
    pub config: Config,
}

/// Prepares (or reuses) the demo folder and returns its config.
pub fn prepare(dir: &Path) -> io::Result<Demo> {
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir)?;
    let identity = dir.join("reviewer-identity.txt");
    let card = keys_dir.join("demo-reviewer.card");
    if !identity.exists() {
        // A card with a signing key (beside the identity), so replies signed by the demo
        // reviewer are accepted like a real reviewer's.
        let made =
            keys::new_reviewer(&identity, Some("demo-reviewer")).map_err(io::Error::other)?;
        std::fs::write(&card, made.to_string())?;
    }
    let config = Config {
        data_dir: dir.join("data"),
        keys_dir,
        ..Config::default()
    };
    Ok(Demo { identity, config })
}

/// The warning printed before a demo serves.
pub fn banner(demo: &Demo) -> String {
    let line = "=".repeat(72);
    format!(
        "{line}\n  DEMO MODE: NOT FOR REAL SOURCES\n\
         \n  The reviewer identity that decrypts everything is on this machine:\n    {}\n\
         \n  Submissions are stored, encrypted, in one folder each:\n    {}/\n  \
         (manifest.age holds the message and the file list, each other .age file one file)\n\
         \n  Decrypt a stored file with:  age -d -i {} FILE.age\n\
         \n  A real box keeps reviewer identities offline (`lanterne keys new`),\n  \
         and only their public cards in keys/.\n{line}",
        demo.identity.display(),
        crate::store::submissions_pattern(&demo.config.data_dir).display(),
        demo.identity.display(),
    )
}
