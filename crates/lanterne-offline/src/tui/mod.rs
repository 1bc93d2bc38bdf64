//! `review inbox`: the inbox's interactive terminal UI (issue 14), keyboard only, for a plain
//! 80×24 terminal (Tails' included), in English or French following the locale.
//!
//! It is split so it can be tested without a terminal: `state.rs` holds the state and what each
//! key does, `model.rs` reads and writes the inbox one action at a time (the inbox's lock is
//! held per action, never for the session), `draw.rs` draws the state, `text.rs` holds every
//! string in both languages. This file owns the real terminal: termion's raw mode and
//! alternate screen, restored on exit, on error and on panic, and `$EDITOR` (started with its
//! history off when `editor.rs` knows it).
//!
//! The terminal backend is ratatui's termion one, not crossterm: crossterm's event reading
//! links `mio`, a socket crate that `scripts/check-offline-deps` keeps out of this crate.

mod draw;
mod editor;
mod model;
mod state;
mod text;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;

use age::secrecy::SecretString;
use lanterne_core::limits::MAX_REPLY_BYTES;
use ratatui::backend::TermionBackend;
use ratatui::termion::input::TermRead;
use ratatui::termion::raw::{IntoRawMode, RawTerminal};
use ratatui::termion::screen::{ToAlternateScreen, ToMainScreen};
use ratatui::termion::{cursor, is_tty};
use ratatui::Terminal;
use zeroize::{Zeroize, Zeroizing};

pub use draw::draw;
pub use ratatui::termion::event::Key;
pub use state::{App, Flow};
pub use text::Lang;

use crate::home::ReviewHome;
use crate::ReviewError;

/// The terminal's settings from before raw mode: dropping it restores them. Kept where the
/// panic hook can reach it, so a panic leaves a usable terminal and a readable message.
static RAW: Mutex<Option<RawTerminal<io::Stdout>>> = Mutex::new(None);

/// Runs the UI on the terminal until the reviewer quits. Replies go to `out`.
pub fn run(
    home: ReviewHome,
    identity_file: &Path,
    passphrase: Option<SecretString>,
    out: std::path::PathBuf,
) -> Result<(), ReviewError> {
    let term_err = |source| ReviewError::Terminal { source };
    if !is_tty(&io::stdin()) || !is_tty(&io::stdout()) {
        return Err(term_err(io::Error::other(
            "standard input and output must be a terminal",
        )));
    }
    let mut app = App::new(
        home.clone(),
        identity_file,
        passphrase,
        out,
        Lang::from_env(),
    )?;
    enter().map_err(term_err)?;
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        leave();
        default_hook(info);
    }));
    let result = event_loop(&mut app, &home);
    leave();
    let _ = std::panic::take_hook();
    result
}

/// Raw mode, the alternate screen, no cursor.
fn enter() -> io::Result<()> {
    let raw = io::stdout().into_raw_mode()?;
    *RAW.lock().unwrap_or_else(|e| e.into_inner()) = Some(raw);
    let mut out = io::stdout();
    write!(out, "{ToAlternateScreen}{}", cursor::Hide)?;
    out.flush()
}

/// Back to the main screen and the terminal's own settings (each step best effort).
fn leave() {
    let mut out = io::stdout();
    let _ = write!(out, "{}{ToMainScreen}", cursor::Show);
    let _ = out.flush();
    RAW.lock().unwrap_or_else(|e| e.into_inner()).take();
}

fn event_loop(app: &mut App, home: &ReviewHome) -> Result<(), ReviewError> {
    let term_err = |source| ReviewError::Terminal { source };
    let mut terminal = Terminal::new(TermionBackend::new(io::stdout())).map_err(term_err)?;
    repaint(&mut terminal).map_err(term_err)?;
    let mut keys = io::stdin().keys();
    loop {
        terminal.draw(|f| draw(f, app)).map_err(term_err)?;
        let Some(key) = keys.next() else {
            return Ok(());
        };
        match app.handle(key.map_err(term_err)?) {
            Flow::Continue => {}
            Flow::Quit => return Ok(()),
            Flow::Editor => {
                leave();
                let text = edit(home, &editor_command());
                enter().map_err(term_err)?;
                repaint(&mut terminal).map_err(term_err)?;
                app.edited(text.ok());
            }
        }
    }
}

/// Clears the screen and forgets what was drawn, so the next draw paints everything. Not
/// `Terminal::clear`, which asks the terminal where its cursor is: a terminal that does not
/// answer (`script`, some serial consoles) would stop the UI.
fn repaint<B: ratatui::backend::Backend>(terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

/// `$VISUAL`, else `$EDITOR`, else `vi`.
fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned())
}

/// Runs `editor` (a program and its arguments, split on spaces, then for a known editor the
/// arguments that switch its history and backups off: [`editor::history_off`]) on an empty
/// private file and returns what it holds.
///
/// This is the one place the reply exists in plaintext on disk: on the offline machine's disk,
/// in a 0700 folder of the review home holding one 0600 file, for the editor's life only. The
/// file is overwritten with zeros and the folder (with any swap or backup file the editor left
/// in it) removed as soon as the editor exits.
fn edit(home: &ReviewHome, editor: &str) -> io::Result<Zeroizing<String>> {
    let dir = tempfile::Builder::new()
        .prefix(".lanterne-edit-")
        .tempdir_in(home.dir())?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))?;
    let path = dir.path().join("reply.txt");
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .args(editor::history_off(program))
        .arg(&path)
        .status();
    let mut bytes = Zeroizing::new(Vec::new());
    let read =
        fs::File::open(&path).and_then(|f| f.take(MAX_REPLY_BYTES + 1).read_to_end(&mut bytes));
    wipe(&path);
    drop(dir);
    let status = status?;
    read?;
    if !status.success() {
        return Err(io::Error::other(format!("{program} exited with {status}")));
    }
    let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        let mut b = e.into_bytes();
        b.zeroize();
        io::Error::other("not UTF-8 text")
    })?;
    Ok(Zeroizing::new(text))
}

/// Overwrites a file with zeros and syncs it (best effort), before it is removed.
fn wipe(path: &Path) {
    let Ok(len) = fs::metadata(path).map(|m| m.len()) else {
        return;
    };
    if let Ok(mut f) = fs::OpenOptions::new().write(true).open(path) {
        let _ = io::copy(&mut io::repeat(0).take(len), &mut f);
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_gets_a_private_file_that_is_gone_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let home = ReviewHome::at(&dir.path().join("home")).unwrap();
        // A stand-in editor: records the modes it saw, writes the reply.
        let log = dir.path().join("modes");
        let script = dir.path().join("editor.sh");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\nstat -c %a \"$(dirname \"$1\")\" \"$1\" > {}\n\
                 printf 'Bonjour,\\nà bientôt.\\n' > \"$1\"\n",
                log.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
        let text = edit(&home, script.to_str().unwrap()).unwrap();
        assert_eq!(text.as_str(), "Bonjour,\nà bientôt.\n");
        assert_eq!(fs::read_to_string(&log).unwrap(), "700\n600\n");
        // Nothing is left in the review home.
        let left: Vec<_> = fs::read_dir(home.dir()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        // An editor that fails gives no text, and leaves nothing either.
        assert!(edit(&home, "false").is_err());
        assert_eq!(fs::read_dir(home.dir()).unwrap().count(), 0);
    }

    /// Stand-ins named like the known editors record their arguments: each is started with its
    /// history, swap, undo and backup files off; `vi` linked to `vim.tiny` (Debian's
    /// alternatives) counts as vim; an unknown editor gets the file only.
    #[test]
    fn known_editors_start_with_their_history_off() {
        let dir = tempfile::tempdir().unwrap();
        let home = ReviewHome::at(&dir.path().join("home")).unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let log = dir.path().join("argv");
        let vim_off = [
            "-i",
            "NONE",
            "-n",
            "-c",
            "set noundofile nobackup nowritebackup",
        ];
        let emacs_off = [
            "-Q",
            "--eval",
            "(setq auto-save-list-file-prefix nil auto-save-default nil make-backup-files nil)",
        ];
        let cases: [(&str, &[&str]); 6] = [
            ("vim", &vim_off),
            ("nvim", &vim_off),
            ("vim.tiny", &vim_off),
            ("emacs", &emacs_off),
            ("nano", &["-I"]),
            ("myedit", &[]),
        ];
        for (name, _) in &cases {
            let script = bin.join(name);
            fs::write(
                &script,
                format!(
                    "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\nfor last; do :; done\n\
                     echo reply > \"$last\"\n",
                    log.display()
                ),
            )
            .unwrap();
            fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::os::unix::fs::symlink(bin.join("vim.tiny"), bin.join("vi")).unwrap();
        let argv = |editor: &str| -> Vec<String> {
            let text = edit(&home, editor).unwrap();
            assert_eq!(text.as_str(), "reply\n", "{editor}");
            let lines: Vec<String> = fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            let (file, flags) = lines.split_last().unwrap();
            assert!(file.ends_with("/reply.txt"), "{editor}: {lines:?}");
            flags.to_vec()
        };
        for (name, off) in cases {
            let editor = bin.join(name);
            assert_eq!(argv(editor.to_str().unwrap()), off, "{name}");
        }
        assert_eq!(
            argv(bin.join("vi").to_str().unwrap()),
            vim_off,
            "vi -> vim.tiny"
        );
        // The reviewer's own arguments come first.
        let with_args = format!("{} -p", bin.join("vim").display());
        let mut want = vec!["-p"];
        want.extend(vim_off);
        assert_eq!(argv(&with_args), want);
    }
}
