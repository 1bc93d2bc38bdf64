//! age's STREAM payload, sealed and opened on every core.
//!
//! An age file's payload is ChaCha20-Poly1305 over 64 KiB chunks, each under the nonce
//! "11-byte big-endian counter, 1-byte last-chunk flag", with a key derived (HKDF-SHA-256,
//! label `payload`) from the file key and the 16-byte nonce that follows the header. Chunks
//! are independent once their index and flag are known, so [`ParallelWriter`] and
//! [`ParallelReader`] hand them to a small shared pool of threads ([`pool`], one per core)
//! and keep them in order around it: the bytes are exactly what the age crate's own
//! `StreamWriter` writes for the same key, and what the stock `age` CLI decrypts. The age
//! crate has no such API (its stream runs on the calling thread only); the header stays
//! entirely the age crate's: [`start`] lets it build the header as usual and keeps the file
//! key it hands to the recipients.
//!
//! Memory stays flat: each writer and reader keeps at most [`DEPTH`] chunks in the pool.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

/// Plaintext bytes in one STREAM chunk.
pub const CHUNK: usize = 64 * 1024;
/// Poly1305 tag after each chunk.
const TAG: usize = 16;
/// Ciphertext bytes in one full chunk.
pub const SEALED_CHUNK: usize = CHUNK + TAG;
/// Bytes of the nonce that follows the header.
const NONCE: usize = 16;
/// Chunks one writer or reader keeps in the pool at a time (a few per core, so that every
/// core stays busy while the caller writes or reads in order).
pub const DEPTH: usize = 6;

/// The payload's cipher, keyed for one file (the key is zeroized with it).
pub struct PayloadKey(ChaCha20Poly1305);

impl PayloadKey {
    /// The payload key of a file: HKDF-SHA-256 of its file key, salted with its nonce.
    fn derive(file_key: &[u8], nonce: &[u8]) -> PayloadKey {
        let key = Zeroizing::new(age_core::primitives::hkdf(nonce, b"payload", file_key));
        PayloadKey(ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&key[..])))
    }
}

fn nonce(counter: u64, last: bool) -> chacha20poly1305::Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n.into()
}

fn seal_chunk(key: &PayloadKey, counter: u64, last: bool, buf: &mut Vec<u8>) -> io::Result<()> {
    key.0
        .encrypt_in_place(&nonce(counter, last), &[], buf)
        .map_err(|_| io::Error::other("a chunk could not be sealed"))
}

fn open_chunk(key: &PayloadKey, counter: u64, last: bool, buf: &mut Vec<u8>) -> io::Result<()> {
    key.0
        .decrypt_in_place(&nonce(counter, last), &[], buf)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "decryption error"))
}

type Job = Box<dyn FnOnce() + Send>;

/// The cipher's threads, one per core, shared by every file being sealed or opened. A plain
/// channel and `std` threads are enough: jobs are whole 64 KiB chunks (tens of microseconds
/// each), so the queue's lock is never the cost.
pub struct Pool {
    jobs: Mutex<Sender<Job>>,
}

impl Pool {
    fn start() -> Pool {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for _ in 0..threads {
            let rx = rx.clone();
            // A thread that cannot start leaves the others; with none, `run` works inline.
            let _ = std::thread::Builder::new()
                .name("lanterne-cipher".into())
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
        }
        Pool {
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `job` on a pool thread (on this one if the pool is gone).
    fn run(&self, job: Job) {
        let refused = match self.jobs.lock() {
            Ok(tx) => tx.send(job).err().map(|e| e.0),
            Err(_) => Some(job),
        };
        if let Some(job) = refused {
            job();
        }
    }
}

/// The process's one pool, started on first use.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::start)
}

/// A chunk given to the pool, and where its result will come back.
type InFlight = Receiver<io::Result<Zeroizing<Vec<u8>>>>;

fn submit(
    key: &Arc<PayloadKey>,
    counter: u64,
    last: bool,
    mut buf: Zeroizing<Vec<u8>>,
    op: fn(&PayloadKey, u64, bool, &mut Vec<u8>) -> io::Result<()>,
) -> InFlight {
    let (tx, rx): (SyncSender<_>, _) = sync_channel(1);
    let key = key.clone();
    pool().run(Box::new(move || {
        let result = op(&key, counter, last, &mut buf).map(|()| buf);
        // The writer or reader may be gone (a failed upload); nobody needs the chunk then.
        let _ = tx.send(result);
    }));
    rx
}

fn collect(chunk: InFlight) -> io::Result<Zeroizing<Vec<u8>>> {
    chunk
        .recv()
        .map_err(|_| io::Error::other("a cipher thread failed"))?
}

/// Keeps a copy of the file key the age crate hands to a recipient while building a header.
struct KeepKey<'a> {
    inner: &'a dyn age::Recipient,
    kept: &'a Mutex<Option<Zeroizing<Vec<u8>>>>,
}

impl age::Recipient for KeepKey<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        if let Ok(mut kept) = self.kept.lock() {
            kept.get_or_insert_with(|| Zeroizing::new(file_key.expose_secret().to_vec()));
        }
        self.inner.wrap_file_key(file_key)
    }
}

/// Where the age crate writes a new header, readable while its writer lives.
#[derive(Clone, Default)]
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts an age file to `recipients` with the age crate: it builds the header (stanzas,
/// grease, MAC) and the nonce exactly as it always does. Returns the age crate's own
/// `StreamWriter` (tests compare with it; the box drops it), what it wrote, and the header
/// with the payload key derived from the file key the recipients were handed.
fn start<'a>(
    recipients: impl Iterator<Item = &'a dyn age::Recipient>,
) -> io::Result<(age::stream::StreamWriter<SharedBuf>, SharedBuf, Header)> {
    let kept = Mutex::new(None);
    let wrapped: Vec<KeepKey> = recipients
        .map(|inner| KeepKey { inner, kept: &kept })
        .collect();
    let encryptor =
        age::Encryptor::with_recipients(wrapped.iter().map(|r| r as &dyn age::Recipient))
            .map_err(io::Error::other)?;
    let written = SharedBuf::default();
    let writer = encryptor.wrap_output(written.clone())?;
    drop(wrapped);
    let file_key = kept
        .into_inner()
        .ok()
        .flatten()
        .ok_or_else(|| io::Error::other("the age header was built without a file key"))?;
    let bytes = written.0.borrow().clone();
    let at = bytes
        .len()
        .checked_sub(NONCE)
        .ok_or_else(|| io::Error::other("the age header has no nonce"))?;
    let key = PayloadKey::derive(&file_key, &bytes[at..]);
    Ok((writer, written, Header { bytes, key }))
}

/// Starts an age file to `recipients` (see [`start`]): its header and nonce, to be written
/// first, and the key to seal its payload with [`Header::seal`].
pub fn begin<'a>(recipients: impl Iterator<Item = &'a dyn age::Recipient>) -> io::Result<Header> {
    let (_age_writer, _, header) = start(recipients)?;
    Ok(header)
}

/// A new file's header and nonce, and its payload key.
pub struct Header {
    /// The header and nonce, as the age crate wrote them: the file's first bytes.
    pub bytes: Vec<u8>,
    key: PayloadKey,
}

impl Header {
    /// Writes the header to `out`, then a parallel sealer of the payload into it.
    pub fn seal<W: Write>(self, mut out: W) -> io::Result<ParallelWriter<W>> {
        out.write_all(&self.bytes)?;
        Ok(ParallelWriter::new(Arc::new(self.key), out))
    }
}

/// Writes an age payload, its chunks sealed on the [`pool`], in order, to `inner`.
///
/// Like the age crate's `StreamWriter`, a full chunk is sealed only once more data follows,
/// and [`ParallelWriter::finish`] seals the last one (empty for an empty file). Without
/// `finish`, the file is truncated.
pub struct ParallelWriter<W: Write> {
    inner: W,
    key: Arc<PayloadKey>,
    chunk: Zeroizing<Vec<u8>>,
    counter: u64,
    in_flight: VecDeque<InFlight>,
}

fn chunk_buffer() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Vec::with_capacity(SEALED_CHUNK))
}

impl<W: Write> ParallelWriter<W> {
    fn new(key: Arc<PayloadKey>, inner: W) -> ParallelWriter<W> {
        ParallelWriter {
            inner,
            key,
            chunk: chunk_buffer(),
            counter: 0,
            in_flight: VecDeque::with_capacity(DEPTH),
        }
    }

    /// Hands the current chunk to the pool, first writing the oldest sealed chunk if
    /// [`DEPTH`] are in flight.
    fn send_chunk(&mut self, last: bool) -> io::Result<()> {
        if self.in_flight.len() >= DEPTH {
            self.write_oldest()?;
        }
        let chunk = std::mem::replace(&mut self.chunk, chunk_buffer());
        let counter = self.counter;
        self.counter = counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("the file has too many chunks"))?;
        self.in_flight
            .push_back(submit(&self.key, counter, last, chunk, seal_chunk));
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(oldest) = self.in_flight.pop_front() {
            let sealed = collect(oldest)?;
            self.inner.write_all(&sealed)?;
        }
        Ok(())
    }

    fn write_all_sealed(&mut self) -> io::Result<()> {
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Seals the last chunk, writes every sealed chunk and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.send_chunk(true)?;
        self.write_all_sealed()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        while !buf.is_empty() {
            if self.chunk.len() == CHUNK {
                self.send_chunk(false)?;
            }
            let n = (CHUNK - self.chunk.len()).min(buf.len());
            self.chunk.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
        }
        Ok(len)
    }

    /// Writes every chunk sealed so far (the partial chunk waits for more data), then
    /// flushes the writer.
    fn flush(&mut self) -> io::Result<()> {
        self.write_all_sealed()?;
        self.inner.flush()
    }
}

/// Keeps a copy of the file key an identity unwraps (the age crate then checks the header's
/// MAC with it before it returns).
struct KeepFileKey<'a> {
    inner: &'a dyn age::Identity,
    kept: &'a Mutex<Option<Zeroizing<Vec<u8>>>>,
}

impl KeepFileKey<'_> {
    fn keep(
        &self,
        unwrapped: Option<Result<FileKey, age::DecryptError>>,
    ) -> Option<Result<FileKey, age::DecryptError>> {
        if let (Some(Ok(file_key)), Ok(mut kept)) = (&unwrapped, self.kept.lock()) {
            kept.get_or_insert_with(|| Zeroizing::new(file_key.expose_secret().to_vec()));
        }
        unwrapped
    }
}

impl age::Identity for KeepFileKey<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.keep(self.inner.unwrap_stanza(stanza))
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        self.keep(self.inner.unwrap_stanzas(stanzas))
    }
}

/// Length of the header and nonce that `prefix` starts with, if they are all in it: the
/// header ends with the first line that starts `--- ` (its MAC line).
fn header_and_nonce_len(prefix: &[u8]) -> Option<usize> {
    let mac_line = memchr::memmem::find(prefix, b"\n--- ")? + 1;
    let end = mac_line + memchr::memchr(b'\n', &prefix[mac_line..])? + 1;
    (prefix.len() >= end + NONCE).then_some(end + NONCE)
}

/// Starts decrypting `input` on the pool if its whole header and nonce are in `input`'s
/// buffer (if not, `input` comes back: the caller then uses the age crate's own reader). The age
/// crate parses that header, finds the identity and checks the MAC, exactly as for a
/// sequential read; the payload then goes through a [`ParallelReader`].
pub fn open<'a, R: io::BufRead>(
    mut input: R,
    identities: impl Iterator<Item = &'a dyn age::Identity>,
) -> Result<Result<ParallelReader<R>, R>, age::DecryptError> {
    let prefix = input.fill_buf()?;
    let Some(len) = header_and_nonce_len(prefix) else {
        return Ok(Err(input));
    };
    let kept = Mutex::new(None);
    let wrapped: Vec<KeepFileKey> = identities
        .map(|inner| KeepFileKey { inner, kept: &kept })
        .collect();
    let decryptor = age::Decryptor::new_buffered(&prefix[..len])?;
    drop(decryptor.decrypt(wrapped.iter().map(|i| i as &dyn age::Identity))?);
    drop(wrapped);
    let file_key = kept
        .into_inner()
        .ok()
        .flatten()
        .ok_or(age::DecryptError::NoMatchingKeys)?;
    let key = PayloadKey::derive(&file_key, &prefix[len - NONCE..len]);
    input.consume(len);
    Ok(Ok(ParallelReader {
        input,
        key: Arc::new(key),
        counter: 0,
        held: None,
        in_flight: VecDeque::with_capacity(DEPTH),
        input_done: false,
        current: Zeroizing::new(Vec::new()),
        pos: 0,
        failed: false,
    }))
}

/// Reads an age payload, its chunks opened on the [`pool`] a few ahead of the caller.
///
/// The checks are the age crate's: every chunk authenticated under its index; the final chunk
/// (known when the input ends) must carry the last-chunk flag, so a cut file fails; an empty
/// last chunk after others and an empty payload are refused. Plaintext is released in order,
/// and only once authenticated; a file that fails later has released its earlier chunks
/// (decrypt to a temporary file, as with the age crate).
pub struct ParallelReader<R> {
    input: R,
    key: Arc<PayloadKey>,
    counter: u64,
    /// A full chunk read, not yet handed over: it is the last one if the input ends here.
    held: Option<Zeroizing<Vec<u8>>>,
    in_flight: VecDeque<InFlight>,
    input_done: bool,
    current: Zeroizing<Vec<u8>>,
    pos: usize,
    failed: bool,
}

impl<R: Read> ParallelReader<R> {
    fn read_sealed(&mut self) -> io::Result<Zeroizing<Vec<u8>>> {
        let mut buf = chunk_buffer();
        self.input
            .by_ref()
            .take(SEALED_CHUNK as u64)
            .read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn send(&mut self, buf: Zeroizing<Vec<u8>>, last: bool) -> io::Result<()> {
        if last && self.counter > 0 && buf.len() == TAG {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the age file's last chunk is empty",
            ));
        }
        let counter = self.counter;
        self.counter += 1;
        self.in_flight
            .push_back(submit(&self.key, counter, last, buf, open_chunk));
        if last {
            self.input_done = true;
        }
        Ok(())
    }

    /// Reads chunks ahead until [`DEPTH`] are in the pool or the input ends.
    fn fill(&mut self) -> io::Result<()> {
        while !self.input_done && self.in_flight.len() < DEPTH {
            let buf = self.read_sealed()?;
            let full = buf.len() == SEALED_CHUNK;
            match (self.held.take(), buf.is_empty()) {
                (None, true) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "age file is truncated",
                    ))
                }
                (Some(held), true) => self.send(held, true)?,
                (held, false) => {
                    if let Some(held) = held {
                        self.send(held, false)?;
                    }
                    if full {
                        self.held = Some(buf);
                    } else {
                        self.send(buf, true)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn next_chunk(&mut self) -> io::Result<bool> {
        self.fill()?;
        match self.in_flight.pop_front() {
            Some(chunk) => {
                self.current = collect(chunk)?;
                self.pos = 0;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl<R: Read> Read for ParallelReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the age file failed to decrypt",
            ));
        }
        while self.pos == self.current.len() {
            match self.next_chunk() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
