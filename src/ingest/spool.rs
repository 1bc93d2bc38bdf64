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
//! file offset all aligned: the sealer gathers ciphertext in [`AlignedBuf`] batches that end at
//! aligned offsets, and only the unaligned start and end of the file go through the page
//! cache. Where `O_DIRECT` is refused (tmpfs, some network filesystems), a `FastSpool` is just
//! a `Spool`. Durability is the same either way: the commit fsyncs the file, which flushes the
//! disk's cache too.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

/// Ciphertext written between two early fdatasyncs.
pub const WRITEBACK_BYTES: u64 = 32 * 1024 * 1024;

/// The alignment `O_DIRECT` asks of address, length and offset (4096 covers 512-byte disks too).
pub const ALIGN: usize = 4096;

/// Size of a fast upload's batches, and so of one direct write. Fewer, larger writes: 256 KiB
/// batches measured about 8% slower in `cargo bench --bench ingest`.
pub const BATCH: usize = 1024 * 1024;

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

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Continues with plain writes at `offset`, after writes that did not move the file
    /// position.
    fn resume_at(&mut self, offset: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.written = offset;
        Ok(())
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
        FastSpool {
            offset: self.written,
            spool: self,
            direct,
            #[cfg(test)]
            direct_bytes: 0,
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

/// A fast upload's file: direct writes at explicit offsets where the filesystem allows them,
/// the page cache for what is not aligned; else a plain [`Spool`].
pub struct FastSpool {
    spool: Spool,
    /// The same file opened with `O_DIRECT`, while the filesystem takes direct writes.
    direct: Option<File>,
    /// File offset of the next byte.
    offset: u64,
    #[cfg(test)]
    direct_bytes: u64,
}

impl FastSpool {
    /// Writes the next batch. Its aligned part goes directly when the offset is aligned (the
    /// sealer cuts batches so that it is); the rest through the page cache.
    pub fn write(&mut self, batch: &AlignedBuf) -> io::Result<()> {
        let data = batch.bytes();
        let Some(direct) = &self.direct else {
            return self.spool.write_all(data);
        };
        let aligned = if self.offset.is_multiple_of(ALIGN as u64) {
            data.len() - data.len() % ALIGN
        } else {
            0
        };
        if aligned > 0 {
            match direct.write_all_at(&data[..aligned], self.offset) {
                Ok(()) => {
                    #[cfg(test)]
                    {
                        self.direct_bytes += aligned as u64;
                    }
                }
                // The filesystem took the open but refuses the writes: from here on, the page
                // cache, from where the direct writes stopped.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                    self.direct = None;
                    self.spool.resume_at(self.offset)?;
                    return self.spool.write_all(data);
                }
                Err(e) => return Err(e),
            }
        }
        let rest = &data[aligned..];
        let at = self.offset + aligned as u64;
        self.spool.file.as_file().write_all_at(rest, at)?;
        self.offset += data.len() as u64;
        Ok(())
    }

    pub fn finish(self) -> io::Result<NamedTempFile> {
        self.spool.finish()
    }

    /// Bytes that went to the disk by direct writes (for tests).
    #[cfg(test)]
    pub fn direct_bytes(&self) -> u64 {
        self.direct_bytes
    }
}

/// A [`BATCH`]-byte buffer whose first byte sits at an [`ALIGN`]ed address, made from a
/// slightly larger `Vec` without any `unsafe`: the data starts at the first aligned byte.
pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new() -> AlignedBuf {
        let raw = vec![0u8; BATCH + ALIGN];
        // `align_offset` on a byte pointer always succeeds; the fallback keeps this total.
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { raw, start, len: 0 }
    }

    /// Copies as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(BATCH - self.len);
        let at = self.start + self.len;
        self.raw[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    pub fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
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

    /// A file started through the page cache at an unaligned length, continued in batches cut
    /// the way the sealer cuts them (each ending at an aligned offset), comes out whole; on a
    /// disk filesystem every batch but the first went by direct writes.
    #[test]
    fn a_fast_spool_writes_every_byte_whatever_the_alignment() {
        // The data dir is on a disk filesystem in deployment; /var/tmp usually is too.
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        for (head, rest) in [(0, 3 * BATCH + 10), (517, 3 * BATCH + 5000), (4096, 10)] {
            let mut spool = Spool::new(NamedTempFile::new_in(dir.path()).unwrap());
            let expected = pattern(head + rest, 1);
            spool.write_all(&expected[..head]).unwrap();
            let mut fast = spool.into_fast();
            let mut offset = head;
            while offset < expected.len() {
                let len = (BATCH - offset % ALIGN).min(expected.len() - offset);
                let mut batch = AlignedBuf::new();
                assert_eq!(batch.push(&expected[offset..offset + len]), len);
                fast.write(&batch).unwrap();
                offset += len;
            }
            let direct = fast.direct_bytes();
            let file = fast.finish().unwrap();
            let written = std::fs::read(file.path()).unwrap();
            assert_eq!(written.len(), expected.len());
            assert!(written == expected, "content differs (head {head})");
            if rest > 2 * BATCH {
                assert!(direct >= 2 * BATCH as u64, "direct: {direct} (head {head})");
            }
        }
    }

    #[test]
    fn the_aligned_buffer_is_aligned_and_bounded() {
        let mut b = AlignedBuf::new();
        assert_eq!(b.bytes().as_ptr().align_offset(ALIGN), 0);
        assert_eq!(b.push(&[1; 5000]), 5000);
        assert_eq!(b.push(&vec![2; BATCH]), BATCH - 5000);
        assert_eq!(b.len(), BATCH);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.bytes().as_ptr().align_offset(ALIGN), 0);
    }
}
