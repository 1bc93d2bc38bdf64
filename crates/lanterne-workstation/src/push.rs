//! `lanterne push`: replies written and signed on the offline machine, up to the server.
//!
//! Each reply `<id>.age` goes with its signature `<id>.age.minisig` (both written by
//! `review reply --identity`), the signature in the header `lanterne_core::api` defines. A
//! reply without its signature is not sent: the server would refuse it anyway.

use std::fs;
use std::path::{Path, PathBuf};

use lanterne_core::credential::Credential;
use lanterne_core::reply::MAX_SIGNATURE_BYTES;
use lanterne_core::{api, designation};
use reqwest::header::AUTHORIZATION;

use crate::{io_at, Client, WorkstationError};

/// What a push sent.
#[derive(Debug, Default)]
pub struct PushReport {
    pub sent: usize,
}

/// Uploads every `REPLIES_DIR/<designation>/*.age` with its `.age.minisig`; each one sent is
/// moved with it into `sent/` beside it, so pushing again sends only new replies
/// (and the server stores a resent one only once). A reply without its signature stops the
/// push before anything of that reply is sent.
pub async fn push(
    server: &str,
    socks: Option<&str>,
    credential: &Credential,
    replies: &Path,
) -> Result<PushReport, WorkstationError> {
    let client = Client::new(server, credential, socks)?;
    let mut report = PushReport::default();
    let mut sources: Vec<PathBuf> = fs::read_dir(replies)
        .map_err(io_at(replies))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    for dir in sources {
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !designation::is_valid(&name) {
            continue;
        }
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(io_at(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "age"))
            .collect();
        files.sort();
        for file in files {
            let sig_path = signature_path(&file);
            let signature = read_signature(&file, &sig_path)?;
            let body = fs::read(&file).map_err(io_at(&file))?;
            let resp = client
                .http
                .post(client.url(&api::path::replies(&name)))
                .header(AUTHORIZATION, client.auth.as_str())
                .header(api::SIGNATURE_HEADER, api::encode_signature(&signature))
                .body(body)
                .send()
                .await?;
            Client::check(resp).await?;
            let sent = dir.join("sent");
            fs::create_dir_all(&sent).map_err(io_at(&sent))?;
            // The reply first: a crash in between leaves a lone signature, which is not listed.
            for done in [&file, &sig_path] {
                if let Some(fname) = done.file_name() {
                    fs::rename(done, sent.join(fname)).map_err(io_at(done))?;
                }
            }
            report.sent += 1;
        }
    }
    Ok(report)
}

/// Where `review reply` put the signature of `reply`: `<reply>.minisig`.
fn signature_path(reply: &Path) -> PathBuf {
    let mut name = reply.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

/// The signature of `reply`, read whole; a missing or oversized one is a clear error.
fn read_signature(reply: &Path, path: &Path) -> Result<Vec<u8>, WorkstationError> {
    let unsigned = || WorkstationError::Unsigned(reply.to_owned());
    match fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= MAX_SIGNATURE_BYTES as u64 => {}
        Ok(_) => return Err(unsigned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unsigned()),
        Err(e) => return Err(io_at(path)(e)),
    }
    fs::read(path).map_err(io_at(path))
}
