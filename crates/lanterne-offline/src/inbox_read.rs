//! Reading the inbox (`inbox.rs`): `review list`, `review show`, `review export` and
//! `review star`/`unstar`.
//!
//! Every manifest and file is checked against the inbox's `SHA256SUMS` and decrypted in memory
//! only ([`Submission::manifest`], [`Submission::file_bytes`]), where `show` looks for
//! identifying metadata as `review open` does; the text built from it is held in zeroized
//! strings. Only `export` writes plaintext, into the folder the reviewer names, each
//! file under a sanitized name, never over an existing file, with `transcript.txt` beside them.
//! Everything the source chose (names, types, messages) is escaped before it is printed
//! ([`shown`], [`scrubbed`]), so it cannot drive the reviewer's terminal. The team's replies
//! go after what their signature says they answer (`thread.rs`), each shown only if a reviewer
//! pinned on this machine signed it for this source. Submissions are numbered by the box's own
//! sequence (`s0000000007-…` is #7), and each source is shown with the fingerprint of its
//! pinned key (`lanterne_core::designation::fingerprint`), for reviewers to compare.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use age::secrecy::SecretString;
use lanterne_core::durable;
use lanterne_core::manifest::Manifest;
use zeroize::Zeroizing;

use crate::home::ReviewHome;
use crate::identity::{self, Identities};
use crate::inbox::{Held, Inbox};
use crate::inbox_replies::{self, ThreadReply};
use crate::metadata;
use crate::names::{sanitize, scrubbed, shown, NameSet};
use crate::open::{make_private_dir, write_error, Submission};
use crate::thread::{self, Item};
use crate::ReviewError;

/// The transcript `export` writes beside the files.
const TRANSCRIPT: &str = "transcript.txt";

/// One submission of a thread, its manifest decrypted (or why not).
struct Read {
    held: Held,
    manifest: Result<Manifest, String>,
}

/// Decrypts the manifests of `thread`, in memory.
fn read_all(
    inbox: &Inbox,
    identities: &Identities,
    thread: Vec<Held>,
) -> Result<Vec<Read>, ReviewError> {
    let bundle = inbox.as_bundle()?;
    Ok(thread
        .into_iter()
        .map(|held| {
            let manifest = Submission {
                bundle: &bundle,
                identities,
                designation: &held.designation,
                id: &held.id,
                dest: inbox.root(),
            }
            .manifest();
            Read { held, manifest }
        })
        .collect())
}

fn load(identity_file: &Path, passphrase: Option<SecretString>) -> Result<Identities, ReviewError> {
    identity::load(identity_file, passphrase)
}

/// `review list`: one line per source, newest activity (highest number in the inbox's
/// sequence) first: a star, the designation, submissions, unseen ones, files.
pub fn list(
    home: &ReviewHome,
    identity_file: &Path,
    passphrase: Option<SecretString>,
) -> Result<Zeroizing<String>, ReviewError> {
    let identities = load(identity_file, passphrase)?;
    let inbox = Inbox::open(home)?;
    let mut by_source: BTreeMap<String, Vec<Held>> = BTreeMap::new();
    for h in inbox.held()? {
        by_source.entry(h.designation.clone()).or_default().push(h);
    }
    let mut rows = Vec::new();
    for (designation, thread) in by_source {
        let last = thread.iter().map(Held::number).max().unwrap_or(0);
        let unseen = thread.iter().filter(|h| !h.seen).count();
        let count = thread.len();
        let read = read_all(&inbox, &identities, thread)?;
        let files: usize = read
            .iter()
            .filter_map(|r| r.manifest.as_ref().ok())
            .map(|m| m.files.len())
            .sum();
        let unreadable = read.iter().filter(|r| r.manifest.is_err()).count();
        let star = if inbox.is_starred(&designation) {
            '*'
        } else {
            ' '
        };
        let mut line = format!(
            "{star} {designation}  key {}  {count} submission(s), {unseen} unseen, \
             {files} file(s), last #{last}",
            key_fingerprint(home, &designation)?
        );
        if unreadable > 0 {
            line.push_str(&format!(
                "  ({unreadable} could not be read: see `review show`)"
            ));
        }
        rows.push((last, line));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = Zeroizing::new(String::new());
    if rows.is_empty() {
        out.push_str("the inbox is empty: `review import BUNDLE --identity FILE` first\n");
    }
    for (_, line) in rows {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// `review show DESIGNATION`: the conversation, in order, as plain text; marks it seen.
pub fn show(
    home: &ReviewHome,
    designation: &str,
    identity_file: &Path,
    passphrase: Option<SecretString>,
) -> Result<Zeroizing<String>, ReviewError> {
    let identities = load(identity_file, passphrase)?;
    let mut inbox = Inbox::open(home)?;
    let thread = inbox.thread(designation)?;
    let opened = crate::inbox_key::opened_by(&inbox, &identities, identity_file, &thread)?;
    let read = read_all(&inbox, &identities, thread)?;
    let extra = inspect_in_memory(&inbox, &identities, &read)?;
    let mut replies = inbox_replies::read(&inbox, home, &identities, designation)?;
    let key = key_fingerprint(home, designation)?;
    let text = render(&inbox, designation, &key, &read, &extra, &mut replies);
    inbox.mark_seen(&opened)?;
    Ok(text)
}

/// Each file of the thread decrypted in memory (up to [`metadata::MAX_READ`]) and checked for
/// identifying metadata, as `review open` does on the saved file; nothing is written.
fn inspect_in_memory(
    inbox: &Inbox,
    identities: &Identities,
    read: &[Read],
) -> Result<FileLines, ReviewError> {
    let bundle = inbox.as_bundle()?;
    let mut extra = FileLines::new();
    for (i, r) in read.iter().enumerate() {
        let Ok(m) = &r.manifest else { continue };
        let sub = Submission {
            bundle: &bundle,
            identities,
            designation: &r.held.designation,
            id: &r.held.id,
            dest: inbox.root(),
        };
        let mut done = HashSet::new();
        for (j, entry) in m.files.iter().enumerate() {
            let lines = if !done.insert(entry.stored_as.as_str()) {
                vec!["the manifest lists its ciphertext twice; shown once".to_owned()]
            } else {
                match sub.file_bytes(entry, metadata::MAX_READ) {
                    Ok(Some(bytes)) => {
                        inspection_lines(&metadata::inspect_bytes(&bytes, &entry.name))
                    }
                    Ok(None) => vec![format!(
                        "larger than {} MiB: metadata and risky types are checked when it is exported",
                        metadata::MAX_READ >> 20
                    )],
                    Err(p) => vec![format!("CANNOT BE READ: {}", scrubbed(&p))],
                }
            };
            extra.insert((i, j), lines);
        }
    }
    Ok(extra)
}

/// The lines an inspection gives, as `show` and the transcript print them.
fn inspection_lines(inspection: &metadata::Inspection) -> Vec<String> {
    let mut lines: Vec<String> = inspection
        .risks
        .iter()
        .map(|r| format!("risky: {r}"))
        .collect();
    lines.extend(inspection.findings.iter().map(|f| format!("metadata: {f}")));
    lines.extend(
        inspection
            .notes
            .iter()
            .map(|n| format!("note: {}", scrubbed(n))),
    );
    if inspection.findings.is_empty() {
        lines.push("no identifying metadata found".to_owned());
    }
    lines
}

/// Lines about one exported file, by (submission index, file index).
type FileLines = BTreeMap<(usize, usize), Vec<String>>;

/// The thread as text: what `show` prints and `transcript.txt` holds.
fn render(
    inbox: &Inbox,
    designation: &str,
    key: &str,
    read: &[Read],
    extra: &FileLines,
    replies: &mut [ThreadReply],
) -> Zeroizing<String> {
    let mut t = Zeroizing::new(String::new());
    let star = if inbox.is_starred(designation) {
        " (starred)"
    } else {
        ""
    };
    let _ = writeln!(t, "Conversation with {designation}{star}");
    let _ = writeln!(
        t,
        "Key fingerprint: {key} (compare it with the other reviewers)"
    );
    let _ = writeln!(
        t,
        "Messages, file names and types come from the source: untrusted, shown escaped.\n\
         Numbers are the box's, one counter for submissions and replies: #7 is the seventh \
         thing it received (s0000000007 or r0000000007); it keeps no time but the day.\n\
         Each reply of the team follows what its signature says it answers."
    );
    let ids: Vec<String> = read.iter().map(|r| r.held.id.clone()).collect();
    for item in thread::place(&ids, replies) {
        let i = match item {
            Item::Reply(k) => {
                inbox_replies::render(&mut t, &replies[k]);
                continue;
            }
            Item::Submission(i) => i,
        };
        let r = &read[i];
        let _ = writeln!(t);
        let new = if r.held.seen { "" } else { "  [new]" };
        let _ = write!(t, "#{} submission {}", r.held.number(), r.held.id);
        let m = match &r.manifest {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(t, "{new}\n  CANNOT BE READ: {}", scrubbed(e));
                continue;
            }
        };
        let _ = writeln!(
            t,
            ", received {}{new}",
            lanterne_core::text::shown_day(&m.received)
        );
        if m.message.is_empty() {
            let _ = writeln!(t, "  (no message)");
        } else {
            let _ = writeln!(t, "  The source wrote:");
            for line in m.message.lines() {
                let _ = writeln!(t, "  | {}", scrubbed(line));
            }
        }
        for (j, f) in m.files.iter().enumerate() {
            let _ = writeln!(
                t,
                "  file {}: {}, {}, {} bytes",
                j + 1,
                shown(&f.name),
                shown(&f.content_type),
                f.size
            );
            for l in extra.get(&(i, j)).into_iter().flatten() {
                let _ = writeln!(t, "    {l}");
            }
        }
    }
    t
}

/// The fingerprint of the key pinned for `designation`, as `list` and `show` print it.
fn key_fingerprint(home: &ReviewHome, designation: &str) -> Result<String, ReviewError> {
    Ok(pinned_fingerprint(home, designation)?.unwrap_or_else(|| "not pinned yet".to_owned()))
}

/// The fingerprint of the key pinned for `designation` (`None` if none is pinned).
pub(crate) fn pinned_fingerprint(
    home: &ReviewHome,
    designation: &str,
) -> Result<Option<String>, ReviewError> {
    Ok(home
        .sources()?
        .get(designation)
        .map(|r| lanterne_core::designation::fingerprint(r)))
}

/// What `review export` did.
#[derive(Debug)]
pub struct ExportReport {
    /// The transcript's path.
    pub transcript: std::path::PathBuf,
    /// Files written.
    pub exported: usize,
    /// Files not written, and why.
    pub problems: Vec<String>,
    /// Files that carry identifying metadata.
    pub with_metadata: usize,
}

/// `review export DESIGNATION --out DIR`: decrypts every file of the thread into `out` under
/// sanitized names, never over an existing file, and writes `transcript.txt` (or
/// `transcript (N).txt`) beside them. Marks the thread seen.
pub fn export(
    home: &ReviewHome,
    designation: &str,
    identity_file: &Path,
    passphrase: Option<SecretString>,
    out: &Path,
) -> Result<ExportReport, ReviewError> {
    let identities = load(identity_file, passphrase)?;
    let mut inbox = Inbox::open(home)?;
    let thread = inbox.thread(designation)?;
    let opened = crate::inbox_key::opened_by(&inbox, &identities, identity_file, &thread)?;
    let read = read_all(&inbox, &identities, thread)?;
    make_private_dir(out)?;
    // Names already in the folder are taken: a new file gets `name (2).ext` instead.
    let existing: Vec<String> = fs::read_dir(out)
        .map_err(|source| ReviewError::Read {
            path: out.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let existing: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut names = NameSet::with_reserved(&existing);
    let transcript_name = names.claim(TRANSCRIPT);
    let bundle = inbox.as_bundle()?;
    let mut report = ExportReport {
        transcript: out.join(&transcript_name),
        exported: 0,
        problems: Vec::new(),
        with_metadata: 0,
    };
    let mut extra = FileLines::new();
    let mut n = 0;
    for (i, r) in read.iter().enumerate() {
        let m = match &r.manifest {
            Ok(m) => m,
            Err(e) => {
                report
                    .problems
                    .push(format!("submission #{}: {e}", r.held.number()));
                continue;
            }
        };
        let sub = Submission {
            bundle: &bundle,
            identities: &identities,
            designation,
            id: &r.held.id,
            dest: out,
        };
        let mut done = HashSet::new();
        for (j, entry) in m.files.iter().enumerate() {
            n += 1;
            let mut lines = Vec::new();
            if !done.insert(entry.stored_as.as_str()) {
                lines.push("NOT EXPORTED: the manifest lists its ciphertext twice".to_owned());
                extra.insert((i, j), lines);
                continue;
            }
            let name = names.claim(&sanitize(&entry.name, n));
            match sub.file(entry, out, &name) {
                Ok(note) => {
                    report.exported += 1;
                    lines.push(format!("exported as: {name}"));
                    lines.extend(note.map(|n| format!("note: {}", scrubbed(&n))));
                    let inspection = metadata::inspect(&out.join(&name));
                    if !inspection.findings.is_empty() {
                        report.with_metadata += 1;
                    }
                    lines.extend(inspection_lines(&inspection));
                }
                Err(p) => {
                    lines.push(format!("NOT EXPORTED: {}", scrubbed(&p)));
                    report.problems.push(format!(
                        "{} (#{}): {}",
                        shown(&entry.name),
                        r.held.number(),
                        p
                    ));
                }
            }
            extra.insert((i, j), lines);
        }
    }
    let mut replies = inbox_replies::read(&inbox, home, &identities, designation)?;
    let key = key_fingerprint(home, designation)?;
    let text = render(&inbox, designation, &key, &read, &extra, &mut replies);
    durable::write_new(&report.transcript, text.as_bytes(), 0o600)
        .map_err(|e| write_error(&report.transcript, e))?;
    crate::open::sync_dir(out);
    inbox.mark_seen(&opened)?;
    Ok(report)
}

/// `review star` / `review unstar`.
pub fn set_star(home: &ReviewHome, designation: &str, on: bool) -> Result<(), ReviewError> {
    Inbox::open(home)?.set_star(designation, on)
}
