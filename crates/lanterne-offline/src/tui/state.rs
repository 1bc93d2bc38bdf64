//! The inbox UI's state and what each key does to it: pure of any terminal, so the tests drive
//! it key by key (`tests/inbox_tui.rs`) and `draw.rs` only reads it.
//!
//! Each action reads or writes the inbox through `model.rs`, under the inbox's lock for that
//! action only, then reloads what it shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use lanterne_core::limits::MAX_REPLY_BYTES;
use ratatui::termion::event::Key;
use zeroize::Zeroizing;

use super::model::{self, Entry, Hit, SourceRow, Thread};
use super::text::{fill, Lang};
use crate::home::ReviewHome;
use crate::identity::{self, Identities};
use crate::ReviewError;

/// Most search results kept.
const MAX_HITS: usize = 500;

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    Sources,
    Thread,
    Search,
    Help,
}

/// What the keyboard is typing into, if anything.
pub(crate) enum Input {
    None,
    /// The search query being typed.
    Search(Zeroizing<String>),
    /// A reply being written (to the open thread's source).
    Reply(Zeroizing<String>),
    /// The folder a file is exported into.
    ExportDir(String),
}

/// What the terminal loop must do after a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Open `$EDITOR` for the reply, then call [`App::edited`].
    Editor,
    Quit,
}

/// The inbox UI: what it shows and what the session holds.
pub struct App {
    pub(crate) lang: Lang,
    home: ReviewHome,
    identity_file: PathBuf,
    identities: Identities,
    /// The outgoing replies folder.
    out: PathBuf,
    pub(crate) screen: Screen,
    /// The screen `?` was pressed on.
    before_help: Screen,
    pub(crate) sources: Vec<SourceRow>,
    pub(crate) source_sel: usize,
    pub(crate) thread: Option<Thread>,
    pub(crate) entry_sel: usize,
    pub(crate) query: Zeroizing<String>,
    pub(crate) hits: Vec<Hit>,
    pub(crate) hit_sel: usize,
    pub(crate) input: Input,
    pub(crate) status: String,
    /// Replies written in this session, by designation: shown as not sent yet.
    unsent: BTreeMap<String, Vec<Zeroizing<String>>>,
}

impl App {
    /// Loads the identity (once, for the session) and the source list. Replies go to `out`.
    pub fn new(
        home: ReviewHome,
        identity_file: &Path,
        passphrase: Option<SecretString>,
        out: PathBuf,
        lang: Lang,
    ) -> Result<App, ReviewError> {
        let identities = identity::load(identity_file, passphrase)?;
        let sources = model::sources(&home)?;
        Ok(App {
            lang,
            home,
            identity_file: identity_file.to_owned(),
            identities,
            out,
            screen: Screen::Sources,
            before_help: Screen::Sources,
            sources,
            source_sel: 0,
            thread: None,
            entry_sel: 0,
            query: Zeroizing::new(String::new()),
            hits: Vec::new(),
            hit_sel: 0,
            input: Input::None,
            status: String::new(),
            unsent: BTreeMap::new(),
        })
    }

    /// The default outgoing replies folder: `LANTERNE_REVIEW_HOME/outgoing`.
    pub fn default_out(home: &ReviewHome) -> PathBuf {
        home.dir().join("outgoing")
    }

    /// The status line's text.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// Applies one key.
    pub fn handle(&mut self, key: Key) -> Flow {
        match std::mem::replace(&mut self.input, Input::None) {
            Input::None => {}
            Input::Search(q) => return self.type_search(q, key),
            Input::Reply(r) => return self.type_reply(r, key),
            Input::ExportDir(d) => return self.type_export(d, key),
        }
        if key == Key::Char('?') && self.screen != Screen::Help {
            self.before_help = self.screen;
            self.screen = Screen::Help;
            return Flow::Continue;
        }
        match self.screen {
            Screen::Sources => self.on_sources(key),
            Screen::Thread => self.on_thread(key),
            Screen::Search => self.on_search(key),
            Screen::Help => {
                if matches!(key, Key::Esc | Key::Char('q') | Key::Char('?')) {
                    self.screen = self.before_help;
                }
                Flow::Continue
            }
        }
    }

    fn on_sources(&mut self, key: Key) -> Flow {
        match key {
            Key::Esc | Key::Char('q') => return Flow::Quit,
            Key::Up | Key::Char('k') => self.source_sel = self.source_sel.saturating_sub(1),
            Key::Down | Key::Char('j') => {
                self.source_sel = (self.source_sel + 1).min(self.sources.len().saturating_sub(1))
            }
            Key::Char('\n') => {
                if let Some(d) = self.selected_source() {
                    self.open(&d, None);
                }
            }
            Key::Char('s') => {
                if let Some(d) = self.selected_source() {
                    self.toggle_star(&d);
                }
            }
            Key::Char('/') => self.input = Input::Search(Zeroizing::new(String::new())),
            _ => {}
        }
        Flow::Continue
    }

    fn on_thread(&mut self, key: Key) -> Flow {
        let count = self.thread.as_ref().map_or(0, |t| t.entries.len());
        match key {
            Key::Esc | Key::Char('q') => {
                self.thread = None;
                self.screen = Screen::Sources;
                self.reload_sources();
            }
            Key::Up | Key::Char('k') => self.entry_sel = self.entry_sel.saturating_sub(1),
            Key::Down | Key::Char('j') => {
                self.entry_sel = (self.entry_sel + 1).min(count.saturating_sub(1))
            }
            Key::Home => self.entry_sel = 0,
            Key::End => self.entry_sel = count.saturating_sub(1),
            Key::Char('s') => {
                if let Some(d) = self.thread.as_ref().map(|t| t.designation.clone()) {
                    self.toggle_star(&d);
                    let on = self.sources.iter().any(|r| r.designation == d && r.starred);
                    if let Some(t) = self.thread.as_mut() {
                        t.starred = on;
                    }
                }
            }
            Key::Char('r') => self.input = Input::Reply(Zeroizing::new(String::new())),
            Key::Char('e') => return Flow::Editor,
            Key::Char('x') => match self.selected_file() {
                Some(_) => self.input = Input::ExportDir(self.default_export_dir()),
                None => self.status = self.lang.text().st_not_a_file.to_owned(),
            },
            Key::Char('/') => self.input = Input::Search(Zeroizing::new(String::new())),
            _ => {}
        }
        Flow::Continue
    }

    fn on_search(&mut self, key: Key) -> Flow {
        match key {
            Key::Esc | Key::Char('q') => self.screen = Screen::Sources,
            Key::Up | Key::Char('k') => self.hit_sel = self.hit_sel.saturating_sub(1),
            Key::Down | Key::Char('j') => {
                self.hit_sel = (self.hit_sel + 1).min(self.hits.len().saturating_sub(1))
            }
            Key::Char('\n') => {
                if let Some(hit) = self.hits.get(self.hit_sel).cloned() {
                    self.open(&hit.designation, Some(hit.seq));
                }
            }
            Key::Char('/') => self.input = Input::Search(Zeroizing::new(String::new())),
            _ => {}
        }
        Flow::Continue
    }

    fn type_search(&mut self, mut q: Zeroizing<String>, key: Key) -> Flow {
        match key {
            Key::Esc => {}
            Key::Char('\n') => {
                if !q.trim().is_empty() {
                    self.run_search(q);
                }
            }
            Key::Backspace => {
                q.pop();
                self.input = Input::Search(q);
            }
            Key::Char(c) if !c.is_control() && q.len() < 200 => {
                q.push(c);
                self.input = Input::Search(q);
            }
            _ => self.input = Input::Search(q),
        }
        Flow::Continue
    }

    fn run_search(&mut self, q: Zeroizing<String>) {
        match model::search(&self.home, &self.identities, &q, MAX_HITS) {
            Ok(hits) => {
                self.status = fill(self.lang.text().st_hits, &[&hits.len().to_string()]);
                self.hits = hits;
                self.hit_sel = 0;
                self.query = q;
                self.screen = Screen::Search;
            }
            Err(e) => self.error(&e),
        }
    }

    fn type_reply(&mut self, mut text: Zeroizing<String>, key: Key) -> Flow {
        let t = self.lang.text();
        match key {
            Key::Esc => self.status = t.st_cancelled.to_owned(),
            Key::Ctrl('d') => self.send(text),
            Key::Backspace => {
                text.pop();
                self.input = Input::Reply(text);
            }
            Key::Char(c) if c == '\n' || c == '\t' || !c.is_control() => {
                if (text.len() + c.len_utf8()) as u64 > MAX_REPLY_BYTES {
                    self.status = t.st_too_long.to_owned();
                } else {
                    text.push(c);
                }
                self.input = Input::Reply(text);
            }
            _ => self.input = Input::Reply(text),
        }
        Flow::Continue
    }

    /// Encrypts and signs the reply into the outgoing folder, as `review reply` does, with the
    /// inbox (a folder of the bundle format) as the bundle, under the inbox's lock.
    fn send(&mut self, text: Zeroizing<String>) {
        let t = self.lang.text();
        let Some(designation) = self.thread.as_ref().map(|t| t.designation.clone()) else {
            return;
        };
        if text.trim().is_empty() {
            self.status = t.st_empty_reply.to_owned();
            return;
        }
        let sent = crate::inbox::Inbox::open(&self.home).and_then(|inbox| {
            crate::reply::reply_text(
                &crate::ReplyRequest {
                    bundle: inbox.root(),
                    designation: &designation,
                    message: Path::new("the reply typed in the inbox"),
                    identity: &self.identity_file,
                    out: &self.out,
                    home: &self.home,
                    after: None,
                },
                &text,
            )
        });
        match sent {
            Ok(path) => {
                self.status = fill(t.st_sent, &[&path.display().to_string()]);
                if let Some(th) = self.thread.as_mut() {
                    th.entries.push(Entry::Unsent {
                        text: Zeroizing::new(text.to_string()),
                    });
                    self.entry_sel = th.entries.len() - 1;
                }
                self.unsent.entry(designation).or_default().push(text);
            }
            Err(e) => {
                // Kept, so the reviewer does not lose it: fix the cause, Ctrl-D again.
                self.error(&e);
                self.input = Input::Reply(text);
            }
        }
    }

    /// The text `$EDITOR` left, into the reply being written (or nothing if it failed).
    pub fn edited(&mut self, text: Option<Zeroizing<String>>) {
        match text {
            Some(text) => self.input = Input::Reply(text),
            None => self.status = self.lang.text().st_editor_failed.to_owned(),
        }
    }

    fn type_export(&mut self, mut dir: String, key: Key) -> Flow {
        match key {
            Key::Esc => self.status = self.lang.text().st_cancelled.to_owned(),
            Key::Char('\n') => self.export(&dir),
            Key::Backspace => {
                dir.pop();
                self.input = Input::ExportDir(dir);
            }
            Key::Char(c) if !c.is_control() && dir.len() < 4096 => {
                dir.push(c);
                self.input = Input::ExportDir(dir);
            }
            _ => self.input = Input::ExportDir(dir),
        }
        Flow::Continue
    }

    fn export(&mut self, dir: &str) {
        let t = self.lang.text();
        let Some((designation, id, entry)) = self.selected_file() else {
            return;
        };
        let dir = expand_home(dir.trim());
        let done = model::export_file(
            &self.home,
            &self.identities,
            &designation,
            &id,
            &entry,
            &dir,
            self.lang,
        );
        match done {
            Ok(x) => {
                let path = x.path.display().to_string();
                self.status = if x.findings == 0 {
                    fill(t.st_exported, &[&path])
                } else {
                    fill(t.st_exported_metadata, &[&path, &x.findings.to_string()])
                };
                let sel = self.entry_sel;
                if let Some(Entry::File { notes, .. }) =
                    self.thread.as_mut().and_then(|th| th.entries.get_mut(sel))
                {
                    *notes = x.notes;
                }
            }
            Err(e) => self.status = fill(t.st_error, &[&e]),
        }
    }

    /// `~/lanterne-export/<designation>`, as typed (the reviewer edits it).
    fn default_export_dir(&self) -> String {
        let d = self.thread.as_ref().map_or("", |t| t.designation.as_str());
        format!("~/lanterne-export/{d}")
    }

    fn selected_source(&self) -> Option<String> {
        self.sources
            .get(self.source_sel)
            .map(|r| r.designation.clone())
    }

    fn selected_file(&self) -> Option<(String, String, lanterne_core::manifest::FileEntry)> {
        let th = self.thread.as_ref()?;
        match th.entries.get(self.entry_sel)? {
            Entry::File { id, entry, .. } => {
                Some((th.designation.clone(), id.clone(), entry.clone()))
            }
            _ => None,
        }
    }

    /// Opens a source's conversation (marking it seen), on the submission `seq` if given.
    fn open(&mut self, designation: &str, seq: Option<u64>) {
        match model::open_thread(&self.home, &self.identities, designation, self.lang) {
            Ok(mut th) => {
                for text in self.unsent.get(designation).into_iter().flatten() {
                    th.entries.push(Entry::Unsent {
                        text: Zeroizing::new(text.to_string()),
                    });
                }
                self.entry_sel = seq
                    .and_then(|s| {
                        th.entries.iter().position(|e| {
                            matches!(e, Entry::Submission { seq, .. }
                                | Entry::Unreadable { seq, .. } if *seq == s)
                        })
                    })
                    .unwrap_or(0);
                self.thread = Some(th);
                self.screen = Screen::Thread;
                self.status.clear();
                self.reload_sources();
            }
            Err(e) => self.error(&e),
        }
    }

    fn toggle_star(&mut self, designation: &str) {
        let t = self.lang.text();
        let on = !self
            .sources
            .iter()
            .any(|r| r.designation == designation && r.starred);
        match model::set_star(&self.home, designation, on) {
            Ok(()) => {
                let s = if on { t.st_starred } else { t.st_unstarred };
                self.status = fill(s, &[designation]);
            }
            Err(e) => self.error(&e),
        }
        self.reload_sources();
    }

    /// Reads the source list again (another terminal may have imported), keeping the
    /// selected source selected.
    fn reload_sources(&mut self) {
        let selected = self.selected_source();
        match model::sources(&self.home) {
            Ok(rows) => {
                self.sources = rows;
                self.source_sel = selected
                    .and_then(|d| self.sources.iter().position(|r| r.designation == d))
                    .unwrap_or(0);
            }
            Err(e) => self.error(&e),
        }
    }

    fn error(&mut self, e: &ReviewError) {
        // The first line: the status line is one line.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        self.status = fill(self.lang.text().st_error, &[first]);
    }
}

/// `~/…` under `$HOME`.
fn expand_home(dir: &str) -> PathBuf {
    match (dir.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(dir),
    }
}
