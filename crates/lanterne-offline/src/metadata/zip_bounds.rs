//! Caps on a zip archive's central directory, checked before the `zip` crate parses it.
//!
//! `zip::ZipArchive::new` reads the whole central directory into memory, reserving room for as
//! many entries as the end-of-central-directory record claims, and when a candidate record
//! fails it searches backwards for another one and parses again. A crafted file can so make
//! the offline machine allocate and parse without bound. So, before parsing:
//! - every end-of-central-directory record in the last [`SCAN_BYTES`] of the file (the only
//!   ones the parser can reach, see below) must claim at most [`MAX_ENTRIES`] entries and a
//!   central directory of at most [`MAX_DIRECTORY_BYTES`], and none may ask for ZIP64 (whose
//!   values are past these caps anyway);
//! - while it parses, the crate reads the file through [`Budget`], which fails reads past
//!   [`SCAN_BYTES`] in all: reaching a record further back would cost more than that.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

/// Most entries in an examined archive. Office documents hold tens to a few thousand parts.
pub(crate) const MAX_ENTRIES: u64 = 10_000;

/// Largest central directory examined, in bytes.
pub(crate) const MAX_DIRECTORY_BYTES: u64 = 4 << 20;

/// How far from the end records are checked, and the most the parser may read to open.
pub(crate) const SCAN_BYTES: u64 = 2 * MAX_DIRECTORY_BYTES;

/// `PK\x05\x06`: the end-of-central-directory record's signature.
const EOCD_SIGNATURE: &[u8] = b"PK\x05\x06";
/// Fixed length of that record.
const EOCD_LEN: usize = 22;

/// Why an archive is not examined (a note for the report).
pub(crate) fn check(file: &mut (impl Read + Seek + ?Sized)) -> Result<(), String> {
    let len = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let start = len.saturating_sub(SCAN_BYTES);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut tail = Vec::new();
    file.take(SCAN_BYTES)
        .read_to_end(&mut tail)
        .map_err(|e| e.to_string())?;
    for at in memchr::memmem::find_iter(&tail, EOCD_SIGNATURE) {
        let Some(record) = tail.get(at..at + EOCD_LEN) else {
            continue;
        };
        let u16_at = |i: usize| u64::from(u16::from_le_bytes([record[i], record[i + 1]]));
        let u32_at = |i: usize| {
            u64::from(u32::from_le_bytes([
                record[i],
                record[i + 1],
                record[i + 2],
                record[i + 3],
            ]))
        };
        let entries = u16_at(8).max(u16_at(10));
        let (size, offset) = (u32_at(12), u32_at(16));
        if entries > MAX_ENTRIES {
            return Err(format!(
                "a zip archive whose directory lists {entries} entries (more than \
                 {MAX_ENTRIES}): not examined for metadata"
            ));
        }
        if size > MAX_DIRECTORY_BYTES || offset == u64::from(u32::MAX) {
            return Err(format!(
                "a zip archive whose directory is larger than {MAX_DIRECTORY_BYTES} bytes (or \
                 ZIP64): not examined for metadata"
            ));
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}

/// A reader that fails once `limit` bytes have been read through it, until the limit is lifted.
pub(crate) struct Budget<R> {
    inner: R,
    left: Rc<Cell<Option<u64>>>,
}

impl<R> Budget<R> {
    /// Wraps `inner` with `limit` bytes to read; the handle lifts the limit (sets `None`).
    pub(crate) fn new(inner: R, limit: u64) -> (Budget<R>, Rc<Cell<Option<u64>>>) {
        let left = Rc::new(Cell::new(Some(limit)));
        (
            Budget {
                inner,
                left: left.clone(),
            },
            left,
        )
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.left.get() else {
            return self.inner.read(buf);
        };
        if left == 0 {
            return Err(io::Error::other(
                "the zip directory needs more reading than allowed",
            ));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left.set(Some(left - n as u64));
        Ok(n)
    }
}

impl<R: Seek> Seek for Budget<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn eocd(entries: u16, size: u32, offset: u32) -> Vec<u8> {
        let mut r = EOCD_SIGNATURE.to_vec();
        r.extend([0, 0, 0, 0]);
        r.extend(entries.to_le_bytes());
        r.extend(entries.to_le_bytes());
        r.extend(size.to_le_bytes());
        r.extend(offset.to_le_bytes());
        r.extend([0, 0]);
        r
    }

    #[test]
    fn records_past_the_caps_are_refused_before_parsing() {
        let ok = [b"PK\x03\x04 some data".to_vec(), eocd(3, 200, 10)].concat();
        check(&mut Cursor::new(ok)).unwrap();
        for bad in [
            eocd(20_000, 200, 10),
            eocd(3, 5 << 20, 10),
            eocd(u16::MAX, 200, 10),
            eocd(3, 200, u32::MAX),
        ] {
            // Hidden behind a valid record nearer the end, too.
            let file = [b"PK\x03\x04".to_vec(), bad, eocd(3, 200, 10)].concat();
            assert!(check(&mut Cursor::new(file)).is_err());
        }
    }

    #[test]
    fn the_budget_fails_reads_past_it_until_lifted() {
        let (mut r, handle) = Budget::new(Cursor::new(vec![7u8; 100]), 10);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        assert!(r.read(&mut buf).is_err());
        handle.set(None);
        assert_eq!(r.read(&mut buf).unwrap(), 64);
    }
}
