//! Drives a terminal program in a real `tmux` (issue 14's end-to-end test of `review inbox`):
//! a detached session of 80×24 on a private socket inside the test's temp folder, keys sent
//! with `send-keys`, the screen read with `capture-pane`. Nothing here knows the program: tests
//! wait for text they expect on the screen, never for a fixed time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One tmux server with one session, killed when dropped.
pub struct Tmux {
    socket: PathBuf,
}

const SESSION: &str = "lanterne-test";

impl Tmux {
    /// Starts `program ARGS` in a new 80×24 session, with only `env` (and PATH, HOME, TERM)
    /// in its environment; the tmux server's socket lives in `dir`.
    pub fn start(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Tmux {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let mut cmd = Command::new("tmux");
        cmd.arg("-S")
            .arg(&tmux.socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "80",
                "-y",
                "24",
            ])
            .args(["-s", SESSION])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        // The session ends with the program; `remain-on-exit` keeps its last screen readable.
        cmd.arg("--").arg(program).args(args);
        let out = cmd.output().expect("the `tmux` CLI must be installed");
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux.run(&["set-option", "-t", SESSION, "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    /// Sends tmux key names (`Enter`, `Escape`, `Down`, `C-d`, `j`, …), one by one.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", SESSION, k]);
        }
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// The visible screen, as text.
    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", SESSION]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the program has exited.
    pub fn exited(&self) -> bool {
        let out = self.run(&["display-message", "-p", "-t", SESSION, "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Waits (up to `secs`) until the screen shows `text`; panics with the screen otherwise.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} not on the screen after {secs} s:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to `secs`) for the program to exit.
    pub fn wait_exit(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.exited() {
            assert!(
                Instant::now() < deadline,
                "still running after {secs} s:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}
