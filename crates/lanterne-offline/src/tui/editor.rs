//! The arguments that start a known `$EDITOR` with its history and backups off.
//!
//! The reply `e` writes lives in a private temporary folder that is wiped and removed when the
//! editor exits, but editors also keep text elsewhere: vim's `~/.viminfo` and neovim's shada
//! file (registers, search history), swap files, undo files and backups in folders their
//! configuration names, emacs' `auto-save-list/`, nano's history files. For the editors known
//! here those are switched off on the command line; SECURITY.md says what remains.

use std::path::{Path, PathBuf};

/// vim and neovim: no viminfo/shada (`-i NONE`), no swap file (`-n`), and after the
/// reviewer's vimrc no undo file and no backup.
const VIM: &[&str] = &[
    "-i",
    "NONE",
    "-n",
    "-c",
    "set noundofile nobackup nowritebackup",
];

/// emacs: no init or site files (`-Q`), no auto-save (nor its list) and no backup file.
const EMACS: &[&str] = &[
    "-Q",
    "--eval",
    "(setq auto-save-list-file-prefix nil auto-save-default nil make-backup-files nil)",
];

/// nano: no nanorc (`-I`), so no `historylog` or `positionlog`, and no backups.
const NANO: &[&str] = &["-I"];

/// The arguments that keep `program` from writing history or backups outside the temporary
/// folder, by the name of the file it runs (through PATH and symlinks, so Debian's `vi` →
/// `vim.tiny` counts as vim); none for an editor not known here.
pub(super) fn history_off(program: &str) -> &'static [&'static str] {
    let real = resolve(program).and_then(|p| std::fs::canonicalize(p).ok());
    let name = real
        .as_deref()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    // vim.basic, vim.tiny, vim.nox, vim.gtk3; emacs-nox, emacs-gtk, emacs29…
    let family = name.split(['.', '-']).next().unwrap_or(name);
    match family {
        "vim" | "nvim" | "gvim" => VIM,
        "emacs" => EMACS,
        "nano" => NANO,
        _ => &[],
    }
}

/// `program` itself if it names a path, else the first file of that name in `PATH`.
fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The real vim (scripts/install-deps installs it), run as `e` runs it with a fresh home:
    /// it writes the reply and leaves nothing in the home, where without the flags it leaves
    /// `.viminfo` with what was typed.
    #[test]
    fn the_real_vim_leaves_no_viminfo() {
        let run = |flags: &[&str]| -> Vec<String> {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().join("home");
            std::fs::create_dir(&home).unwrap();
            let file = dir.path().join("reply.txt");
            let status = Command::new("vim")
                .args(flags)
                .args(["-c", "normal isecret words", "-c", "wq"])
                .arg(&file)
                .env("HOME", &home)
                .env_remove("VIMINIT")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("vim is installed (scripts/install-deps)");
            assert!(status.success());
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "secret words\n");
            std::fs::read_dir(&home)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(run(&[]), [".viminfo"], "vim without the flags");
        assert_eq!(run(history_off("vim")), Vec::<String>::new());
    }
}
