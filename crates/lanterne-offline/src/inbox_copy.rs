//! How `review import` copies a bundle's file into the inbox ([`copy_checked_with`]): in one
//! read of the bundle, the ciphertext is copied and hashed against the bundle's `SHA256SUMS`;
//! a submission's files are also decrypted with the reviewer's identity in that read, the
//! plaintext counted and dropped (it never reaches the disk).
//!
//! Why decrypt at import, when the inbox keeps ciphertext: a file that does not decrypt for
//! this identity, or decrypts to another size than its manifest declares (and the padding to its
//! size bucket, see `lanterne_core::padding`), is then named the
//! day it arrives, while the bundle (and maybe the server) still has it, not months later when
//! a reviewer exports it. The ciphertext is kept either way, exactly as the server gave it
//! (it is evidence, and the sums matched); the import's report says what is wrong.

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use lanterne_core::bundle::READ_BUFFER;
use lanterne_core::manifest::FileEntry;
use lanterne_core::{durable, seal};

use crate::bundle::Bundle;
use crate::names::shown;
use crate::open::{copy_declared, copy_in_blocks, too_long, Length, Submission};

/// Reads from `input` and writes every byte read to `out`: age reads the ciphertext through
/// it, so the copy is exactly what was decrypted. A write error is kept apart from the read
/// errors age reports, so a full disk is not mistaken for a damaged file.
struct Tee<'a, R: Read> {
    input: R,
    out: &'a mut dyn Write,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let told = io::Error::new(e.kind(), "the copy could not be written");
            self.failed = Some(e);
            return Err(told);
        }
        Ok(n)
    }
}

/// What a file's copy found.
pub(crate) struct Copied {
    /// The ciphertext's SHA-256, the one the bundle lists.
    pub(crate) sum: [u8; 32],
    /// Why the file does not decrypt as its manifest says, if it does not (kept anyway).
    pub(crate) problem: Option<String>,
}

/// Copies the bundle's file `rel` to `dest` (new, 0600, synced), checked against the bundle's
/// `SHA256SUMS` in the same read, and hands the bytes to `use_bytes` as they are copied
/// (whatever it leaves unread is copied after it). Returns the file's hash and what
/// `use_bytes` returned. The copy is whole and matched its sum, or this is an `Err`; the
/// caller's staging folder then goes, so a mismatching copy never enters the inbox.
pub(crate) fn copy_checked_with<T>(
    bundle: &Bundle,
    rel: &str,
    dest: &Path,
    use_bytes: impl FnOnce(&mut dyn Read) -> T,
) -> Result<([u8; 32], T), String> {
    let damaged =
        |e: &dyn std::fmt::Display| format!("{}: {e}; fetch the bundle again", shown(rel));
    let cannot_write = |e: io::Error| {
        format!(
            "{}: cannot be copied ({e}); check the inbox's free space",
            shown(rel)
        )
    };
    let mut checked = bundle.open_checked(rel).map_err(|e| damaged(&e))?;
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut writer = durable::EarlySync::new(&out);
    let mut tee = Tee {
        input: &mut checked,
        out: &mut writer,
        failed: None,
    };
    let used = use_bytes(&mut tee);
    let drained = copy_in_blocks(&mut tee, &mut io::sink());
    if let Some(e) = tee.failed.take() {
        return Err(cannot_write(e));
    }
    drained.map_err(|e| damaged(&e))?;
    writer.finish().map_err(cannot_write)?;
    let sum = checked.finish().map_err(|e| damaged(&e))?;
    out.sync_all().map_err(cannot_write)?;
    Ok((sum, used))
}

impl Submission<'_> {
    /// Copies the file `entry` names to `dest` ([`copy_checked_with`]), decrypting it in the
    /// same read. `Err` (the copy is not whole, or not the listed bytes) skips the
    /// submission; a file that only fails to decrypt is copied, with [`Copied::problem`].
    pub(crate) fn copy_decrypting(&self, entry: &FileEntry, dest: &Path) -> Result<Copied, String> {
        let stored = &entry.stored_as;
        crate::open::check_ciphertext_name(stored)?;
        let rel = lanterne_core::bundle::submission_file(self.designation, self.id, stored);
        let (sum, problem) = copy_checked_with(self.bundle, &rel, dest, |ciphertext| {
            let buffered =
                BufReader::with_capacity(seal::MAX_HEADER_BYTES + READ_BUFFER, ciphertext);
            match seal::decrypt(buffered, self.identities()) {
                Ok(mut plain) => plaintext_problem(&mut plain, entry.size),
                Err(e) => Some(format!("it does not decrypt with this identity ({e})")),
            }
        })?;
        Ok(Copied {
            sum,
            problem: problem.map(|p| format!("file {}: {p}", shown(stored))),
        })
    }
}

/// Reads the whole plaintext (authenticating every chunk) through [`copy_declared`], into
/// nothing, and says what is wrong with it, if anything: a damaged stream, or another size
/// than declared (padding to its bucket aside).
fn plaintext_problem(plain: &mut dyn Read, declared: u64) -> Option<String> {
    match copy_declared(plain, declared, &mut io::sink()) {
        Ok(Length::Declared) => None,
        Ok(Length::Short(total)) => Some(format!(
            "{total} bytes, but the manifest declares {declared}"
        )),
        Ok(Length::Long) => Some(format!("it {}", too_long(declared))),
        Err(e) => Some(format!("it is damaged or truncated ({e})")),
    }
}
