//! One submission on its way in: plaintext chunks in, durable ciphertext out.
//!
//! This is the heart of the data path, independent of HTTP so it can be driven from a test or a
//! fuzzer. The web layer calls, in order: [`Ingest::begin_file`], [`Ingest::write`] for each
//! chunk, [`Ingest::end_file`]; [`Ingest::set_message`]; then [`Ingest::commit`]. Each chunk is
//! handed to a [`Sealer`], which encrypts it with age on a thread of its own and writes it to a
//! temporary file under `staging/`; at most a few chunks wait in its queue, so memory stays flat
//! whatever the size.
//!
//! Every file is padded to its size bucket ([`crate::padding`]) before its age stream ends:
//! the padding is plaintext fed to the sealer like the file's own bytes, so the stored file
//! stays one plain age file, and the manifest keeps the exact size.
//!
//! Limits are checked as bytes arrive. When one is crossed, or on any error, the caller drops
//! the `Ingest`, and the staging folder goes with every partial ciphertext in it. Only
//! [`Ingest::commit`] makes a submission durable (fsync, then atomic rename), and only after it
//! returns may the source be told "received".

mod sealer;
mod spool;

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use tempfile::NamedTempFile;
use zeroize::Zeroizing;

pub use sealer::Sealer;

use crate::config::Limits;
use crate::manifest::{self, FileEntry, Manifest};
use crate::padding;
use crate::seal::Recipients;
use crate::source_key::LookupId;
use crate::store::{random_id, Staged, Store};

/// Longest file name or type kept in the manifest, in bytes.
const MAX_FIELD_BYTES: usize = 1024;

/// Why a submission was not accepted. Each maps to a page the source can act on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the submission is larger than the {0} bytes allowed")]
    TooLarge(u64),
    #[error("a submission may hold at most {0} files")]
    TooManyFiles(usize),
    #[error("the message is longer than the {0} characters allowed")]
    MessageTooLong(usize),
    #[error("the submission is empty: add a file or a message")]
    Empty,
    #[error("the server's disk is full")]
    DiskFull,
    #[error("storage error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for IngestError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::StorageFull {
            IngestError::DiskFull
        } else {
            IngestError::Io(e)
        }
    }
}

/// What the source is told once their submission is durable.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    pub files: usize,
    /// Whether the submission carried a message (the confirmation names it).
    pub message: bool,
}

struct OpenFile {
    sealer: Sealer,
    entry: FileEntry,
}

/// A submission being received.
pub struct Ingest {
    store: Arc<Store>,
    recipients: Arc<Recipients>,
    limits: Limits,
    staged: Staged,
    open: Option<OpenFile>,
    finished: Vec<(NamedTempFile, FileEntry)>,
    message: Zeroizing<String>,
    total: u64,
}

impl Ingest {
    pub fn new(
        store: Arc<Store>,
        recipients: Arc<Recipients>,
        limits: Limits,
    ) -> Result<Ingest, IngestError> {
        let staged = store.stage()?;
        Ok(Ingest {
            store,
            recipients,
            limits,
            staged,
            open: None,
            finished: Vec::new(),
            message: Zeroizing::new(String::new()),
            total: 0,
        })
    }

    /// Starts a file, ending the previous one if it is still open.
    pub async fn begin_file(&mut self, name: &str, content_type: &str) -> Result<(), IngestError> {
        if self.finished.len() + usize::from(self.open.is_some()) >= self.limits.max_files {
            return Err(IngestError::TooManyFiles(self.limits.max_files));
        }
        self.end_file().await?;
        let stored_as = format!("{}.age", random_id());
        let sealer = Sealer::start(self.recipients.clone(), self.staged.tempfile()?)?;
        self.open = Some(OpenFile {
            sealer,
            entry: FileEntry {
                name: truncate(name),
                content_type: truncate(content_type),
                size: 0,
                stored_as,
            },
        });
        Ok(())
    }

    /// Hands the next chunk of the open file to its sealer.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), IngestError> {
        self.count(chunk.len())?;
        let Some(open) = self.open.as_mut() else {
            return Err(IngestError::Io(io::Error::other("no file is open")));
        };
        open.entry.size += chunk.len() as u64;
        open.sealer.write(chunk).await?;
        Ok(())
    }

    /// Pads the open file to its bucket and finishes its age stream (without which it would
    /// be truncated).
    pub async fn end_file(&mut self) -> Result<(), IngestError> {
        if let Some(mut open) = self.open.take() {
            pad(&mut open.sealer, open.entry.size).await?;
            let file = open.sealer.finish().await?;
            self.finished.push((file, open.entry));
        }
        Ok(())
    }

    /// Sets the message. It is only ever written encrypted, inside the manifest.
    /// Browsers send line breaks as CRLF; they are stored as LF and counted once, as the
    /// textarea's `maxlength` counts them.
    pub fn set_message(&mut self, text: Zeroizing<String>) -> Result<(), IngestError> {
        let text = if text.contains('\r') {
            Zeroizing::new(text.replace("\r\n", "\n"))
        } else {
            text
        };
        if text.chars().count() > self.limits.max_message_chars {
            return Err(IngestError::MessageTooLong(self.limits.max_message_chars));
        }
        self.count(text.len())?;
        self.message = text;
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), IngestError> {
        self.total = self.total.saturating_add(n as u64);
        if self.total > self.limits.max_submission_bytes {
            return Err(IngestError::TooLarge(self.limits.max_submission_bytes));
        }
        Ok(())
    }

    /// True when there is neither a file nor a message.
    pub fn is_empty(&self) -> bool {
        self.finished.is_empty() && self.open.is_none() && self.message.trim().is_empty()
    }

    /// Seals the manifest, makes every file durable and moves the submission into the source's
    /// folder (creating it with `recipient` on a first submission). The fsyncs and renames run
    /// on a blocking thread.
    pub async fn commit(
        mut self,
        lookup: LookupId,
        recipient: String,
    ) -> Result<Receipt, IngestError> {
        self.end_file().await?;
        if self.is_empty() {
            return Err(IngestError::Empty);
        }
        tokio::task::spawn_blocking(move || self.make_durable(&lookup, &recipient))
            .await
            .map_err(|e| IngestError::Io(io::Error::other(format!("commit failed: {e}"))))?
    }

    fn make_durable(self, lookup: &LookupId, recipient: &str) -> Result<Receipt, IngestError> {
        let Ingest {
            store,
            recipients,
            staged,
            finished,
            message,
            ..
        } = self;
        let mut manifest = Manifest {
            version: manifest::VERSION,
            received: Manifest::today(),
            message: String::new(),
            files: Vec::with_capacity(finished.len()),
        };
        manifest.message.push_str(&message);
        let has_message = !message.trim().is_empty();
        drop(message);
        let files = finished.len();
        for (file, entry) in finished {
            staged.keep(file, &entry.stored_as)?;
            manifest.files.push(entry);
        }
        let mut sealed = recipients.seal(staged.tempfile()?)?;
        sealed.write_all(&manifest.to_padded_json())?;
        staged.keep(sealed.finish()?, manifest::FILE_NAME)?;
        drop(manifest);

        store.ensure_source(lookup, recipient)?;
        store.commit_submission(staged, lookup)?;
        Ok(Receipt {
            files,
            message: has_message,
        })
    }
}

/// Padding bytes, handed to a sealer in slices of this (a zeroed static: no allocation, and
/// no bytes in the binary).
static PADDING: [u8; 1 << 20] = [padding::PAD_BYTE; 1 << 20];

/// Feeds the padding of a file of `size` bytes to its sealer, after the file's own bytes.
async fn pad(sealer: &mut Sealer, size: u64) -> io::Result<()> {
    if !pads() {
        return Ok(());
    }
    let mut left = padding::padding_len(size);
    while left > 0 {
        let n = left.min(PADDING.len() as u64) as usize;
        sealer.write(Bytes::from_static(&PADDING[..n])).await?;
        left -= n as u64;
    }
    Ok(())
}

/// Whether files are padded: always, except in a build with the `bench-unpadded` feature (the
/// ingest benchmark's baseline, never in a package), where `LANTERNE_BENCH_UNPADDED` turns it
/// off so the benchmark can time the same build both ways in one run.
fn pads() -> bool {
    #[cfg(feature = "bench-unpadded")]
    if std::env::var_os("LANTERNE_BENCH_UNPADDED").is_some() {
        return false;
    }
    true
}

fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_FIELD_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::open_small;

    fn setup(
        limits: Limits,
    ) -> (
        tempfile::TempDir,
        Arc<Store>,
        Arc<Recipients>,
        age::x25519::Identity,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/r.txt"), id.to_public().to_string()).unwrap();
        let store = Arc::new(Store::open(&dir.path().join("data")).unwrap());
        let rec = Arc::new(Recipients::load_dir(&dir.path().join("keys")).unwrap());
        let _ = limits;
        (dir, store, rec, id)
    }

    fn lookup() -> LookupId {
        LookupId::from_hex(&"cd".repeat(32)).unwrap()
    }

    #[tokio::test]
    async fn files_and_message_round_trip_through_the_manifest() {
        let (_d, store, rec, id) = setup(Limits::default());
        let mut ing = Ingest::new(store.clone(), rec, Limits::default()).unwrap();
        ing.begin_file("a.txt", "text/plain").await.unwrap();
        ing.write(Bytes::from_static(b"hello ")).await.unwrap();
        ing.write(Bytes::from_static(b"world")).await.unwrap();
        ing.begin_file("empty.bin", "application/octet-stream")
            .await
            .unwrap();
        ing.end_file().await.unwrap();
        ing.set_message(Zeroizing::new("the message".into()))
            .unwrap();
        let receipt = ing.commit(lookup(), "age1x".into()).await.unwrap();
        assert_eq!(receipt.files, 2);
        let subs = store.submissions(&lookup()).unwrap();
        let dir = store.submission_dir(&lookup(), &subs[0]).unwrap();
        let m = open_small(
            &std::fs::read(dir.join(manifest::FILE_NAME)).unwrap(),
            &id,
            1 << 20,
        )
        .unwrap();
        let m = Manifest::parse(&m).unwrap();
        assert_eq!(m.message, "the message");
        assert_eq!(m.files.len(), 2);
        assert_eq!((m.files[0].name.as_str(), m.files[0].size), ("a.txt", 11));
        // Each file is its bytes, then zeros up to its bucket; the manifest has its size.
        for (entry, want) in m.files.iter().zip([&b"hello world"[..], b""]) {
            let stored = std::fs::read(dir.join(&entry.stored_as)).unwrap();
            let body = open_small(&stored, &id, 1 << 20).unwrap();
            assert_eq!(body.len() as u64, padding::MIN_BUCKET);
            assert_eq!(&body[..entry.size as usize], want);
            assert!(body[want.len()..].iter().all(|&b| b == padding::PAD_BYTE));
        }
    }

    #[tokio::test]
    async fn limits_are_enforced_and_leave_nothing_behind() {
        let limits = Limits {
            max_submission_bytes: 10,
            max_files: 1,
            max_message_chars: 3,
        };
        let (d, store, rec, _) = setup(limits.clone());
        let mut ing = Ingest::new(store.clone(), rec.clone(), limits.clone()).unwrap();
        ing.begin_file("a", "").await.unwrap();
        assert!(matches!(
            ing.write(Bytes::from_static(&[0; 11])).await,
            Err(IngestError::TooLarge(10))
        ));
        assert!(matches!(
            ing.begin_file("b", "").await,
            Err(IngestError::TooManyFiles(1))
        ));
        drop(ing);
        let mut ing = Ingest::new(store.clone(), rec.clone(), limits.clone()).unwrap();
        assert!(matches!(
            ing.set_message(Zeroizing::new("éééé".into())),
            Err(IngestError::MessageTooLong(3))
        ));
        ing.set_message(Zeroizing::new("   ".into())).unwrap();
        assert!(matches!(
            ing.commit(lookup(), "age1x".into()).await,
            Err(IngestError::Empty)
        ));
        assert_eq!(
            std::fs::read_dir(d.path().join("data/staging"))
                .unwrap()
                .count(),
            0
        );
        assert!(store.submissions(&lookup()).unwrap().is_empty());
    }
}
