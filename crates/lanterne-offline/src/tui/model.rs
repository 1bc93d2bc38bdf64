//! What the inbox's terminal UI shows, read from the inbox (`inbox.rs`) one action at a time:
//! each function here takes the inbox's lock, reads or writes, and lets it go, so a
//! `review import` in another terminal waits for one action, never for the whole session.
//!
//! Everything the source chose (names, types, messages) is escaped here, before it enters the
//! view model ([`shown`], [`scrubbed`]): no control character can reach the terminal. The
//! decrypted text lives in [`Zeroizing`] strings, in memory only.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use lanterne_core::manifest::{FileEntry, Manifest};
use zeroize::Zeroizing;

use super::text::{fill, Lang};
use crate::home::ReviewHome;
use crate::identity::Identities;
use crate::inbox::{Held, Inbox};
use crate::inbox_replies::ThreadReply;
use crate::metadata;
use crate::names::{sanitize, scrubbed, shown, NameSet};
use crate::open::{make_private_dir, Submission};
use crate::thread::Item;
use crate::ReviewError;

/// One source in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceRow {
    pub(crate) designation: String,
    pub(crate) starred: bool,
    pub(crate) submissions: usize,
    pub(crate) unseen: usize,
    /// The highest number among its submissions (the box's sequence, as [`Held::number`]).
    pub(crate) last: u64,
}

/// One line-group of a conversation.
pub(crate) enum Entry {
    /// A submission's heading.
    Submission {
        seq: u64,
        new: bool,
        received: String,
    },
    /// A submission whose manifest cannot be read, and why (escaped).
    Unreadable {
        seq: u64,
        why: String,
    },
    /// The source's message, line by line, escaped.
    Message {
        lines: Vec<Zeroizing<String>>,
    },
    NoMessage,
    /// A file of a submission: shown escaped; `entry` (raw) is what export needs.
    File {
        id: String,
        entry: FileEntry,
        name: Zeroizing<String>,
        content_type: String,
        notes: Vec<String>,
    },
    /// A reply of the team, signed by a reviewer pinned on this machine for this source,
    /// placed after what its signature says it answers (`crate::thread`); its text is escaped
    /// line by line when drawn, and `warnings` (escaped) say if it was given more than once.
    /// Built by [`team_reply`].
    Reply {
        /// The box's number (`r<seq>-…`): it names the reply, it does not place it.
        seq: u64,
        author: String,
        text: Zeroizing<String>,
        warnings: Vec<String>,
    },
    /// A reply that is not shown (forged, moved, changed, unsigned, old or unreadable), and
    /// why (escaped): a warning, never its text.
    RefusedReply {
        seq: u64,
        why: String,
        warnings: Vec<String>,
    },
    /// A reply written in this session, in the outgoing folder, not pushed by this program;
    /// escaped when drawn.
    Unsent {
        text: Zeroizing<String>,
    },
}

/// A source's conversation.
pub(crate) struct Thread {
    pub(crate) designation: String,
    /// The fingerprint of the key pinned for the source, if one is.
    pub(crate) key: Option<String>,
    pub(crate) starred: bool,
    pub(crate) entries: Vec<Entry>,
}

/// One message line that holds the searched text.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) designation: String,
    pub(crate) seq: u64,
    pub(crate) line: Zeroizing<String>,
}

/// The sources, newest activity first (as `review list`); no decryption needed.
pub(crate) fn sources(home: &ReviewHome) -> Result<Vec<SourceRow>, ReviewError> {
    let inbox = Inbox::open(home)?;
    let mut by: BTreeMap<String, SourceRow> = BTreeMap::new();
    for h in inbox.held()? {
        let row = by
            .entry(h.designation.clone())
            .or_insert_with(|| SourceRow {
                starred: inbox.is_starred(&h.designation),
                designation: h.designation.clone(),
                submissions: 0,
                unseen: 0,
                last: 0,
            });
        row.submissions += 1;
        row.unseen += usize::from(!h.seen);
        row.last = row.last.max(h.number());
    }
    let mut rows: Vec<SourceRow> = by.into_values().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.last));
    Ok(rows)
}

/// Stars or unstars a source, durably.
pub(crate) fn set_star(home: &ReviewHome, designation: &str, on: bool) -> Result<(), ReviewError> {
    Inbox::open(home)?.set_star(designation, on)
}

/// Decrypts a source's conversation in memory (manifests, and each file up to
/// [`metadata::MAX_READ`] to look for identifying metadata) and marks it seen.
pub(crate) fn open_thread(
    home: &ReviewHome,
    identities: &Identities,
    designation: &str,
    lang: Lang,
) -> Result<Thread, ReviewError> {
    let t = lang.text();
    let mut inbox = Inbox::open(home)?;
    let held = inbox.thread(designation)?;
    let bundle = inbox.as_bundle()?;
    // Each submission's entries, then the team's replies placed among them. Only what this
    // identity opened is marked seen: a key that opens nothing leaves every submission unseen
    // for the reviewer it belongs to (issue 22).
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    let mut opened: Vec<Held> = Vec::new();
    for h in &held {
        let mut entries = Vec::new();
        let sub = Submission {
            bundle: &bundle,
            identities,
            designation,
            id: &h.id,
            dest: inbox.root(),
        };
        let m = match sub.manifest() {
            Ok(m) => m,
            Err(why) => {
                entries.push(Entry::Unreadable {
                    seq: h.number(),
                    why: scrubbed(&why),
                });
                groups.push(entries);
                continue;
            }
        };
        opened.push(h.clone());
        entries.push(Entry::Submission {
            seq: h.number(),
            new: !h.seen,
            received: lanterne_core::text::shown_day(&m.received),
        });
        if m.message.trim().is_empty() {
            entries.push(Entry::NoMessage);
        } else {
            entries.push(Entry::Message {
                lines: message_lines(&m),
            });
        }
        let mut done = HashSet::new();
        for f in &m.files {
            let notes = if !done.insert(f.stored_as.as_str()) {
                vec![t.listed_twice.to_owned()]
            } else {
                match sub.file_bytes(f, metadata::MAX_READ) {
                    Ok(Some(bytes)) => {
                        inspection_notes(&metadata::inspect_bytes(&bytes, &f.name), lang)
                    }
                    Ok(None) => vec![fill(
                        t.too_large_to_check,
                        &[&(metadata::MAX_READ >> 20).to_string()],
                    )],
                    Err(p) => vec![fill(t.cannot_read, &[&scrubbed(&p)])],
                }
            };
            entries.push(Entry::File {
                id: h.id.clone(),
                name: Zeroizing::new(shown(&f.name)),
                content_type: shown(&f.content_type),
                entry: f.clone(),
                notes,
            });
        }
        groups.push(entries);
    }
    let mut replies = crate::inbox_replies::read(&inbox, home, identities, designation)?;
    let ids: Vec<String> = held.iter().map(|h| h.id.clone()).collect();
    let order = crate::thread::place(&ids, &mut replies);
    let mut groups: Vec<Option<Vec<Entry>>> = groups.into_iter().map(Some).collect();
    let mut replies: Vec<Option<ThreadReply>> = replies.into_iter().map(Some).collect();
    let mut entries = Vec::new();
    for item in order {
        match item {
            Item::Submission(i) => entries.extend(groups[i].take().into_iter().flatten()),
            Item::Reply(i) => entries.extend(replies[i].take().map(team_reply)),
        }
    }
    let thread = Thread {
        designation: designation.to_owned(),
        key: crate::inbox_read::pinned_fingerprint(home, designation)?,
        starred: inbox.is_starred(designation),
        entries,
    };
    inbox.mark_seen(&opened)?;
    Ok(thread)
}

/// A reply of the team as the thread shows it (`inbox_replies.rs` checked it):
/// [`Entry::Reply`] for one signed by a pinned reviewer for this source that decrypts,
/// [`Entry::RefusedReply`] with why for any other.
fn team_reply(r: ThreadReply) -> Entry {
    let warnings = r.warnings.iter().map(|w| scrubbed(w)).collect();
    match (r.author, r.text) {
        (Ok(author), Ok(text)) => Entry::Reply {
            seq: r.seq,
            author,
            text,
            warnings,
        },
        (Err(why), _) | (Ok(_), Err(why)) => Entry::RefusedReply {
            seq: r.seq,
            why: scrubbed(&why),
            warnings,
        },
    }
}

/// The message's lines, each escaped.
fn message_lines(m: &Manifest) -> Vec<Zeroizing<String>> {
    m.message
        .lines()
        .map(|l| Zeroizing::new(scrubbed(l)))
        .collect()
}

/// What an inspection found, as the thread's lines under a file.
fn inspection_notes(inspection: &metadata::Inspection, lang: Lang) -> Vec<String> {
    let t = lang.text();
    // Risks first: they say not to open the file on this machine.
    let mut lines: Vec<String> = inspection
        .risks
        .iter()
        .map(|r| fill(t.risky, &[&scrubbed(r)]))
        .collect();
    lines.extend(
        inspection
            .findings
            .iter()
            .map(|f| fill(t.metadata, &[&scrubbed(&f.to_string())])),
    );
    lines.extend(
        inspection
            .notes
            .iter()
            .map(|n| fill(t.note, &[&scrubbed(n)])),
    );
    if inspection.findings.is_empty() {
        lines.push(t.no_metadata.to_owned());
    }
    lines
}

/// Every message line of every source that holds `query` (case-insensitive), in the inbox's
/// order, at most `max`.
pub(crate) fn search(
    home: &ReviewHome,
    identities: &Identities,
    query: &str,
    max: usize,
) -> Result<Vec<Hit>, ReviewError> {
    let needle = Zeroizing::new(query.to_lowercase());
    let inbox = Inbox::open(home)?;
    let bundle = inbox.as_bundle()?;
    let mut hits = Vec::new();
    let held: Vec<Held> = inbox.held()?;
    for h in &held {
        let sub = Submission {
            bundle: &bundle,
            identities,
            designation: &h.designation,
            id: &h.id,
            dest: inbox.root(),
        };
        let Ok(m) = sub.manifest() else { continue };
        for line in m.message.lines() {
            if hits.len() == max {
                return Ok(hits);
            }
            if Zeroizing::new(line.to_lowercase()).contains(needle.as_str()) {
                hits.push(Hit {
                    designation: h.designation.clone(),
                    seq: h.number(),
                    line: Zeroizing::new(scrubbed(line)),
                });
            }
        }
    }
    Ok(hits)
}

/// What exporting one file did.
pub(crate) struct Exported {
    pub(crate) path: PathBuf,
    pub(crate) findings: usize,
    pub(crate) notes: Vec<String>,
}

/// Decrypts one file of `designation`'s submission `id` into `dir` (created 0700 if missing)
/// under its sanitized name, never over an existing file, and inspects it.
pub(crate) fn export_file(
    home: &ReviewHome,
    identities: &Identities,
    designation: &str,
    id: &str,
    entry: &FileEntry,
    dir: &Path,
    lang: Lang,
) -> Result<Exported, String> {
    let inbox = Inbox::open(home).map_err(|e| e.to_string())?;
    let bundle = inbox.as_bundle().map_err(|e| e.to_string())?;
    make_private_dir(dir).map_err(|e| e.to_string())?;
    let existing: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let existing: Vec<&str> = existing.iter().map(String::as_str).collect();
    let name = NameSet::with_reserved(&existing).claim(&sanitize(&entry.name, 1));
    let sub = Submission {
        bundle: &bundle,
        identities,
        designation,
        id,
        dest: dir,
    };
    let remark = sub.file(entry, dir, &name).map_err(|e| scrubbed(&e))?;
    crate::open::sync_dir(dir);
    let path = dir.join(&name);
    let inspection = metadata::inspect(&path);
    let mut notes = inspection_notes(&inspection, lang);
    notes.extend(remark.map(|r| fill(lang.text().note, &[&scrubbed(&r)])));
    Ok(Exported {
        path,
        findings: inspection.findings.len(),
        notes,
    })
}
