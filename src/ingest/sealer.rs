//! One file sealed on its own thread: plaintext chunks in through a bounded queue, age
//! ciphertext out to a staging tempfile.
//!
//! Why a thread: reading the request (socket copies, multipart parsing) and sealing it
//! (ChaCha20-Poly1305, page-cache copies) cost about the same. Done in turn on one runtime task
//! they leave the second core idle, and they put blocking file writes on the async runtime.
//! Here the runtime task only parses and hands over `Bytes` (no copy); a thread of its own
//! encrypts and writes, and a fast upload also gets a writing thread (see `Pipe` below). Every
//! queue is bounded, so a fast client cannot make the server buffer:
//! when the disk or the cipher lags, the socket stops being read and TCP pushes back.
//!
//! The file side (early writeback, direct writes for fast uploads) is in [`super::spool`].

use std::io::{self, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

use age::stream::StreamWriter;
use bytes::Bytes;
use tempfile::NamedTempFile;
use tokio::sync::{mpsc, oneshot};

use super::spool::{AlignedBuf, Spool, ALIGN, BATCH};
use crate::seal::Recipients;

/// Chunks waiting for the sealing thread. A chunk is what one read of the request gave
/// (at most hyper's read buffer, about 400 KiB), so this bounds the plaintext queued per upload.
const QUEUE: usize = 8;

enum Msg {
    Chunk(Bytes),
    /// The file is whole: finish the age stream. Without it, the sender was dropped because
    /// the upload failed, and the thread stops without finishing anything.
    End,
}

/// A file being encrypted and written on a thread of its own. A plain thread, not one from
/// tokio's blocking pool: a slow upload over Tor can hold it for hours, and the pool's size
/// should not have to follow the number of connections.
pub struct Sealer {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<io::Result<NamedTempFile>>,
}

impl Sealer {
    /// Starts sealing into `file` for `recipients`.
    pub fn start(recipients: Arc<Recipients>, file: NamedTempFile) -> io::Result<Sealer> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (report, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("lanterne-seal".into())
            .spawn(move || {
                // The upload may have gone already; then nobody needs the result.
                let _ = report.send(seal_all(&recipients, file, rx));
            })?;
        Ok(Sealer { tx, done })
    }

    /// Queues the next chunk, waiting while the queue is full.
    pub async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        if self.tx.send(Msg::Chunk(chunk)).await.is_ok() {
            return Ok(());
        }
        // The thread stopped early; its result says why.
        match (&mut self.done).await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(_)) => Err(io::Error::other("the sealing thread ended early")),
            Err(_) => Err(io::Error::other("the sealing thread failed")),
        }
    }

    /// Finishes the age stream and returns the ciphertext file, written but not yet fsynced.
    pub async fn finish(self) -> io::Result<NamedTempFile> {
        // If the thread already stopped, the send fails and its result says why.
        let _ = self.tx.send(Msg::End).await;
        drop(self.tx);
        self.done
            .await
            .map_err(|_| io::Error::other("the sealing thread failed"))?
    }
}

/// The sealing thread: every chunk into age, until `End` (finish) or a dropped sender (stop).
fn seal_all(
    recipients: &Recipients,
    file: NamedTempFile,
    mut rx: mpsc::Receiver<Msg>,
) -> io::Result<NamedTempFile> {
    let mut writer: StreamWriter<Pipe> = recipients.seal(Pipe::new(file))?;
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => Some(msg),
            // Nothing waiting: hand what is sealed so far to the writer before sleeping, so a
            // slow upload never holds a batch back.
            Err(mpsc::error::TryRecvError::Empty) => {
                writer.flush()?;
                rx.blocking_recv()
            }
            Err(mpsc::error::TryRecvError::Disconnected) => None,
        };
        match msg {
            Some(Msg::Chunk(chunk)) => writer.write_all(&chunk)?,
            Some(Msg::End) => return writer.finish()?.finish(),
            None => return Err(io::Error::new(io::ErrorKind::Interrupted, "upload stopped")),
        }
    }
}

/// Age chunks sealed in a row without waiting for input, after which an upload counts as fast
/// and its writing moves to a thread of its own (4 MiB).
const FAST_STREAK: usize = 64;

/// Batches waiting for the writing thread.
const BATCHES: usize = 2;

/// Where the sealing thread writes.
///
/// A file starts written in place, by the sealing thread: a slow upload (most of them, over
/// Tor) needs no more. Once an upload proves fast, writing moves to a writing thread, so that
/// it runs beside the encryption rather than after it, and uses direct writes where it can
/// (see `spool`). The sealing thread calls `flush` whenever it has to wait
/// for input, which is how a slow upload is told from a fast one.
enum Pipe {
    InPlace { spool: Option<Spool>, streak: usize },
    Threaded(Writer),
}

impl Pipe {
    fn new(file: NamedTempFile) -> Pipe {
        Pipe::InPlace {
            spool: Some(Spool::new(file)),
            streak: 0,
        }
    }

    /// Returns the file once every byte is written.
    fn finish(self) -> io::Result<NamedTempFile> {
        match self {
            Pipe::InPlace { spool, .. } => spool.ok_or_else(gone)?.finish(),
            Pipe::Threaded(writer) => writer.finish(),
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the ciphertext file was lost after an earlier error")
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Pipe::Threaded(writer) => writer.write(buf),
            Pipe::InPlace { spool, streak } => {
                let Some(mut current) = spool.take() else {
                    return Err(gone());
                };
                current.write_all(buf)?;
                *streak += 1;
                if *streak < FAST_STREAK {
                    *spool = Some(current);
                } else {
                    *self = Pipe::Threaded(Writer::start(current)?);
                }
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            // A fast upload's batches go out full, so that they stay aligned for direct writes.
            Pipe::Threaded(_) => Ok(()),
            Pipe::InPlace { streak, .. } => {
                *streak = 0;
                Ok(())
            }
        }
    }
}

/// A writing thread and the batch being gathered for it.
///
/// Batches are [`AlignedBuf`]s, filled here straight from age's output (the one copy that
/// age's borrowed chunks require), and cut so that each ends at an aligned file offset: every
/// batch after the first can then go to the disk by a direct write, with no copy on the
/// writing thread.
struct Writer {
    batch: AlignedBuf,
    /// File offset where `batch` starts.
    offset: u64,
    tx: Option<std::sync::mpsc::SyncSender<AlignedBuf>>,
    /// Written batches coming back to be filled again: fewer allocations, and the memory
    /// they use stays in cache.
    spare: std::sync::mpsc::Receiver<AlignedBuf>,
    thread: Option<JoinHandle<io::Result<NamedTempFile>>>,
}

impl Writer {
    fn start(spool: Spool) -> io::Result<Writer> {
        let offset = spool.written();
        let (tx, rx) = std::sync::mpsc::sync_channel::<AlignedBuf>(BATCHES);
        let (give_back, spare) = std::sync::mpsc::sync_channel::<AlignedBuf>(BATCHES);
        let thread = std::thread::Builder::new()
            .name("lanterne-write".into())
            .spawn(move || {
                let mut out = spool.into_fast();
                for mut batch in rx {
                    out.write(&batch)?;
                    batch.clear();
                    // When enough are spare already, this one is freed instead.
                    let _ = give_back.try_send(batch);
                }
                out.finish()
            })?;
        Ok(Writer {
            batch: AlignedBuf::new(),
            offset,
            tx: Some(tx),
            spare,
            thread: Some(thread),
        })
    }

    /// How many bytes the current batch takes in all: enough to end at an aligned offset.
    fn batch_len(&self) -> usize {
        BATCH - (self.offset % ALIGN as u64) as usize
    }

    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        while !buf.is_empty() {
            let room = self.batch_len() - self.batch.len();
            let n = self.batch.push(&buf[..room.min(buf.len())]);
            buf = &buf[n..];
            if self.batch.len() == self.batch_len() {
                self.send()?;
            }
        }
        Ok(len)
    }

    /// Sends the batch gathered so far, if any.
    fn send(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| AlignedBuf::new());
        let batch = std::mem::replace(&mut self.batch, next);
        self.offset += batch.len() as u64;
        match self.tx.as_ref().map(|tx| tx.send(batch)) {
            Some(Ok(())) => Ok(()),
            // The writing thread stopped: its result says why.
            _ => Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the writing thread ended early"))),
        }
    }

    /// Waits for the writing thread to end, which it does once the sender is gone.
    fn join(&mut self) -> io::Result<NamedTempFile> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("the writing thread panicked"))?,
            None => Err(gone()),
        }
    }

    /// Sends the last batch and returns the file once every byte is written.
    fn finish(mut self) -> io::Result<NamedTempFile> {
        self.send()?;
        self.join()
    }
}

impl Drop for Writer {
    /// On a stopped upload, waits for the writing thread so that its tempfile is gone by the
    /// time the sealing thread returns.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::spool::WRITEBACK_BYTES;
    use super::*;

    fn recipients() -> (tempfile::TempDir, Arc<Recipients>, age::x25519::Identity) {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        std::fs::write(dir.path().join("r.txt"), id.to_public().to_string()).unwrap();
        let r = Arc::new(Recipients::load_dir(dir.path()).unwrap());
        (dir, r, id)
    }

    #[tokio::test]
    async fn a_large_file_round_trips_across_several_writebacks() {
        let (dir, rec, id) = recipients();
        let mut sealer = Sealer::start(rec, NamedTempFile::new_in(dir.path()).unwrap()).unwrap();
        let block: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let block = Bytes::from(block);
        let rounds = 3 * WRITEBACK_BYTES / block.len() as u64 + 1;
        for _ in 0..rounds {
            sealer.write(block.clone()).await.unwrap();
        }
        let file = sealer.finish().await.unwrap();
        let sealed = std::fs::read(file.path()).unwrap();
        let plain = crate::seal::open_small(&sealed, &id, 1 << 30).unwrap();
        assert_eq!(plain.len() as u64, rounds * block.len() as u64);
        assert!(plain.chunks(block.len()).all(|c| c == &block[..]));
    }

    #[test]
    fn a_fast_stream_moves_to_a_writing_thread_and_a_slow_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let piece: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        let expected = piece.repeat(2 * FAST_STREAK);
        for fast in [false, true] {
            let mut pipe = Pipe::new(NamedTempFile::new_in(dir.path()).unwrap());
            for _ in 0..2 * FAST_STREAK {
                pipe.write_all(&piece).unwrap();
                if !fast {
                    pipe.flush().unwrap();
                }
            }
            assert_eq!(matches!(pipe, Pipe::Threaded(_)), fast);
            let file = pipe.finish().unwrap();
            assert!(std::fs::read(file.path()).unwrap() == expected);
        }
    }

    #[test]
    fn a_full_disk_reaches_the_sealer_from_either_writer() {
        let dir = tempfile::tempdir().unwrap();
        for fast in [false, true] {
            // /dev/full answers every write with ENOSPC.
            let (_, path) = NamedTempFile::new_in(dir.path()).unwrap().into_parts();
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let spool = Spool::new(NamedTempFile::from_parts(full, path));
            let mut pipe = if fast {
                Pipe::Threaded(Writer::start(spool).unwrap())
            } else {
                Pipe::InPlace {
                    spool: Some(spool),
                    streak: 0,
                }
            };
            let mut result = Ok(());
            for _ in 0..4 * FAST_STREAK {
                result =
                    pipe.write_all(&[7; 70_000]).and_then(
                        |()| {
                            if fast {
                                Ok(())
                            } else {
                                pipe.flush()
                            }
                        },
                    );
                if result.is_err() {
                    break;
                }
            }
            let err = result.and_then(|()| pipe.finish().map(drop)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::StorageFull, "fast: {fast}");
        }
    }

    #[tokio::test]
    async fn a_dropped_sealer_finishes_nothing() {
        let (dir, rec, _) = recipients();
        let file = NamedTempFile::new_in(dir.path()).unwrap();
        let mut sealer = Sealer::start(rec, file).unwrap();
        sealer.write(Bytes::from_static(b"partial")).await.unwrap();
        let Sealer { tx, done } = sealer;
        drop(tx);
        let err = done.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        // Only the recipients file is left: the tempfile went with the thread's error.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
