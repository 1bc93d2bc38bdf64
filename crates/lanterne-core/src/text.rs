//! Untrusted text made harmless to print: the one scrubbing of what a source, a bundle or a
//! server sent before it reaches a reviewer's terminal.
//!
//! Such text can hold terminal escape sequences (clear the screen, set the window title, write
//! the clipboard with OSC 52), NUL and other control bytes, or invisible and right-to-left
//! characters that make `gpj.exe` look like `exe.jpg`. The offline machine prints names and
//! messages through [`shown`] and [`scrubbed`]; the networked workstation prints what the
//! server answered through [`scrubbed`] too.

/// Characters that are invisible or reorder text: shown escaped, dropped from file names.
pub fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Whether `c` is written as an escape by [`shown`] and [`scrubbed`].
fn is_escaped(c: char) -> bool {
    c.is_control() || is_format_char(c)
}

/// A manifest's `received` day: as is when it is a day (`YYYY-MM-DD`, digits and dashes only,
/// nothing to escape), else [`shown`], quoted and escaped like any other untrusted text.
pub fn shown_day(untrusted: &str) -> String {
    let b = untrusted.as_bytes();
    let is_day = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if is_day {
        untrusted.to_owned()
    } else {
        shown(untrusted)
    }
}

/// An untrusted string made safe for a terminal or a text file: quoted, control and invisible
/// characters written as `\u{…}` escapes, cut at 300 characters.
pub fn shown(untrusted: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut out = String::with_capacity(untrusted.len().min(MAX_CHARS) + 2);
    out.push('"');
    for (i, c) in untrusted.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_escaped(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Like [`shown`] without the quotes, cut at 1,000 characters: for messages that may quote
/// untrusted text.
pub fn scrubbed(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4000));
    for c in text.chars().take(1000) {
        if is_escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_shown_bare_and_anything_else_escaped() {
        assert_eq!(shown_day("2026-12-07"), "2026-12-07");
        assert_eq!(shown_day("2026-12-07\u{1b}[2J"), "\"2026-12-07\\u{1b}[2J\"");
        assert_eq!(shown_day("2026/12/07"), "\"2026/12/07\"");
        assert_eq!(shown_day("٢٠٢٦-١٢-٠٧"), shown("٢٠٢٦-١٢-٠٧"));
    }

    #[test]
    fn shown_strings_cannot_drive_a_terminal() {
        assert_eq!(shown("ok"), "\"ok\"");
        assert_eq!(shown("a\x1b[2Jb"), "\"a\\u{1b}[2Jb\"");
        assert_eq!(shown("x\u{202E}y"), "\"x\\u{202e}y\"");
        assert_eq!(shown("q\"\\"), "\"q\\\"\\\\\"");
        assert!(shown(&"z".repeat(1000)).ends_with("…\""));
        assert_eq!(scrubbed("a \"b\" \\ \x07"), "a \"b\" \\ \\u{7}");
        assert_eq!(
            scrubbed("\x1b]52;c;cHduZWQ=\x07\u{2067}x\u{9b}"),
            "\\u{1b}]52;c;cHduZWQ=\\u{7}\\u{2067}x\\u{9b}"
        );
        assert_eq!(scrubbed(&"z".repeat(5000)).len(), 1000);
    }
}
