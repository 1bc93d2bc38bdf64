//! Identifying metadata in a decrypted file: who made it, on what, where and when.
//!
//! Sources often do not know that a photo carries the camera's serial number and the GPS
//! position, or that a document names its author and their company. Before a reviewer
//! publishes or forwards anything, `review open` lists what it finds. The file is only read,
//! never changed: cleaning is a decision for the reviewer.
//!
//! The file is hostile input, so every reader here is bounded: at most [`MAX_READ`] bytes are
//! read, decompression and XML parsing have their own caps, and a panic in a parser crate is
//! caught and becomes a note. A failure to parse is a note in the report, never an error.
//! The kind of file is taken from its first bytes, never from its (untrusted) name or type.
//!
//! Beside metadata, `risk.rs` looks for files that could run code when opened (programs,
//! scripts, Office macros, PDFs with JavaScript or launch actions) and for a name that does
//! not match the content: [`Inspection::risks`].

mod image;
mod office;
mod pdf;
mod risk;
mod xmp;
mod zip_bounds;

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Most bytes of one file read into memory for inspection (head, plus the tail of PDFs).
pub(crate) const MAX_READ: u64 = 64 << 20;

/// Most findings kept per file; past this the report says some were left out.
const MAX_FINDINGS: usize = 100;

/// Longest value kept, in characters.
const MAX_VALUE_CHARS: usize = 200;

/// One piece of identifying metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where it was found: `EXIF`, `XMP`, `PDF`, `Office`.
    pub source: &'static str,
    /// The field, like `Model`, `GPS position`, `Author`, `lastModifiedBy`.
    pub field: String,
    /// The value as found (untrusted: show it with [`super::names::shown`]).
    pub value: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.source,
            super::names::shown(&self.field).trim_matches('"'),
            super::names::shown(&self.value)
        )
    }
}

/// What inspecting one file gave.
#[derive(Debug, Default, Clone)]
pub struct Inspection {
    pub findings: Vec<Finding>,
    /// Things the reviewer should know that are not findings (could not parse, only part
    /// of the file examined…).
    pub notes: Vec<String>,
    /// Why opening the file could run code (each sentence says not to open it on this
    /// machine), or why its name hides what it is. Printed as "risky: …".
    pub risks: Vec<String>,
}

/// Gathers findings without duplicates and within [`MAX_FINDINGS`].
#[derive(Debug, Default)]
struct Collector {
    seen: HashSet<(&'static str, String, String)>,
    out: Inspection,
    dropped: bool,
}

impl Collector {
    fn add(&mut self, source: &'static str, field: &str, value: &str) {
        let value: String = value.trim().chars().take(MAX_VALUE_CHARS).collect();
        if value.is_empty() {
            return;
        }
        if self.out.findings.len() >= MAX_FINDINGS {
            self.dropped = true;
            return;
        }
        if self
            .seen
            .insert((source, field.to_owned(), value.to_lowercase()))
        {
            self.out.findings.push(Finding {
                source,
                field: field.to_owned(),
                value,
            });
        }
    }

    fn note(&mut self, note: impl Into<String>) {
        self.out.notes.push(note.into());
    }

    fn risk(&mut self, sentence: String) {
        if !self.out.risks.contains(&sentence) {
            self.out.risks.push(sentence);
        }
    }

    fn finish(mut self) -> Inspection {
        if self.dropped {
            self.out.notes.push(format!(
                "more than {MAX_FINDINGS} findings; the rest are not listed"
            ));
        }
        self.out
    }
}

/// What the first bytes say the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Pdf,
    Zip,
    Other,
}

fn sniff(head: &[u8]) -> Kind {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"\xFF\xD8\xFF")
        || starts(b"\x89PNG\r\n\x1a\n")
        || starts(b"II*\0")
        || starts(b"MM\0*")
        || (starts(b"RIFF") && head.get(8..12) == Some(b"WEBP"))
        || head.get(4..8) == Some(b"ftyp")
    {
        Kind::Image
    } else if head.windows(5).take(1024).any(|w| w == b"%PDF-") {
        Kind::Pdf
    } else if starts(b"PK\x03\x04") {
        Kind::Zip
    } else {
        Kind::Other
    }
}

/// Inspects a saved file. Never fails: problems become notes.
/// Parses an XML part from a hostile file with the one set of hardened options every reader
/// uses: no DTD (so no entity expansion) and at most `nodes_limit` nodes.
fn parse_xml(xml: &str, nodes_limit: u32) -> Result<roxmltree::Document<'_>, roxmltree::Error> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(xml, options)
}

///
/// The file's own name is the one checked against its content: the name the reviewer's
/// desktop will use to pick a program.
pub fn inspect(path: &Path) -> Inspection {
    let name = path.file_name().map(|n| n.to_string_lossy());
    match File::open(path).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok((size, mut file)) => inspect_reader(&mut file, size, name.as_deref()),
        Err(e) => could_not_read(e),
    }
}

/// Inspects a file held in memory (decrypted for `review show`), as [`inspect`] does a saved
/// one; `name` is the name the source gave it.
pub(crate) fn inspect_bytes(bytes: &[u8], name: &str) -> Inspection {
    inspect_reader(&mut io::Cursor::new(bytes), bytes.len() as u64, Some(name))
}

fn could_not_read(e: io::Error) -> Inspection {
    Inspection {
        notes: vec![format!("could not read the file to look for metadata: {e}")],
        ..Inspection::default()
    }
}

/// The input of the readers: a saved file or bytes in memory, `size` bytes long.
pub(crate) trait Input: Read + Seek {}
impl<T: Read + Seek> Input for T {}

fn inspect_reader(input: &mut dyn Input, size: u64, name: Option<&str>) -> Inspection {
    let head = match read_head(input, 4096) {
        Ok((head, _)) => head,
        Err(e) => return could_not_read(e),
    };
    let kind = sniff(&head);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = Collector::default();
        for r in risk::from_head_and_name(&head, &kind, name) {
            c.risk(r);
        }
        match kind {
            Kind::Image => image::inspect(input, size, &mut c),
            Kind::Pdf => pdf::inspect(input, size, &mut c),
            Kind::Zip => office::inspect(input, &mut c),
            Kind::Other => {}
        }
        c
    }));
    let c = outcome.unwrap_or_else(|_| {
        let mut c = Collector::default();
        c.note(
            "the metadata reader crashed on this file: it is malformed, perhaps on purpose; \
             open it with care",
        );
        c.risk(risk::sentence(
            "a file malformed enough to crash the metadata reader",
        ));
        c
    });
    c.finish()
}

/// Reads the first `max` bytes of the input, and whether that was all of it.
fn read_head(input: &mut dyn Input, max: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    input.seek(SeekFrom::Start(0))?;
    input.take(max + 1).read_to_end(&mut buf)?;
    let whole = buf.len() as u64 <= max;
    buf.truncate(max as usize);
    Ok((buf, whole))
}

/// Reads the first `head` and last `tail` bytes of an input of `size` bytes (all of it if
/// small).
fn read_head_and_tail(
    input: &mut dyn Input,
    size: u64,
    head: u64,
    tail: u64,
) -> io::Result<Vec<u8>> {
    if size <= head + tail {
        return read_head(input, head + tail).map(|(b, _)| b);
    }
    let (mut buf, _) = read_head(input, head)?;
    input.seek(SeekFrom::Start(size - tail))?;
    input.take(tail).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Finds `needle` in `hay` from `from`, without allocating.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_comes_from_the_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE1"), Kind::Image);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic"), Kind::Image);
        assert_eq!(sniff(b"junk\n%PDF-1.7"), Kind::Pdf);
        assert_eq!(sniff(b"PK\x03\x04"), Kind::Zip);
        assert_eq!(sniff(b"hello"), Kind::Other);
    }

    #[test]
    fn plain_files_have_nothing_to_report_and_findings_are_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "just text").unwrap();
        let i = inspect(&p);
        assert!(i.findings.is_empty() && i.notes.is_empty());
        let mut c = Collector::default();
        c.add("PDF", "Author", " Jane ");
        c.add("PDF", "Author", "jane");
        c.add("PDF", "Author", "");
        for n in 0..200 {
            c.add("PDF", "Author", &n.to_string());
        }
        let out = c.finish();
        assert_eq!(out.findings.len(), MAX_FINDINGS);
        assert_eq!(out.findings[0].value, "Jane");
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn a_damaged_image_is_a_note_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jpg");
        std::fs::write(&p, b"\xFF\xD8\xFF\xE1\x00\x10Exif\0\0MM\0*garbage").unwrap();
        let i = inspect(&p);
        assert!(i.findings.is_empty());
        assert_eq!(i.notes.len(), 1, "{:?}", i.notes);
    }
}
