//! `lanterne fetch`: new submissions from the reviewer API into a bundle folder.
//!
//! `fetch` is incremental and resumable. The bundle remembers the server's cursor; each file is
//! downloaded to `NAME.part` (continuing with a Range request if a part is there), checked
//! against the SHA-256 the server announced, then renamed into place; the cursor advances only
//! after every file of the listing is in. An interrupted fetch simply runs again.
//!
//! A submission counts as fetched only when it arrived whole: listed with its `manifest.age`,
//! and every file listed verified in the bundle. One listed without its manifest (or with no
//! files) is skipped, never acked, and the cursor stays below it so the next fetch asks again.
//! With `--ack`, what arrived whole is written to the bundle as awaiting an ack *before* the ack
//! is sent, and cleared once the server answered: a fetch killed in between loses nothing, and
//! the next `fetch --ack` sends the ack that was cut off.
//!
//! The server accepts an ack only for what this credential was served in full (issue 12); it
//! refuses the whole ack otherwise (403), and `fetch` then drops the refused submissions from
//! the pending ack (they stay on the server) and says how to ack them. The deletion records the
//! index carries (who deleted what, refused acks) are printed and appended to the bundle's
//! `deletions.txt`, which `SHA256SUMS` lists, so the offline machine sees them too.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use lanterne_core::credential::Credential;
use lanterne_core::manifest::FILE_NAME as MANIFEST;
use lanterne_core::{api, designation, durable};
use reqwest::header::{AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{io_at, Client, WorkstationError};

/// `lanterne-bundle.json`.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BundleState {
    format: u32,
    /// The server's cursor: every submission up to it is in the bundle.
    #[serde(default)]
    next: u64,
    /// Submissions fetched whole by a `fetch --ack` whose ack the server has not confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    awaiting_ack: Vec<api::AckItem>,
}

/// What a fetch brought.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub submissions: usize,
    pub files: usize,
    pub bytes: u64,
    pub deleted_on_server: u64,
    /// Submissions the server listed without their manifest: skipped, not acked.
    pub incomplete: usize,
    /// Deletion records the server listed that the bundle did not hold yet.
    pub deletions: Vec<api::Deletion>,
}

impl std::fmt::Display for FetchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} new submission(s), {} file(s), {} bytes of ciphertext",
            self.submissions, self.files, self.bytes
        )?;
        if self.deleted_on_server > 0 {
            write!(f, "; {} deleted on the server", self.deleted_on_server)?;
        }
        if self.incomplete > 0 {
            write!(
                f,
                "; {} submission(s) listed without their manifest were skipped and not acked \
                 (the next fetch asks for them again; if this persists, tell the server's \
                 administrator)",
                self.incomplete
            )?;
        }
        for d in &self.deletions {
            write!(f, "\n{}", d.describe())?;
        }
        Ok(())
    }
}

/// The bundle's record of the server's deletions.
const DELETIONS: &str = "deletions.txt";

/// Appends the records of `index` that `bundle/deletions.txt` does not hold yet (by number),
/// and lists the file in `sums`. Returns the new ones.
fn add_deletions(
    bundle: &Path,
    index: &api::Index,
    sums: &mut BTreeMap<String, String>,
) -> Result<Vec<api::Deletion>, WorkstationError> {
    if index.deletions.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(bad) = index.deletions.iter().find(|d| !d.is_well_formed()) {
        return Err(WorkstationError::Protocol(format!(
            "a deletion record is malformed (number {})",
            bad.seq
        )));
    }
    let path = bundle.join(DELETIONS);
    let mut text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_at(&path)(e)),
    };
    let known: std::collections::HashSet<u64> = text
        .lines()
        .filter_map(api::Deletion::parse_line)
        .map(|d| d.seq)
        .collect();
    let new: Vec<api::Deletion> = index
        .deletions
        .iter()
        .filter(|d| !known.contains(&d.seq))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(new);
    }
    for d in &new {
        text.push_str(&d.to_line());
        text.push('\n');
    }
    write_atomic(&path, text.as_bytes())?;
    sums.insert(
        DELETIONS.to_owned(),
        hex::encode(Sha256::digest(text.as_bytes())),
    );
    write_sums(bundle, sums)?;
    Ok(new)
}

/// Copies what is new on the server into `bundle`. With `ack`, asks the server to delete each
/// submission once all its files are verified in the bundle.
pub async fn fetch(
    server: &str,
    credential: &Credential,
    bundle: &Path,
    ack: bool,
) -> Result<FetchReport, WorkstationError> {
    let client = Client::new(server, credential)?;
    fs::create_dir_all(bundle).map_err(io_at(bundle))?;
    let state_path = bundle.join("lanterne-bundle.json");
    let mut state = match fs::read(&state_path) {
        Ok(b) => serde_json::from_slice::<BundleState>(&b)
            .ok()
            .filter(|s| s.format == 1)
            .ok_or_else(|| WorkstationError::NotABundle(bundle.to_owned()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => BundleState {
            format: 1,
            ..BundleState::default()
        },
        Err(e) => return Err(io_at(&state_path)(e)),
    };
    let index: api::Index = client
        .get_json(&format!("/api/v1/index?after={}", state.next))
        .await?;

    write_atomic(
        &bundle.join("reviewers.txt"),
        index.reviewers.join("\n").as_bytes(),
    )?;
    let mut sums = read_sums(bundle)?;
    let mut report = FetchReport {
        deletions: add_deletions(bundle, &index, &mut sums)?,
        ..FetchReport::default()
    };
    let mut whole = Vec::new();
    // The cursor may not pass a submission that did not arrive whole.
    let mut next = index.next;
    for source in &index.sources {
        if !designation::is_valid(&source.designation) || !source.recipient.starts_with("age1") {
            return Err(WorkstationError::Protocol(
                "a source entry is malformed".into(),
            ));
        }
        let dir = bundle.join("sources").join(&source.designation);
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let recipient = format!("{}\n", source.recipient);
        write_atomic(&dir.join("recipient"), recipient.as_bytes())?;
        sums.insert(
            format!("sources/{}/recipient", source.designation),
            hex::encode(Sha256::digest(recipient.as_bytes())),
        );
        write_sums(bundle, &sums)?;
        for sub in &source.submissions {
            if !safe_name(&sub.id) {
                return Err(WorkstationError::Protocol(
                    "a submission id is malformed".into(),
                ));
            }
            if !sub.files.iter().any(|f| f.name == MANIFEST) {
                report.incomplete += 1;
                next = next.min(sub.seq.saturating_sub(1));
                continue;
            }
            let sub_dir = dir.join("submissions").join(&sub.id);
            fs::create_dir_all(&sub_dir).map_err(io_at(&sub_dir))?;
            let mut downloaded = 0;
            for file in &sub.files {
                if !safe_name(&file.name) || file.sha256.len() != 64 {
                    return Err(WorkstationError::Protocol(
                        "a file entry is malformed".into(),
                    ));
                }
                let rel = format!(
                    "sources/{}/submissions/{}/{}",
                    source.designation, sub.id, file.name
                );
                let path = bundle.join(&rel);
                let served = file.served.min(file.size);
                if sums.get(&rel) == Some(&file.sha256) && path.is_file() {
                    if served >= file.size {
                        continue;
                    }
                    // Whole here, but not counted whole for this credential (fetched with
                    // another one, or the server lost its count in a crash): send the rest
                    // again from where its count stops, so that an ack of it is accepted.
                    seed_part(&path, served)?;
                }
                let url = format!(
                    "/api/v1/sources/{}/submissions/{}/{}",
                    source.designation, sub.id, file.name
                );
                download(&client, &url, &path, file, served).await?;
                sums.insert(rel, file.sha256.clone());
                write_sums(bundle, &sums)?;
                downloaded += 1;
                report.bytes += file.size;
            }
            // Every file listed is now verified in the bundle (a failed one returned above).
            if downloaded > 0 {
                report.submissions += 1;
                report.files += downloaded;
            }
            whole.push(api::AckItem {
                designation: source.designation.clone(),
                id: sub.id.clone(),
            });
        }
    }
    state.next = state.next.max(next);
    if ack {
        for item in whole {
            if !state.awaiting_ack.contains(&item) {
                state.awaiting_ack.push(item);
            }
        }
    }
    // Durable before the ack is sent: a fetch killed from here on is acked by the next one.
    write_state(&state_path, &state)?;

    if ack && !state.awaiting_ack.is_empty() {
        let resp = client
            .http
            .post(client.url("/api/v1/ack"))
            .header(AUTHORIZATION, client.auth.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(
                serde_json::to_vec(&api::Ack {
                    submissions: state.awaiting_ack.clone(),
                })
                .map_err(|e| WorkstationError::Protocol(e.to_string()))?,
            )
            .send()
            .await?;
        if resp.status() == StatusCode::FORBIDDEN {
            let refused: api::AckRefused = serde_json::from_slice(&resp.bytes().await?)
                .map_err(|e| WorkstationError::Protocol(e.to_string()))?;
            // Refused for good: keep the others pending, and say how to ack these.
            state
                .awaiting_ack
                .retain(|item| !refused.refused.contains(item));
            write_state(&state_path, &state)?;
            return Err(WorkstationError::AckRefused {
                report: report.to_string(),
                refused: refused
                    .refused
                    .iter()
                    .map(|i| format!("{} / {}", i.designation, i.id))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let done: api::AckDone = serde_json::from_slice(&Client::check(resp).await?.bytes().await?)
            .map_err(|e| WorkstationError::Protocol(e.to_string()))?;
        report.deleted_on_server = done.deleted;
        state.awaiting_ack.clear();
        write_state(&state_path, &state)?;
    }
    Ok(report)
}

fn write_state(path: &Path, state: &BundleState) -> Result<(), WorkstationError> {
    let bytes =
        serde_json::to_vec_pretty(state).map_err(|e| WorkstationError::Protocol(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// `path.part` holding the first `len` bytes of the whole file at `path`.
fn seed_part(path: &Path, len: u64) -> Result<(), WorkstationError> {
    let part = path.with_extension("age.part");
    let mut out = fs::File::create(&part).map_err(io_at(&part))?;
    io::copy(
        &mut io::Read::take(fs::File::open(path).map_err(io_at(path))?, len),
        &mut out,
    )
    .map_err(io_at(&part))?;
    Ok(())
}

/// Downloads one file to `path` through `path.part`, resuming a partial download (from no
/// further than the `served` bytes the server counted for this credential, so the server sees
/// every byte go), and keeps it only if its SHA-256 matches.
async fn download(
    client: &Client,
    url: &str,
    path: &Path,
    file: &api::File,
    served: u64,
) -> Result<(), WorkstationError> {
    let part = path.with_extension("age.part");
    let mut have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if have > served {
        // What the server did not count is asked for again.
        fs::OpenOptions::new()
            .write(true)
            .open(&part)
            .and_then(|f| f.set_len(served))
            .map_err(io_at(&part))?;
        have = served;
    }
    let mut req = client
        .http
        .get(client.url(url))
        .header(AUTHORIZATION, client.auth.as_str());
    if have > 0 && have < file.size {
        req = req.header(RANGE, format!("bytes={have}-"));
    }
    let mut resp = Client::check(req.send().await?).await?;
    let append = resp.status() == StatusCode::PARTIAL_CONTENT;
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&part)
        .map_err(io_at(&part))?;
    while let Some(chunk) = resp.chunk().await? {
        out.write_all(&chunk).map_err(io_at(&part))?;
    }
    out.sync_all().map_err(io_at(&part))?;
    drop(out);
    let mut hasher = Sha256::new();
    io::copy(
        &mut fs::File::open(&part).map_err(io_at(&part))?,
        &mut hasher,
    )
    .map_err(io_at(&part))?;
    if hex::encode(hasher.finalize()) != file.sha256 {
        let _ = fs::remove_file(&part);
        return Err(WorkstationError::Protocol(format!(
            "{} did not match its checksum; it was discarded, run fetch again",
            file.name
        )));
    }
    fs::rename(&part, path).map_err(io_at(path))
}

/// Ids and file names the server gives must be plain names before they become paths.
fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn read_sums(bundle: &Path) -> Result<BTreeMap<String, String>, WorkstationError> {
    let path = bundle.join("SHA256SUMS");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_at(&path)(e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, p)| (p.to_owned(), h.to_owned()))
        .collect())
}

fn write_sums(bundle: &Path, sums: &BTreeMap<String, String>) -> Result<(), WorkstationError> {
    let text: String = sums.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    write_atomic(&bundle.join("SHA256SUMS"), text.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorkstationError> {
    durable::replace(path, bytes).map_err(io_at(path))
}
