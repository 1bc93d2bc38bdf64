//! What `review open` did: per submission and per file, where it was saved, what metadata was
//! found, and what went wrong. Also the text of each submission's `manifest.txt`.
//!
//! Every untrusted string (names, types, metadata values) passes through
//! [`shown`](super::names::shown) before it is printed, so a file name cannot drive the
//! reviewer's terminal.

use std::fmt;
use std::path::PathBuf;

use super::metadata::Finding;
use super::names::{scrubbed, shown};

/// The outcome of [`super::open`].
#[derive(Debug, Default)]
pub struct OpenReport {
    /// The output folder.
    pub out: PathBuf,
    pub submissions: Vec<SubmissionReport>,
    /// Problems with the bundle itself (odd entries, unreadable `SHA256SUMS` lines).
    pub problems: Vec<String>,
    /// The server's deletion records in the bundle (`deletions.txt`), as sentences.
    pub deletions: Vec<String>,
}

/// What happened to one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionStatus {
    /// Every file decrypted and saved.
    Opened,
    /// Saved into `<id>.incomplete/`: some files were damaged or failed; re-run after the
    /// next fetch to try again.
    Incomplete,
    /// Its folder was already in the output folder; nothing done.
    AlreadyOpened,
    /// Nothing could be saved (manifest missing, damaged, or not for this identity).
    Failed,
}

/// One submission.
#[derive(Debug)]
pub struct SubmissionReport {
    pub designation: String,
    pub id: String,
    pub status: SubmissionStatus,
    /// Where it was saved.
    pub folder: Option<PathBuf>,
    /// The day it arrived, from the manifest.
    pub received: Option<String>,
    /// Whether a non-empty message was saved as `message.txt`.
    pub message_saved: bool,
    pub files: Vec<FileReport>,
    pub problems: Vec<String>,
}

impl SubmissionReport {
    pub(crate) fn new(designation: &str, id: &str, status: SubmissionStatus) -> Self {
        SubmissionReport {
            designation: designation.to_owned(),
            id: id.to_owned(),
            status,
            folder: None,
            received: None,
            message_saved: false,
            files: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// One file of a submission.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The name the source's browser sent (untrusted).
    pub sent_name: String,
    /// The declared MIME type (untrusted).
    pub content_type: String,
    /// The size the manifest gives.
    pub size: u64,
    /// The sanitized name chosen for it.
    pub saved_name: String,
    /// Where it was saved; `None` if it was not.
    pub saved: Option<PathBuf>,
    /// Identifying metadata found in it.
    pub metadata: Vec<Finding>,
    /// Remarks from the metadata readers.
    pub notes: Vec<String>,
    /// Why opening it could run code, or why its name hides what it is
    /// ([`super::metadata::Inspection::risks`]).
    pub risks: Vec<String>,
    /// Why it was not saved, or what is odd about it.
    pub problems: Vec<String>,
}

impl OpenReport {
    /// Whether anything went wrong (a damaged or skipped file, a failed submission…).
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
            || self
                .submissions
                .iter()
                .any(|s| !s.problems.is_empty() || s.files.iter().any(|f| !f.problems.is_empty()))
    }

    /// How many submissions ended with `status`.
    pub fn count(&self, status: SubmissionStatus) -> usize {
        self.submissions
            .iter()
            .filter(|s| s.status == status)
            .count()
    }
}

impl fmt::Display for OpenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SubmissionStatus::*;
        writeln!(
            f,
            "{} opened, {} incomplete, {} failed, {} already opened (in {})",
            self.count(Opened),
            self.count(Incomplete),
            self.count(Failed),
            self.count(AlreadyOpened),
            self.out.display()
        )?;
        for s in self
            .submissions
            .iter()
            .filter(|s| s.status != AlreadyOpened)
        {
            writeln!(f)?;
            let status = match s.status {
                Opened => "opened",
                Incomplete => "INCOMPLETE",
                Failed => "FAILED",
                AlreadyOpened => "already opened",
            };
            write!(f, "{} / {}: {status}", s.designation, s.id)?;
            if let Some(day) = &s.received {
                write!(f, ", received {}", shown(day))?;
            }
            writeln!(f)?;
            if let Some(folder) = &s.folder {
                writeln!(f, "  folder: {}", folder.display())?;
            }
            if s.message_saved {
                writeln!(f, "  message.txt: the source's message")?;
            }
            for file in &s.files {
                match &file.saved {
                    Some(_) => writeln!(
                        f,
                        "  {}  (sent as {}, {}, {} bytes)",
                        file.saved_name,
                        shown(&file.sent_name),
                        shown(&file.content_type),
                        file.size
                    )?,
                    None => writeln!(f, "  NOT SAVED: {}", shown(&file.sent_name))?,
                }
                for r in &file.risks {
                    writeln!(f, "    risky: {r}")?;
                }
                for m in &file.metadata {
                    writeln!(f, "    metadata: {m}")?;
                }
                for n in &file.notes {
                    writeln!(f, "    note: {}", scrubbed(n))?;
                }
                for p in &file.problems {
                    writeln!(f, "    problem: {}", scrubbed(p))?;
                }
            }
            for p in &s.problems {
                writeln!(f, "  problem: {}", scrubbed(p))?;
            }
        }
        if !self.deletions.is_empty() {
            writeln!(
                f,
                "\nThe server's deletion records ({}, as the server reports them):",
                super::bundle::DELETIONS
            )?;
            for d in &self.deletions {
                writeln!(f, "  {}", scrubbed(d))?;
            }
        }
        if self.files_with_metadata() > 0 {
            writeln!(
                f,
                "\n{} file(s) carry identifying metadata: remove it before publishing or \
                 forwarding them.",
                self.files_with_metadata()
            )?;
        }
        if !self.problems.is_empty() {
            writeln!(f, "\nBundle problems:")?;
            for p in &self.problems {
                writeln!(f, "  {}", scrubbed(p))?;
            }
        }
        Ok(())
    }
}

impl OpenReport {
    fn files_with_metadata(&self) -> usize {
        self.submissions
            .iter()
            .flat_map(|s| &s.files)
            .filter(|f| !f.metadata.is_empty())
            .count()
    }
}

/// The text of a submission's `manifest.txt`.
pub(crate) fn manifest_text(s: &SubmissionReport, message_len: usize) -> String {
    let mut t = String::new();
    let mut line = |l: String| {
        t.push_str(&l);
        t.push('\n');
    };
    line("lanterne submission".into());
    line(
        "Names, types and the message come from the source's browser: they are untrusted \
         and shown quoted and escaped."
            .into(),
    );
    line(String::new());
    line(format!("source:      {}", s.designation));
    line(format!("submission:  {}", s.id));
    let day = s.received.as_deref().map(shown).unwrap_or_default();
    line(format!(
        "received:    {day} (UTC day; the box keeps no time)"
    ));
    if message_len > 0 {
        line(format!("message:     message.txt ({message_len} bytes)"));
    } else {
        line("message:     none".into());
    }
    for (i, file) in s.files.iter().enumerate() {
        line(String::new());
        line(format!("file {}", i + 1));
        line(format!("  sent as:       {}", shown(&file.sent_name)));
        line(format!("  declared type: {}", shown(&file.content_type)));
        line(format!("  size:          {} bytes", file.size));
        match &file.saved {
            Some(_) => line(format!("  saved as:      {}", file.saved_name)),
            None => line("  saved as:      NOT SAVED".into()),
        }
        for r in &file.risks {
            line(format!("  risky:         {r}"));
        }
        for m in &file.metadata {
            line(format!("  metadata:      {m}"));
        }
        for n in &file.notes {
            line(format!("  note:          {}", scrubbed(n)));
        }
        for p in &file.problems {
            line(format!("  problem:       {}", scrubbed(p)));
        }
    }
    for p in &s.problems {
        line(String::new());
        line(format!("problem: {}", scrubbed(p)));
    }
    t
}
