//! `lanterne push`: replies written (and signed) on the offline machine, up to the server.

use std::fs;
use std::path::{Path, PathBuf};

use lanterne_core::credential::Credential;
use lanterne_core::{api, designation};
use reqwest::header::AUTHORIZATION;

use crate::{io_at, Client, WorkstationError};

/// What a push sent.
#[derive(Debug, Default)]
pub struct PushReport {
    pub sent: usize,
}

/// Uploads every `REPLIES_DIR/<designation>/*.age`; each one sent is moved into `sent/` beside
/// it, so pushing again sends only new replies (and the server stores a resent one only once).
pub async fn push(
    server: &str,
    credential: &Credential,
    replies: &Path,
) -> Result<PushReport, WorkstationError> {
    let client = Client::new(server, credential)?;
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
            let body = fs::read(&file).map_err(io_at(&file))?;
            let resp = client
                .http
                .post(client.url(&api::path::replies(&name)))
                .header(AUTHORIZATION, client.auth.as_str())
                .body(body)
                .send()
                .await?;
            Client::check(resp).await?;
            let sent = dir.join("sent");
            fs::create_dir_all(&sent).map_err(io_at(&sent))?;
            if let Some(fname) = file.file_name() {
                fs::rename(&file, sent.join(fname)).map_err(io_at(&file))?;
            }
            report.sent += 1;
        }
    }
    Ok(report)
}
