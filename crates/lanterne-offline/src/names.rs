//! Names that come from outside, made safe: file names for the reviewer's disk, and any
//! untrusted text for the reviewer's terminal.
//!
//! A manifest's `files[].name` is whatever the source's browser sent, so it can hold `../`,
//! absolute paths, NUL bytes, terminal escape sequences or right-to-left overrides that make
//! `gpj.exe` look like `exe.jpg`. [`sanitize`] reduces it to one plain path component that
//! cannot leave the output folder; [`NameSet`] keeps the names of one folder distinct;
//! [`shown`] and [`scrubbed`] (defined in `lanterne_core::text`, which the networked
//! workstation uses too) make any untrusted string harmless to print.

use std::collections::{HashMap, HashSet};

use lanterne_core::text::is_format_char;
pub use lanterne_core::text::{scrubbed, shown};

/// Longest saved name, in bytes, before a ` (N)` suffix. eCryptfs (home folders on some
/// offline setups) allows 143 bytes, so this leaves room for the suffix.
const MAX_NAME_BYTES: usize = 120;

/// Longest extension kept when a long name is cut.
const MAX_EXT_BYTES: usize = 16;

/// Characters that some filesystems (FAT on a USB stick, NTFS) refuse: replaced by `_` so the
/// folder can be copied anywhere.
fn is_unportable(c: char) -> bool {
    matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

/// Turns an untrusted file name into one safe path component, or `file-N` if nothing is left.
///
/// Keeps only the last component of a `/` or `\` path, drops control and invisible characters,
/// replaces characters that FAT refuses, trims spaces and leading/trailing dots (so no `..`,
/// no hidden files), and cuts to [`MAX_NAME_BYTES`] keeping a short extension.
pub fn sanitize(untrusted: &str, n: usize) -> String {
    let last = untrusted.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_format_char(c))
        .map(|c| if is_unportable(c) { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim_matches(|c: char| c.is_whitespace() || c == '.')
        .to_owned();
    let cut = cut_to(&trimmed, MAX_NAME_BYTES);
    if cut.is_empty() {
        format!("file-{n}")
    } else {
        cut
    }
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a short extension.
fn cut_to(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match split_ext(name) {
        (stem, ext) if ext.len() <= MAX_EXT_BYTES => (stem, ext),
        _ => (name, ""),
    };
    let mut end = max.saturating_sub(ext.len()).min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(|c: char| c.is_whitespace() || c == '.');
    format!("{stem}{ext}")
}

/// `("report", ".pdf")` for `report.pdf`; the extension is empty if there is none.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The names already used in one output folder, compared without case (FAT, macOS).
#[derive(Debug, Default)]
pub struct NameSet {
    used: HashSet<String>,
    /// For each name claimed more than once (lower-cased), the next ` (k)` number to try, so
    /// a run of equal names costs linear work, not quadratic.
    next: HashMap<String, u64>,
    /// Candidate names tried so far: the work done, which the tests bound.
    probes: u64,
}

impl NameSet {
    /// A set where `reserved` names (like `message.txt`) are already taken.
    pub fn with_reserved(reserved: &[&str]) -> NameSet {
        NameSet {
            used: reserved.iter().map(|r| r.to_lowercase()).collect(),
            ..NameSet::default()
        }
    }

    /// Returns `name`, or `name (2).ext`, `name (3).ext`… if taken, and marks it used.
    pub fn claim(&mut self, name: &str) -> String {
        if self.used.insert(name.to_lowercase()) {
            return name.to_owned();
        }
        let (stem, ext) = split_ext(name);
        let next = self.next.entry(name.to_lowercase()).or_insert(2);
        // A candidate skipped here is a name another claim took, and this counter moves past
        // it for good: together the claims try about as many candidates as there are names.
        loop {
            let candidate = format!("{stem} ({next}){ext}");
            *next += 1;
            self.probes += 1;
            if self.used.insert(candidate.to_lowercase()) {
                return candidate;
            }
        }
    }
}

/// Whether `s` is a safe name chosen by the server: ASCII letters, digits and `-`, not
/// starting with `-`, at most 128 bytes. Such a name can never be `.`, `..` or hold `/`.
pub fn is_server_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_names_are_one_plain_component() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..", "file-3"),
            ("...", "file-3"),
            ("/", "file-3"),
            ("", "file-3"),
            ("C:\\Users\\jdoe\\secret.docx", "secret.docx"),
            (".bashrc", "bashrc"),
            ("  .hidden.  ", "hidden"),
            ("a\0b\x1b[31mc.txt", "ab[31mc.txt"),
            ("photo\u{202E}gpj.exe", "photogpj.exe"),
            ("what?: \"quoted\" <x>|y*.txt", "what__ _quoted_ _x__y_.txt"),
            ("dir/\u{0007}\u{0008}", "file-3"),
        ];
        for (input, want) in cases {
            let got = sanitize(input, 3);
            assert_eq!(got, want, "{input:?}");
            assert!(!got.contains('/') && !got.contains('\0') && !got.starts_with('.'));
        }
    }

    #[test]
    fn long_names_are_cut_on_char_boundaries_keeping_the_extension() {
        let long = format!("{}.pdf", "é".repeat(200));
        let got = sanitize(&long, 1);
        assert!(got.len() <= MAX_NAME_BYTES, "{}", got.len());
        assert!(got.ends_with("é.pdf"), "{got}");
        let no_ext = "x".repeat(500);
        assert_eq!(sanitize(&no_ext, 1).len(), MAX_NAME_BYTES);
        let weird_ext = format!("a.{}", "b".repeat(300));
        assert_eq!(sanitize(&weird_ext, 1).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn collisions_get_numbered_without_regard_to_case() {
        let mut set = NameSet::with_reserved(&["message.txt", "manifest.txt"]);
        assert_eq!(set.claim("a.pdf"), "a.pdf");
        assert_eq!(set.claim("A.pdf"), "A (2).pdf");
        assert_eq!(set.claim("a.pdf"), "a (3).pdf");
        assert_eq!(set.claim("Message.txt"), "Message (2).txt");
        assert_eq!(set.claim("noext"), "noext");
        assert_eq!(set.claim("noext"), "noext (2)");
    }

    /// A hostile manifest may give thousands of files the same name: claiming them must cost
    /// work in proportion to their number, not its square.
    #[test]
    fn many_equal_names_cost_linear_work() {
        const N: u64 = 5_000;
        let mut set = NameSet::with_reserved(&["message.txt"]);
        let mut seen = HashSet::new();
        for _ in 0..N {
            assert!(seen.insert(set.claim("same.pdf").to_lowercase()));
        }
        // Names a source chose that look like numbered ones are skipped, not probed again.
        for k in (N + 1)..(N + 200) {
            assert!(seen.insert(set.claim(&format!("same ({k}).pdf")).to_lowercase()));
        }
        for _ in 0..N {
            assert!(seen.insert(set.claim("SAME.pdf").to_lowercase()));
        }
        assert!(
            set.probes <= 3 * N,
            "{} probes for {} names",
            set.probes,
            2 * N
        );
    }

    #[test]
    fn server_names_and_designations() {
        use lanterne_core::designation::is_valid as is_designation;
        assert!(is_server_name("9f0e-AB"));
        assert!(is_designation("brave-otter-41"));
        for bad in [
            "",
            "..",
            "a/b",
            "-rf",
            "a.b",
            "Brave",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(!is_designation(bad), "{bad:?}");
        }
        assert!(!is_server_name("x\0"));
    }
}
