//! Where the team's replies go offline, and how the inbox numbers a conversation. A genuine
//! reply that a compromised server or workstation copied under other `r<seq>` names (listed in
//! `SHA256SUMS`, so the bundle checks) is shown once, at the place its signature names, with a
//! warning, in `review show` and in the inbox's terminal UI. Submissions carry the box's own
//! numbers (s0000000001 is #1) and each source the fingerprint of its pinned key.

mod support;

use lanterne_offline::tui::{draw, App, Flow, Key, Lang};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sha2::{Digest, Sha256};
use support::{TestBundle, SOURCE};

fn import(b: &TestBundle) {
    lanterne_offline::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
}

fn show(b: &TestBundle) -> String {
    lanterne_offline::show(&b.review_home(), SOURCE, &b.key(), None)
        .unwrap()
        .to_string()
}

/// The TUI's screen on SOURCE's thread (the only source), one string per row.
fn tui_thread(b: &TestBundle) -> String {
    let out = b.dir.path().join("outgoing");
    let mut app = App::new(b.review_home(), &b.key(), None, out, Lang::En).unwrap();
    assert_eq!(app.handle(Key::Char('\n')), Flow::Continue);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| draw(f, &app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_genuine_reply_copied_under_other_names_is_shown_once_at_its_signed_place() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission_to(SOURCE, "s0000000001-aa", "FIRST-MESSAGE-0b1d", &[]);
    let (reply, sig) = b.genuine_reply(SOURCE, "GENUINE-ANSWER-77e0");
    b.put_reply(SOURCE, 2, &reply, Some(&sig));
    b.add_submission_to(SOURCE, "s0000000003-bb", "FOLLOW-UP-4c2a", &[]);
    // The tampering: the same two files again, before the first message and after the
    // follow-up, each listed in SHA256SUMS.
    b.put_reply(SOURCE, 0, &reply, Some(&sig));
    b.put_reply(SOURCE, 9, &reply, Some(&sig));
    import(&b);

    for (what, text, said) in [
        ("show", show(&b), "  | GENUINE-ANSWER-77e0"),
        ("tui", tui_thread(&b), "| GENUINE-ANSWER-77e0"),
    ] {
        assert_eq!(
            text.matches(said).count(),
            1,
            "{what}: shown more than once:\n{text}"
        );
        let (first, answer, follow) = (
            text.find("FIRST-MESSAGE-0b1d").expect(&text),
            text.find(said).unwrap(),
            text.find("FOLLOW-UP-4c2a").expect(&text),
        );
        assert!(
            first < answer && answer < follow,
            "{what}: out of place:\n{text}"
        );
        assert!(text.contains("WARNING"), "{what}: no warning:\n{text}");
        assert!(text.contains("replayed or renamed"), "{what}:\n{text}");
    }
}

/// A reply answering the first message, numbered by the box after a follow-up (pushed late,
/// or replayed), stays after the message it answers.
#[test]
fn a_reply_goes_after_what_it_answers_not_where_the_server_numbered_it() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission_to(SOURCE, "s0000000001-aa", "FIRST-MESSAGE-91aa", &[]);
    let (reply, sig) = b.genuine_reply(SOURCE, "ANSWER-TO-FIRST-2f6b");
    b.add_submission_to(SOURCE, "s0000000002-bb", "FOLLOW-UP-d3e4", &[]);
    b.put_reply(SOURCE, 7, &reply, Some(&sig));
    import(&b);
    let text = show(&b);
    let (first, answer, follow) = (
        text.find("FIRST-MESSAGE-91aa").expect(&text),
        text.find("ANSWER-TO-FIRST-2f6b").expect(&text),
        text.find("FOLLOW-UP-d3e4").expect(&text),
    );
    assert!(first < answer && answer < follow, "{text}");
}

/// The inbox numbers submissions as the box does (s0000000004 is #4) in `list`, `show`, the
/// transcript and the TUI, and prints the pinned key's 128-bit fingerprint beside the
/// designation.
#[test]
fn submissions_carry_the_box_numbers_and_the_source_its_key_fingerprint() {
    let b = TestBundle::new();
    let source = b.add_source(SOURCE);
    b.add_submission_to(SOURCE, "s0000000004-aa", "FOURTH-THING-the-box-got", &[]);
    // `review reply` pins the source (as `review open` and `review import` do).
    let _ = b.genuine_reply(SOURCE, "pinning");
    import(&b);
    let digest = Sha256::new()
        .chain_update(b"lanterne v1 fingerprint of a source recipient")
        .chain_update(source.to_public().to_string().as_bytes())
        .finalize();
    let hex = hex::encode(&digest[..16]);
    let fingerprint: Vec<&str> = (0..8).map(|i| &hex[i * 4..i * 4 + 4]).collect();
    let fingerprint = fingerprint.join(" ");

    let shown = show(&b);
    assert!(shown.contains("#4 submission s0000000004-aa"), "{shown}");
    assert!(shown.contains(&fingerprint), "{shown}");
    let list = lanterne_offline::list(&b.review_home(), &b.key(), None)
        .unwrap()
        .to_string();
    assert!(list.contains("last #4"), "{list}");
    assert!(list.contains(&fingerprint), "{list}");
    let tui = tui_thread(&b);
    assert!(tui.contains("#4"), "{tui}");
    assert!(tui.contains(&fingerprint), "{tui}");
    let out = b.dir.path().join("export");
    lanterne_offline::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    let transcript = std::fs::read_to_string(out.join("transcript.txt")).unwrap();
    assert!(transcript.contains("#4 submission"), "{transcript}");
}

/// An inbox that holds a reply signed in the first format (designation alone) shows it as
/// refused and old, with no text, and still shows everything else.
#[test]
fn a_first_format_reply_in_the_inbox_is_shown_as_old_without_its_text() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission_to(SOURCE, "s0000000001-aa", "STILL-SHOWN-5a5a", &[]);
    let (reply, _) = b.genuine_reply(SOURCE, "OLD-FORMAT-TEXT-8c8c");
    let sig = b.sign_with_comment(&reply, &format!("lanterne-reply v1 designation={SOURCE}"));
    b.put_reply(SOURCE, 2, &reply, Some(&sig));
    import(&b);
    let text = show(&b);
    assert!(text.contains("STILL-SHOWN-5a5a"), "{text}");
    assert!(!text.contains("OLD-FORMAT-TEXT-8c8c"), "{text}");
    assert!(text.contains("FIRST REPLY FORMAT"), "{text}");
}
