//! `lanterne fetch`: new submissions and the team's replies from the reviewer API into a
//! bundle folder.
//!
//! `fetch` is incremental and resumable. The bundle remembers the server's cursor; each file is
//! downloaded to `NAME.part` (continuing with a Range request if a part is there), never past
//! the size the server announced, checked against the SHA-256 the server announced, then
//! renamed into place; the cursor advances only
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
//!
//! The index also lists each source's replies after the cursor (the team's, encrypted to the
//! source and the reviewers): each is downloaded with its signature, checked against the
//! SHA-256 the index announced, and written as `replies/<id>.age` and `<id>.age.minisig`
//! (signature first), both listed in `SHA256SUMS`. A reply the source deleted in between is
//! skipped. Nothing here trusts the signature: the offline machine checks it against the
//! team it pinned.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use lanterne_core::bundle::{self, safe_name, MarkerError, State, Sums};
use lanterne_core::credential::Credential;
use lanterne_core::manifest::FILE_NAME as MANIFEST;
use lanterne_core::{api, designation, durable};
use reqwest::header::{AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::{body_capped, io_at, Client, WorkstationError};

/// Most bytes read of a refused ack's answer: room for the names of thousands of submissions.
const MAX_REFUSAL_BODY: usize = 1 << 20;

/// What a fetch brought.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub(crate) submissions: usize,
    /// The sources' files downloaded (not the manifests).
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) deleted_on_server: u64,
    /// Submissions the server listed without their manifest: skipped, not acked.
    pub(crate) incomplete: usize,
    /// Deletion records the server listed that the bundle did not hold yet.
    pub(crate) deletions: Vec<api::Deletion>,
    /// The team's replies added to the bundle.
    pub(crate) replies: usize,
}

impl std::fmt::Display for FetchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} new submission(s), {} file(s), {} bytes of ciphertext",
            self.submissions, self.files, self.bytes
        )?;
        if self.replies > 0 {
            write!(f, "; {} reply(ies) of the team", self.replies)?;
        }
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

/// Appends the records of `index` that the bundle's deletions file does not hold yet (by
/// number), and lists the file in `sums`. Returns the new ones.
fn add_deletions(
    bundle: &Path,
    index: &api::Index,
    sums: &mut Sums,
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
    let path = bundle.join(bundle::DELETIONS);
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
        bundle::DELETIONS.to_owned(),
        Sha256::digest(text.as_bytes()).into(),
    );
    write_sums(bundle, sums)?;
    Ok(new)
}

/// Copies what is new on the server into `bundle`. With `ack`, asks the server to delete each
/// submission once all its files are verified in the bundle.
pub async fn fetch(
    server: &str,
    socks: Option<&str>,
    credential: &Credential,
    bundle: &Path,
    ack: bool,
) -> Result<FetchReport, WorkstationError> {
    let client = Client::new(server, credential, socks)?;
    fs::create_dir_all(bundle).map_err(io_at(bundle))?;
    let mut state = match State::read(bundle) {
        Ok(state) => state.unwrap_or_default(),
        Err(MarkerError::Read { path, source }) => {
            return Err(WorkstationError::Io { path, source })
        }
        Err(MarkerError::NotABundle(_) | MarkerError::Format(_)) => {
            return Err(WorkstationError::NotABundle(bundle.to_owned()))
        }
    };
    let index: api::Index = client.get_json(&api::path::index(state.next)).await?;

    write_atomic(
        &bundle.join(bundle::REVIEWERS),
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
        let recipient_rel = bundle::recipient_path(&source.designation);
        let recipient_path = bundle.join(&recipient_rel);
        let dir = bundle.join(bundle::submissions_path(&source.designation));
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let recipient = format!("{}\n", source.recipient);
        write_atomic(&recipient_path, recipient.as_bytes())?;
        sums.insert(recipient_rel, Sha256::digest(recipient.as_bytes()).into());
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
            let sub_dir = dir.join(&sub.id);
            fs::create_dir_all(&sub_dir).map_err(io_at(&sub_dir))?;
            let mut downloaded = 0;
            for file in &sub.files {
                let mut sha256 = [0u8; 32];
                if !safe_name(&file.name)
                    || hex::decode_to_slice(&file.sha256, &mut sha256).is_err()
                {
                    return Err(WorkstationError::Protocol(
                        "a file entry is malformed".into(),
                    ));
                }
                let rel = bundle::submission_file(&source.designation, &sub.id, &file.name);
                let path = bundle.join(&rel);
                let served = file.served.min(file.size);
                if sums.lists(&rel, &file.sha256) && path.is_file() {
                    if served >= file.size {
                        continue;
                    }
                    // Whole here, but not counted whole for this credential (fetched with
                    // another one, or the server lost its count in a crash): send the rest
                    // again from where its count stops, so that an ack of it is accepted.
                    seed_part(&path, served)?;
                }
                let url = api::path::file(&source.designation, &sub.id, &file.name);
                download(&client, &url, &path, file, served).await?;
                sums.insert(rel, sha256);
                write_sums(bundle, &sums)?;
                downloaded += 1;
                // The manifest is the submission's own record, not one of the source's files.
                if file.name != MANIFEST {
                    report.files += 1;
                }
                report.bytes += file.size;
            }
            // Every file listed is now verified in the bundle (a failed one returned above).
            if downloaded > 0 {
                report.submissions += 1;
            }
            whole.push(api::AckItem {
                designation: source.designation.clone(),
                id: sub.id.clone(),
            });
        }
        for reply in &source.replies {
            fetch_reply(
                &client,
                bundle,
                &source.designation,
                reply,
                &mut sums,
                &mut report,
            )
            .await?;
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
    write_state(bundle, &state)?;

    if ack && !state.awaiting_ack.is_empty() {
        let resp = client
            .http
            .post(client.url(api::path::ACK))
            .header(AUTHORIZATION, client.auth.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(
                serde_json::to_vec(&api::Ack {
                    submissions: state.awaiting_ack.clone(),
                })
                .map_err(WorkstationError::Json)?,
            )
            .send()
            .await?;
        if resp.status() == StatusCode::FORBIDDEN {
            let body = body_capped(resp, MAX_REFUSAL_BODY).await?;
            let refused: api::AckRefused =
                serde_json::from_slice(&body).map_err(WorkstationError::Json)?;
            // Validated like every other name from the server before any is printed or used.
            if !refused
                .refused
                .iter()
                .all(|i| designation::is_valid(&i.designation) && safe_name(&i.id))
            {
                return Err(WorkstationError::Protocol(
                    "the server refused the ack naming a malformed submission; the ack stays \
                     pending in this bundle"
                        .into(),
                ));
            }
            // Refused for good: keep the others pending, and say how to ack these.
            state
                .awaiting_ack
                .retain(|item| !refused.refused.contains(item));
            write_state(bundle, &state)?;
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
            .map_err(WorkstationError::Json)?;
        report.deleted_on_server = done.deleted;
        state.awaiting_ack.clear();
        write_state(bundle, &state)?;
    }
    Ok(report)
}

/// Brings one reply of `designation` and its signature into the bundle, unless it is there.
async fn fetch_reply(
    client: &Client,
    bundle: &Path,
    designation: &str,
    reply: &api::Reply,
    sums: &mut Sums,
    report: &mut FetchReport,
) -> Result<(), WorkstationError> {
    let mut sha256 = [0u8; 32];
    if !bundle::is_reply_id(&reply.id)
        || hex::decode_to_slice(&reply.sha256, &mut sha256).is_err()
        || reply.size > lanterne_core::limits::MAX_REPLY_CIPHERTEXT_BYTES
    {
        return Err(WorkstationError::Protocol(
            "a reply entry is malformed".into(),
        ));
    }
    let rel = bundle::reply_file(designation, &reply.id);
    let path = bundle.join(&rel);
    if sums.lists(&rel, &reply.sha256) && path.is_file() {
        return Ok(());
    }
    let resp = client
        .http
        .get(client.url(&api::path::reply(designation, &reply.id)))
        .header(AUTHORIZATION, client.auth.as_str())
        .send()
        .await?;
    if resp.status() == StatusCode::NOT_FOUND {
        // The source deleted it since the listing.
        return Ok(());
    }
    let mut resp = Client::check(resp).await?;
    let signature = match resp.headers().get(api::SIGNATURE_HEADER) {
        None => Vec::new(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(api::decode_signature)
            .ok_or_else(|| WorkstationError::Protocol("a reply's signature is malformed".into()))?,
    };
    let mut ciphertext = Vec::with_capacity(usize::try_from(reply.size).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await? {
        ciphertext.extend_from_slice(&chunk);
        if ciphertext.len() as u64 > reply.size {
            break;
        }
    }
    if Sha256::digest(&ciphertext).as_slice() != sha256 {
        return Err(WorkstationError::Protocol(format!(
            "reply {} did not match its checksum; nothing was kept, run fetch again",
            reply.id
        )));
    }
    let dir = bundle.join(bundle::replies_path(designation));
    fs::create_dir_all(&dir).map_err(io_at(&dir))?;
    // The signature first, so a reply in the bundle has its signature beside it.
    if !signature.is_empty() {
        let sig_rel = bundle::reply_signature_file(designation, &reply.id);
        write_atomic(&bundle.join(&sig_rel), &signature)?;
        sums.insert(sig_rel, Sha256::digest(&signature).into());
    }
    write_atomic(&path, &ciphertext)?;
    sums.insert(rel, sha256);
    write_sums(bundle, sums)?;
    report.replies += 1;
    Ok(())
}

fn write_state(bundle: &Path, state: &State) -> Result<(), WorkstationError> {
    state
        .write(bundle)
        .map_err(io_at(&bundle.join(bundle::MARKER)))
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
    // Never more than the announced size: a server sending more is cut off at once.
    let mut room = if append {
        file.size.saturating_sub(have)
    } else {
        file.size
    };
    while let Some(chunk) = resp.chunk().await? {
        if chunk.len() as u64 > room {
            drop(out);
            let _ = fs::remove_file(&part);
            return Err(WorkstationError::Protocol(format!(
                "{}: the server sent more than the {} bytes its index announced; the \
                 download stopped there and nothing of it was kept. Run fetch again; if this \
                 persists, tell the server's administrator",
                file.name, file.size
            )));
        }
        room -= chunk.len() as u64;
        out.write_all(&chunk).map_err(io_at(&part))?;
    }
    out.sync_all().map_err(io_at(&part))?;
    drop(out);
    let got = bundle::sha256_file(&part).map_err(io_at(&part))?;
    if hex::encode(got) != file.sha256 {
        let _ = fs::remove_file(&part);
        return Err(WorkstationError::Protocol(format!(
            "{} did not match its checksum; it was discarded, run fetch again",
            file.name
        )));
    }
    fs::rename(&part, path).map_err(io_at(path))?;
    match path.parent() {
        Some(dir) => durable::fsync_dir(dir).map_err(io_at(dir)),
        None => Ok(()),
    }
}

fn read_sums(bundle: &Path) -> Result<Sums, WorkstationError> {
    // Lines fetch did not write are dropped on the next write (a conflicting path is fetched
    // again).
    Sums::read(bundle, true)
        .map(|(sums, _)| sums)
        .map_err(io_at(&bundle.join(bundle::SUMS)))
}

fn write_sums(bundle: &Path, sums: &Sums) -> Result<(), WorkstationError> {
    sums.write(bundle)
        .map_err(io_at(&bundle.join(bundle::SUMS)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorkstationError> {
    durable::replace(path, bytes).map_err(io_at(path))
}
