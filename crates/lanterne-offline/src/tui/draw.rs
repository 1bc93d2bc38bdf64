//! Draws the inbox UI's state (`state.rs`) into a ratatui frame: a title line, the body, a
//! status line and a line of keys (or what is being typed). It only reads the state, so the
//! tests draw it into ratatui's `TestBackend` and compare whole screens.
//!
//! Source-controlled text arrives escaped from `model.rs`; the replies' text and what the
//! reviewer types are escaped here, line by line ([`scrubbed`]), so no control character is
//! ever drawn.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::model::Entry;
use super::state::{App, Input, Screen};
use super::text::fill;
use crate::names::{scrubbed, shown};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    // The status line grows to 3 lines for a long one (an exported file's path).
    let mut status_lines = wrap(&scrubbed(&app.status), usize::from(frame.area().width));
    status_lines.truncate(3);
    let status_height = status_lines.len() as u16;
    let [title, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(status_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let t = app.lang.text();
    let bold = Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED);
    let (heading, hints) = match (&app.input, app.screen) {
        (Input::Reply(_), _) => (
            fill(t.title_reply, &[designation(app)]),
            t.hints_reply.to_owned(),
        ),
        (_, Screen::Sources) => (t.title_sources.to_owned(), t.hints_sources.to_owned()),
        (_, Screen::Thread) => {
            let star = match &app.thread {
                Some(th) if th.starred => t.starred,
                _ => "",
            };
            (
                fill(t.title_thread, &[designation(app)]) + star,
                t.hints_thread.to_owned(),
            )
        }
        (_, Screen::Search) => (
            fill(t.title_search, &[&shown(&app.query)]),
            t.hints_search.to_owned(),
        ),
        (_, Screen::Help) => (t.title_help.to_owned(), t.hints_help.to_owned()),
    };
    frame.render_widget(Paragraph::new(heading).style(bold), title);
    let (lines, selected) = match (&app.input, app.screen) {
        (Input::Reply(text), _) => (reply_lines(text, body), None),
        (_, Screen::Sources) => source_lines(app),
        (_, Screen::Thread) => thread_lines(app, body.width),
        (_, Screen::Search) => search_lines(app),
        (_, Screen::Help) => (t.help.iter().map(|l| l.to_string()).collect(), None),
    };
    render_body(frame, body, lines, selected);
    let status_lines: Vec<Line<'_>> = status_lines.into_iter().map(Line::raw).collect();
    frame.render_widget(Paragraph::new(status_lines), status);
    let prompt = |label: &str, typed: &str| {
        // The end of what is typed, if it is longer than the line.
        let room = (keys.width as usize).saturating_sub(label.chars().count() + 1);
        let typed = scrubbed(typed);
        let skip = typed.chars().count().saturating_sub(room);
        format!("{label}{}_", typed.chars().skip(skip).collect::<String>())
    };
    let last = match &app.input {
        Input::Search(q) => prompt(t.search_prompt, q),
        Input::ExportDir(d) => prompt(t.export_prompt, d),
        _ => hints,
    };
    frame.render_widget(
        Paragraph::new(last).style(Style::default().add_modifier(Modifier::DIM)),
        keys,
    );
}

fn designation(app: &App) -> &str {
    app.thread.as_ref().map_or("", |t| t.designation.as_str())
}

/// Draws `lines`; `selected` (first and last line of the selected item) is highlighted and
/// kept in view.
fn render_body(
    frame: &mut Frame<'_>,
    area: Rect,
    lines: Vec<String>,
    selected: Option<(usize, usize)>,
) {
    let height = area.height as usize;
    let offset = match selected {
        Some((first, last)) if last >= height => first.min(last + 1 - height),
        _ => 0,
    };
    let shown: Vec<Line<'_>> = lines
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, l)| match selected {
            Some((first, last)) if (first..=last).contains(&i) => {
                Line::styled(l, Style::default().add_modifier(Modifier::REVERSED))
            }
            _ => Line::raw(l),
        })
        .collect();
    frame.render_widget(Paragraph::new(shown), area);
}

/// `> ` before the selected item's first line, `  ` before the others.
fn mark(selected: bool) -> &'static str {
    if selected {
        "> "
    } else {
        "  "
    }
}

fn source_lines(app: &App) -> (Vec<String>, Option<(usize, usize)>) {
    let t = app.lang.text();
    if app.sources.is_empty() {
        return (vec![t.empty_inbox.to_owned()], None);
    }
    let lines = app
        .sources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let star = if r.starred { '*' } else { ' ' };
            let row = fill(
                t.source_row,
                &[
                    &r.submissions.to_string(),
                    &r.unseen.to_string(),
                    &r.last.to_string(),
                ],
            );
            // Designations are checked names (letters, digits, '-'), safe to draw.
            format!(
                "{}{star} {:<26} {row}",
                mark(i == app.source_sel),
                r.designation
            )
        })
        .collect();
    (lines, Some((app.source_sel, app.source_sel)))
}

fn search_lines(app: &App) -> (Vec<String>, Option<(usize, usize)>) {
    let t = app.lang.text();
    if app.hits.is_empty() {
        return (vec![t.no_hits.to_owned()], None);
    }
    let lines = app
        .hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let hit = fill(
                t.hit,
                &[&h.designation, &h.seq.to_string(), h.line.as_str()],
            );
            format!("{}{hit}", mark(i == app.hit_sel))
        })
        .collect();
    (lines, Some((app.hit_sel, app.hit_sel)))
}

/// Cuts `line` into pieces of at most `width` characters (at least one piece).
fn wrap(line: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// The reviewer's (or the team's) text, escaped line by line, quoted.
fn quoted(text: &str, out: &mut Vec<String>) {
    for line in text.lines() {
        out.push(format!("  | {}", scrubbed(line)));
    }
}

fn thread_lines(app: &App, width: u16) -> (Vec<String>, Option<(usize, usize)>) {
    let t = app.lang.text();
    let Some(th) = &app.thread else {
        return (Vec::new(), None);
    };
    let key = match &th.key {
        Some(k) => fill(t.key_fingerprint, &[k]),
        None => t.key_not_pinned.to_owned(),
    };
    let mut lines = vec![t.untrusted.to_owned(), key];
    let mut selected = None;
    let room = (width as usize).saturating_sub(2);
    for (i, entry) in th.entries.iter().enumerate() {
        let mut own = Vec::new();
        match entry {
            Entry::Submission { seq, new, received } => {
                let new = if *new { t.new } else { "" };
                own.push(fill(t.submission, &[&seq.to_string(), received]) + new);
            }
            Entry::Unreadable { seq, why } => {
                own.push(fill(t.unreadable, &[&seq.to_string(), why]));
            }
            Entry::Message { lines } => {
                own.push(t.source_wrote.to_owned());
                own.extend(lines.iter().map(|l| format!("  | {}", l.as_str())));
            }
            Entry::NoMessage => own.push(t.no_message.to_owned()),
            Entry::File {
                name,
                content_type,
                entry,
                notes,
                ..
            } => {
                own.push(fill(
                    t.file,
                    &[name.as_str(), content_type, &entry.size.to_string()],
                ));
                own.extend(notes.iter().cloned());
            }
            Entry::Reply {
                seq,
                author,
                text,
                warnings,
            } => {
                own.push(fill(t.reply, &[&seq.to_string(), &shown(author)]));
                quoted(text, &mut own);
                own.extend(warnings.iter().map(|w| fill(t.reply_warning, &[w])));
            }
            Entry::RefusedReply { seq, why, warnings } => {
                own.push(fill(t.reply_refused, &[&seq.to_string(), why]));
                own.extend(warnings.iter().map(|w| fill(t.reply_warning, &[w])));
            }
            Entry::Unsent { text } => {
                own.push(t.not_sent.to_owned());
                quoted(text, &mut own);
            }
        }
        let first = lines.len();
        for (n, l) in own.iter().enumerate() {
            for (k, piece) in wrap(l, room).into_iter().enumerate() {
                let lead = if n == 0 && k == 0 {
                    mark(i == app.entry_sel)
                } else {
                    "  "
                };
                lines.push(format!("{lead}{piece}"));
            }
        }
        if i == app.entry_sel {
            selected = Some((first, lines.len() - 1));
        }
    }
    (lines, selected)
}

/// The reply being written, with a cursor at its end; the end stays in view.
fn reply_lines(text: &str, area: Rect) -> Vec<String> {
    let mut lines = Vec::new();
    let text = format!("{text}_");
    for line in text.split('\n') {
        lines.extend(wrap(&scrubbed(line), area.width as usize));
    }
    let hidden = lines.len().saturating_sub(area.height as usize);
    lines.split_off(hidden)
}
