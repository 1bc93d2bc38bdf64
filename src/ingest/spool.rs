//! The ciphertext file of one upload, written so that the commit's fsync has little left to do.
//!
//! [`Spool`] is the plain way: buffered writes, plus early writeback. Linux keeps written pages
//! dirty in memory until the final fsync, so a large file would reach the disk only after its
//! last byte, in one long wait. Every [`WRITEBACK_BYTES`], a short-lived helper thread
//! fdatasyncs what is written so far; the disk then works while the upload is still arriving.
//! The helpers' results are always collected: an fsync error is reported once per open file,
//! so an error one of them saw would not be seen again by the final fsync.
//!
//! [`FastSpool`] is for an upload that arrives faster than it is sealed (see `sealer`). It
//! writes with `O_DIRECT` where the filesystem allows it: the bytes go from our buffer to the
//! disk without first being copied into the page cache, and that copy costs as much CPU as the
//! cipher on this project's machines. `O_DIRECT` needs the buffer's address, the length and the
//! file offset all aligned, so the ciphertext is gathered in an aligned 1 MiB buffer; the
//! unaligned start and end of the file go through the page cache. Where `O_DIRECT` is refused
//! (tmpfs, some network filesystems), a `FastSpool` is just a `Spool`. Durability is the same
//! either way: the commit fsyncs the file, which flushes the disk's cache too.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

/// Ciphertext written between two early fdatasyncs.
pub const WRITEBACK_BYTES: u64 = 32 * 1024 * 1024;

/// The alignment `O_DIRECT` asks of address, length and offset (4096 covers 512-byte disks too).
const ALIGN: usize = 4096;

/// Size of one direct write.
const DIRECT_BYTES: usize = 1024 * 1024;

/// The ciphertext tempfile, with early writeback.
pub struct Spool {
    file: NamedTempFile,
    /// Bytes written so far: the offset of the next write.
    written: u64,
    unsynced: u64,
    syncing: Option<JoinHandle<io::Result<()>>>,
}

impl Spool {
    pub fn new(file: NamedTempFile) -> Spool {
        Spool {
            file,
            written: 0,
            unsynced: 0,
            syncing: None,
        }
    }

    /// Starts an fdatasync of what is written so far, unless one is still running.
    fn start_writeback(&mut self) -> io::Result<()> {
        if self.syncing.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.collect()?;
        let file = self.file.as_file().try_clone()?;
        // A thread that cannot start only loses the head start: the commit fsyncs everything.
        self.syncing = std::thread::Builder::new()
            .name("writeback".into())
            .spawn(move || file.sync_data())
            .ok();
        self.unsynced = 0;
        Ok(())
    }

    /// Waits for the running fdatasync, if any, and returns its error.
    fn collect(&mut self) -> io::Result<()> {
        match self.syncing.take() {
            Some(h) => h
                .join()
                .map_err(|_| io::Error::other("a writeback thread panicked"))?,
            None => Ok(()),
        }
    }

    /// The file, once every early fdatasync has ended well.
    pub fn finish(mut self) -> io::Result<NamedTempFile> {
        self.collect()?;
        Ok(self.file)
    }

    /// Continues this file with direct writes where the filesystem allows them.
    pub fn into_fast(self) -> FastSpool {
        // Reopened through /proc rather than by name, so it is the same file whatever
        // happened to the name meanwhile.
        let same_file = format!("/proc/self/fd/{}", self.file.as_file().as_raw_fd());
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(same_file)
            .ok();
        match direct {
            Some(file) => FastSpool::Direct(Direct {
                offset: self.written,
                spool: self,
                file,
                refused: false,
                buf: AlignedBuf::new(),
                #[cfg(test)]
                direct_bytes: 0,
            }),
            None => FastSpool::Buffered(self),
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.unsynced += n as u64;
        if self.unsynced >= WRITEBACK_BYTES {
            self.start_writeback()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A fast upload's file: direct writes where possible, else a plain [`Spool`].
pub enum FastSpool {
    Direct(Direct),
    Buffered(Spool),
}

impl FastSpool {
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            FastSpool::Direct(d) => d.write_all(data),
            FastSpool::Buffered(s) => s.write_all(data),
        }
    }

    pub fn finish(self) -> io::Result<NamedTempFile> {
        match self {
            FastSpool::Direct(d) => d.finish(),
            FastSpool::Buffered(s) => s.finish(),
        }
    }

    /// Bytes that went to the disk by direct writes (for tests).
    #[cfg(test)]
    pub fn direct_bytes(&self) -> u64 {
        match self {
            FastSpool::Direct(d) => d.direct_bytes,
            FastSpool::Buffered(_) => 0,
        }
    }
}

/// Direct writes at explicit offsets; the page cache only for the unaligned head and tail.
pub struct Direct {
    spool: Spool,
    /// The same file opened with `O_DIRECT`.
    file: File,
    /// Set when the filesystem refused a direct write; the page cache is used from then on.
    refused: bool,
    buf: AlignedBuf,
    /// File offset of the first byte in `buf`.
    offset: u64,
    #[cfg(test)]
    direct_bytes: u64,
}

impl Direct {
    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        // Until the offset is aligned, through the page cache.
        let misaligned = (self.offset % ALIGN as u64) as usize;
        if misaligned != 0 && self.buf.len == 0 {
            let n = (ALIGN - misaligned).min(data.len());
            self.buffered(&data[..n])?;
            data = &data[n..];
        }
        while !data.is_empty() {
            let n = self.buf.push(data);
            data = &data[n..];
            if self.buf.len == DIRECT_BYTES {
                self.write_buf(DIRECT_BYTES)?;
            }
        }
        Ok(())
    }

    /// Writes the first `n` bytes of the buffer (a multiple of [`ALIGN`]) at `offset`.
    fn write_buf(&mut self, n: usize) -> io::Result<()> {
        let data = &self.buf.bytes()[..n];
        let direct = if self.refused {
            None
        } else {
            Some(self.file.write_all_at(data, self.offset))
        };
        match direct {
            Some(Ok(())) => {
                #[cfg(test)]
                {
                    self.direct_bytes += n as u64;
                }
            }
            Some(Err(e)) if e.kind() != io::ErrorKind::InvalidInput => return Err(e),
            // Refused now or before (EINVAL: the filesystem took the open but not the write).
            _ => {
                self.refused = true;
                self.spool.file.as_file().write_all_at(data, self.offset)?;
            }
        }
        self.offset += n as u64;
        self.buf.consume(n);
        Ok(())
    }

    /// Writes through the page cache at `offset`.
    fn buffered(&mut self, data: &[u8]) -> io::Result<()> {
        self.spool.file.as_file().write_all_at(data, self.offset)?;
        self.offset += data.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> io::Result<NamedTempFile> {
        let aligned = self.buf.len - self.buf.len % ALIGN;
        if aligned > 0 {
            self.write_buf(aligned)?;
        }
        let tail = self.buf.bytes().to_vec();
        self.buffered(&tail)?;
        self.spool.finish()
    }
}

/// A [`DIRECT_BYTES`] buffer whose first byte sits at an [`ALIGN`]ed address, made from a
/// slightly larger `Vec` without any `unsafe`: the data starts at the first aligned byte.
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new() -> AlignedBuf {
        let raw = vec![0u8; DIRECT_BYTES + ALIGN];
        // `align_offset` on a byte pointer always succeeds; the fallback keeps this total.
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { raw, start, len: 0 }
    }

    /// Copies as much of `data` as fits; returns how much.
    fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(DIRECT_BYTES - self.len);
        let at = self.start + self.len;
        self.raw[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    /// Drops the first `n` bytes, moving what follows to the front (only ever a short tail).
    fn consume(&mut self, n: usize) {
        let (start, end) = (self.start + n, self.start + self.len);
        self.raw.copy_within(start..end, self.start);
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
            .collect()
    }

    /// A file started through the page cache at an unaligned length, continued fast, comes
    /// out whole; on a disk filesystem most of it went by direct writes.
    #[test]
    fn a_fast_spool_writes_every_byte_whatever_the_alignment() {
        // The data dir is on a disk filesystem in deployment; /var/tmp usually is too.
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        for (head, pieces, piece) in [(0, 3, 1 << 20), (517, 40, 65_552), (4096, 1, 10)] {
            let mut spool = Spool::new(NamedTempFile::new_in(dir.path()).unwrap());
            let mut expected = pattern(head, 1);
            spool.write_all(&expected).unwrap();
            let mut fast = spool.into_fast();
            for i in 0..pieces {
                let p = pattern(piece, i);
                fast.write_all(&p).unwrap();
                expected.extend_from_slice(&p);
            }
            let direct = fast.direct_bytes();
            let file = fast.finish().unwrap();
            let written = std::fs::read(file.path()).unwrap();
            assert_eq!(written.len(), expected.len());
            assert!(written == expected, "content differs (head {head})");
            if pieces as usize * piece > 2 * DIRECT_BYTES {
                assert!(direct > 0, "no direct write happened (head {head})");
            }
        }
    }

    #[test]
    fn the_aligned_buffer_is_aligned_and_keeps_its_tail() {
        let mut b = AlignedBuf::new();
        assert_eq!(b.bytes().as_ptr().align_offset(ALIGN), 0);
        assert_eq!(b.push(&[1; 5000]), 5000);
        b.consume(4096);
        assert_eq!(b.bytes(), &[1; 904][..]);
        assert_eq!(b.push(&vec![2; DIRECT_BYTES]), DIRECT_BYTES - 904);
        assert_eq!(b.bytes().as_ptr().align_offset(ALIGN), 0);
    }
}
