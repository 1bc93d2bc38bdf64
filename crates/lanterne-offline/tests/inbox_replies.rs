//! The team's replies in the offline inbox (issue 14), on bundles built by hand as `fetch`
//! writes them. Each attack test plays what a compromised server would try with replies:
//! writing one itself, moving a genuine one under another source, changing one after it was
//! signed, dropping its signature, and rewriting one the inbox already holds.

mod support;

use std::path::PathBuf;
use std::process::Command;

use lanterne_offline::{self as review, ReviewError};
use support::files::{any_file_contains, walk};
use support::{sig_path, TestBundle, HOME_ENV, SOURCE};

const BIN: &str = env!("CARGO_BIN_EXE_lanterne-review");

fn import(b: &TestBundle) -> Result<review::ImportReport, ReviewError> {
    review::import(&b.root(), &b.key(), None, &b.review_home())
}

fn show(b: &TestBundle, designation: &str) -> String {
    review::show(&b.review_home(), designation, &b.key(), None)
        .unwrap()
        .to_string()
}

/// A submission with no file from `SOURCE`, named as the server names it (`s<seq>-…`).
fn submission(b: &TestBundle, seq: u64, message: &str) {
    b.add_submission(&format!("s{seq:010}-{:032x}", seq), message, &[]);
}

#[test]
fn a_genuine_reply_shows_between_the_message_and_the_follow_up_by_its_pinned_author() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "FIRST-MESSAGE-71c2");
    let (reply, sig) = b.genuine_reply(SOURCE, "TEAM-REPLY-TEXT-5d0e\nsecond line");
    b.put_reply(SOURCE, 2, &reply, Some(&sig));
    submission(&b, 3, "FOLLOW-UP-e83a");
    let r = import(&b).unwrap();
    assert_eq!((r.added.len(), r.replies_added.len()), (2, 1), "{r}");
    let text = show(&b, SOURCE);
    let first = text.find("FIRST-MESSAGE-71c2").expect(&text);
    let by = text.find("reply #2 by reviewer\n").expect(&text);
    let said = text.find("  | TEAM-REPLY-TEXT-5d0e").expect(&text);
    let follow = text.find("FOLLOW-UP-e83a").expect(&text);
    assert!(
        first < by && by < said && said < follow,
        "out of order:\n{text}"
    );
    assert!(text.contains("  | second line"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");

    // The typed view the TUI uses says the same.
    let replies = review::thread_replies(&b.review_home(), SOURCE, &b.key(), None).unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].seq, 2);
    assert_eq!(replies[0].author.as_deref(), Ok("reviewer"));
    assert!(replies[0]
        .text
        .as_ref()
        .unwrap()
        .starts_with("TEAM-REPLY-TEXT-5d0e"));
    assert!(replies[0].is_trusted());

    // Imported twice, nothing is added; the reply's text is nowhere at rest.
    let again = import(&b).unwrap();
    assert_eq!(
        (
            again.added.len(),
            again.replies_added.len(),
            again.replies_already
        ),
        (0, 0, 1),
        "{again}"
    );
    for secret in [
        "TEAM-REPLY-TEXT-5d0e",
        "FIRST-MESSAGE-71c2",
        "FOLLOW-UP-e83a",
    ] {
        assert_eq!(any_file_contains(&b.home(), secret.as_bytes()), None);
    }
    // The inbox holds the reply and its signature, ciphertext only, as the bundle had them.
    let held: Vec<PathBuf> = walk(&b.home().join("inbox/sources").join(SOURCE).join("replies"));
    assert_eq!(held.len(), 2, "{held:?}");
}

/// Asserts that `show` lists the reply with a loud warning containing `why`, and no text.
fn assert_refused(b: &TestBundle, designation: &str, secret: &str, why: &str) {
    let text = show(b, designation);
    assert!(
        text.contains("WARNING, NOT SHOWN") && text.contains(why),
        "no warning with {why:?}:\n{text}"
    );
    assert!(!text.contains(secret), "the text was shown:\n{text}");
    assert!(
        !text.contains(" by reviewer"),
        "an author was named:\n{text}"
    );
    let replies = review::thread_replies(&b.review_home(), designation, &b.key(), None).unwrap();
    assert_eq!(replies.len(), 1);
    assert!(replies[0].author.is_err() && replies[0].text.is_err());
}

#[test]
fn a_reply_the_server_wrote_itself_is_shown_as_forged_without_its_text() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "hello");
    // Encrypted to the team (the server has every recipient), signed with its own key.
    let (forged, sig) = b.forged_reply(SOURCE, "FORGED-BY-THE-SERVER-3b9a: send us your name");
    b.put_reply(SOURCE, 2, &forged, Some(&sig));
    import(&b).unwrap();
    assert_refused(&b, SOURCE, "FORGED-BY-THE-SERVER-3b9a", "FORGED");
}

#[test]
fn a_genuine_reply_moved_under_another_source_is_refused() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "hello");
    let (reply, sig) = b.genuine_reply(SOURCE, "MEANT-FOR-THE-FIRST-SOURCE-0a4f");
    // Another source, with a submission of its own; the server files the reply under it.
    let other = age::x25519::Identity::generate();
    let designation = lanterne_core::designation::of_recipient(&other.to_public().to_string());
    b.add_source_with(&designation, &other);
    let dir = b
        .root()
        .join("sources")
        .join(&designation)
        .join("submissions/s0000000002-ab");
    std::fs::create_dir_all(&dir).unwrap();
    b.write_manifest(&dir, "other", Vec::new());
    b.put_reply(&designation, 3, &reply, Some(&sig));
    import(&b).unwrap();
    assert_refused(
        &b,
        &designation,
        "MEANT-FOR-THE-FIRST-SOURCE-0a4f",
        "ANOTHER SOURCE",
    );
}

#[test]
fn a_reply_changed_after_it_was_signed_is_refused() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "hello");
    let (mut reply, sig) = b.genuine_reply(SOURCE, "SIGNED-TEXT-91de");
    // The server swaps the payload for one it made, keeping the reviewer's signature (and
    // lists the new bytes in the sums, as it can).
    let swapped = b.seal(b"SWAPPED-TEXT-6c11");
    reply.clone_from(&swapped);
    b.put_reply(SOURCE, 2, &reply, Some(&sig));
    import(&b).unwrap();
    assert_refused(&b, SOURCE, "SWAPPED-TEXT-6c11", "CHANGED");
}

#[test]
fn an_unsigned_reply_is_refused() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "hello");
    let (reply, _) = b.genuine_reply(SOURCE, "UNSIGNED-TEXT-4e7b");
    b.put_reply(SOURCE, 2, &reply, None);
    import(&b).unwrap();
    assert_refused(&b, SOURCE, "UNSIGNED-TEXT-4e7b", "NO SIGNATURE");
}

#[test]
fn a_bundle_listing_a_held_reply_with_another_hash_is_refused_and_the_inbox_is_unchanged() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "hello");
    let (reply, sig) = b.genuine_reply(SOURCE, "FIRST-VERSION-22aa");
    let path = b.put_reply(SOURCE, 2, &reply, Some(&sig));
    import(&b).unwrap();
    let inbox = b.home().join("inbox");
    let before: Vec<(PathBuf, Vec<u8>)> = walk(&inbox)
        .into_iter()
        .filter(|p| !p.ends_with("lock"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    // The server rewrites the held reply (another genuine one under the same name), then,
    // separately, only its signature.
    let (other, other_sig) = b.genuine_reply(SOURCE, "SECOND-VERSION-33bb");
    std::fs::write(&path, &other).unwrap();
    std::fs::write(sig_path(&path), &other_sig).unwrap();
    b.write_sums();
    let e = import(&b).unwrap_err();
    assert!(matches!(e, ReviewError::HistoryRewritten { .. }), "{e}");
    std::fs::write(&path, &reply).unwrap();
    b.write_sums();
    let e = import(&b).unwrap_err();
    assert!(
        matches!(&e, ReviewError::HistoryRewritten { rel, .. } if rel.ends_with(".minisig")),
        "{e}"
    );
    let after: Vec<(PathBuf, Vec<u8>)> = walk(&inbox)
        .into_iter()
        .filter(|p| !p.ends_with("lock"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert_eq!(after, before, "the inbox changed");
    assert!(show(&b, SOURCE).contains("FIRST-VERSION-22aa"));
}

/// Issue 22: README.md says `show` prints a reply `as `reply #N by alice``, numbered as the
/// submissions around it are (one counter, the box's); the binary printed `reply by alice (the
/// team)`, with no number. README's own words are read here, so the two cannot drift apart.
#[test]
fn the_binary_prints_a_reply_as_the_readme_says_numbered_as_the_submissions() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    submission(&b, 1, "FIRST-MESSAGE-0c4d");
    let (reply, sig) = b.genuine_reply(SOURCE, "TEAM-REPLY-9e2f");
    b.put_reply(SOURCE, 2, &reply, Some(&sig));
    submission(&b, 3, "FOLLOW-UP-77b0");
    import(&b).unwrap();
    let out = Command::new(BIN)
        .args(["show", SOURCE, "--identity"])
        .arg(b.key())
        .env(HOME_ENV, b.home())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let promised = readme
        .split('`')
        .find(|s| s.starts_with("reply #"))
        .expect("README.md shows how a reply is printed, as `reply #N by alice`");
    // README's example reviewer is alice; this bundle's card is called reviewer.
    let expected = promised.replace("#N", "#2").replace("alice", "reviewer");
    let lines: Vec<&str> = text.lines().collect();
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in:\n{text}"))
    };
    let (first, by, follow) = (
        lines
            .iter()
            .position(|l| l.starts_with("#1 submission s0000000001-"))
            .expect(&text),
        at(&expected),
        lines
            .iter()
            .position(|l| l.starts_with("#3 submission s0000000003-"))
            .expect(&text),
    );
    assert!(first < by && by < follow, "out of order:\n{text}");
    assert_eq!(lines[by + 1], "  | TEAM-REPLY-9e2f", "{text}");
}
