//! `review inbox`, the inbox's terminal UI: its screens drawn into ratatui's `TestBackend` at
//! 80×24 and compared whole against the text below (written once and checked by eye, never
//! regenerated), and its update logic driven key by key on a real inbox: stars and seen marks
//! persist, search crosses sources, an inline reply lands in the outgoing folder and the stock
//! `minisign` and `age` accept it, Esc writes nothing, a reply is refused when the server's
//! reviewer list differs from the pinned team, and a hostile source cannot drive the terminal.

mod support;

use std::path::PathBuf;
use std::process::Command;

use lanterne_core::manifest::FileEntry;
use lanterne_offline::tui::{draw, App, Flow, Key, Lang};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use support::files::{age_cli_decrypt, list};
use support::{random_hex, TestBundle, SOURCE, SOURCE_KEY};

/// A second source (its key is random: only read and searched, never replied to).
const OTHER: &str = "quiet-heron-2048";

/// A submission of `designation` with `(name, type, bytes)` files.
fn submit(
    b: &TestBundle,
    designation: &str,
    id: &str,
    message: &str,
    files: &[(&str, &str, &[u8])],
) {
    let dir = b
        .root()
        .join("sources")
        .join(designation)
        .join("submissions")
        .join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut entries = Vec::new();
    for (name, content_type, bytes) in files {
        let stored_as = format!("{}.age", random_hex());
        std::fs::write(dir.join(&stored_as), b.seal(bytes)).unwrap();
        entries.push(FileEntry {
            name: name.to_string(),
            content_type: content_type.to_string(),
            size: bytes.len() as u64,
            stored_as,
        });
    }
    b.write_manifest(&dir, message, entries);
}

/// An inbox with two sources: [`SOURCE`] (a message and a file) then [`OTHER`].
fn inbox() -> TestBundle {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_source(OTHER);
    submit(
        &b,
        SOURCE,
        "s0000000001-aa",
        "Bonjour,\nthe mayor's accounts are in the file.",
        &[("accounts.csv", "text/csv", b"a,b\n1,2\n")],
    );
    submit(
        &b,
        OTHER,
        "s0000000002-bb",
        "I saw the shipment at the harbour.",
        &[],
    );
    lanterne_offline::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    b
}

fn outgoing(b: &TestBundle) -> PathBuf {
    b.dir.path().join("outgoing")
}

fn app(b: &TestBundle, lang: Lang) -> App {
    App::new(b.review_home(), &b.key(), None, outgoing(b), lang).unwrap()
}

fn keys(app: &mut App, keys: &[Key]) {
    for k in keys {
        assert_eq!(app.handle(*k), Flow::Continue, "{k:?}");
    }
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        keys(app, &[Key::Char(c)]);
    }
}

/// The screen at 80×24, one string per row, trailing spaces cut.
fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut rows = Vec::new();
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        rows.push(row.trim_end().to_owned());
    }
    rows.join("\n")
}

fn review_list(b: &TestBundle) -> String {
    lanterne_offline::list(&b.review_home(), &b.key(), None)
        .unwrap()
        .to_string()
}

/// The screens the snapshot tests compare, in both languages, after these keys.
fn screens(lang: Lang) -> [(&'static str, String); 5] {
    let b = inbox();
    let mut a = app(&b, lang);
    let sources = screen(&a);
    keys(&mut a, &[Key::Char('?')]);
    let help = screen(&a);
    keys(&mut a, &[Key::Esc, Key::Down, Key::Char('\n')]);
    let thread = screen(&a);
    keys(&mut a, &[Key::Char('r')]);
    typed(&mut a, "Merci.\nWe will call you.");
    let reply = screen(&a);
    keys(&mut a, &[Key::Esc, Key::Esc, Key::Char('/')]);
    typed(&mut a, "HARBOUR");
    keys(&mut a, &[Key::Char('\n')]);
    let search = screen(&a);
    [
        ("sources", sources),
        ("help", help),
        ("thread", thread),
        ("reply", reply),
        ("search", search),
    ]
}

fn check_screens(lang: Lang, expected: [&str; 5]) {
    for ((name, got), want) in screens(lang).into_iter().zip(expected) {
        let want = want.strip_prefix('\n').unwrap_or(want);
        assert_eq!(got, want, "{lang:?} {name}:\n{got}\n---");
    }
}

/// The English screens: sources, help, thread, reply, search.
const EN: [&str; 5] = [
    r#"
lanterne inbox: sources, newest activity first
>   quiet-heron-2048           1 submission(s), 1 unseen, last #1
    respect-monopoly-1289      1 submission(s), 1 unseen, last #0




















↑↓ move  Enter open  s star  / search  ? help  q quit"#,
    r#"
Help: keys
Source list
  ↑ ↓ / k j   move
  Enter       open the source's conversation (marks it seen)
  s           star or unstar the source
  /           search the decrypted messages of every source
  q / Esc     quit
Conversation
  r           write a reply here (Ctrl-D sends, Esc cancels)
  e           write the reply in $EDITOR (a private temp file, removed after)
  x           export the selected file into a folder (never overwrites)
  q / Esc     back to the list
Replies go to the outgoing folder; `lanterne push` sends them.
The inbox never opens a file itself: check the warnings before opening an
exported file, on this offline machine.








Esc or q: back"#,
    r#"
Conversation with respect-monopoly-1289
Names, types and messages come from the source: shown escaped.
> #0 submission, received "2026-11-22" [new]
    The source wrote:
    | Bonjour,
    | the mayor's accounts are in the file.
    file: "accounts.csv", "text/csv", 8 bytes
      no identifying metadata found















↑↓ move  r reply  e editor  x export  s star  Esc back  ? help"#,
    r#"
Reply to respect-monopoly-1289 (encrypted to the source and the team, signed)
Merci.
We will call you._




















Type the reply. Enter: new line  Ctrl-D: send  Esc: cancel"#,
    r#"
Search results for "HARBOUR"
> quiet-heron-2048 #1: I saw the shipment at the harbour.




















1 match(es)
↑↓ move  Enter open the source  Esc back"#,
];

/// The French screens: sources, help, thread, reply, search.
const FR: [&str; 5] = [
    r#"
boîte lanterne : sources, activité la plus récente d'abord
>   quiet-heron-2048           1 envoi(s), 1 non lu(s), dernier n°1
    respect-monopoly-1289      1 envoi(s), 1 non lu(s), dernier n°0




















↑↓ choisir  Entrée ouvrir  s étoile  / chercher  ? aide  q quitter"#,
    r#"
Aide : touches
Liste des sources
  ↑ ↓ / k j   choisir
  Entrée      ouvrir la conversation (la marque comme lue)
  s           mettre ou ôter l'étoile
  /           chercher dans les messages déchiffrés de toutes les sources
  q / Échap   quitter
Conversation
  r           écrire une réponse ici (Ctrl-D envoie, Échap annule)
  e           écrire la réponse dans $EDITOR (fichier temporaire privé, effacé)
  x           exporter le fichier choisi dans un dossier (sans rien écraser)
  q / Échap   retour à la liste
Les réponses vont dans le dossier sortant ; `lanterne push` les envoie.
La boîte n'ouvre jamais un fichier : lisez les avertissements avant d'ouvrir
un fichier exporté, sur cette machine hors ligne.








Échap ou q : retour"#,
    r#"
Conversation avec respect-monopoly-1289
Noms, types et messages viennent de la source : affichés échappés.
> n°0 envoi, reçu le "2026-11-22" [nouveau]
    La source a écrit :
    | Bonjour,
    | the mayor's accounts are in the file.
    fichier : "accounts.csv", "text/csv", 8 octets
      aucune métadonnée identifiante trouvée















↑↓ choisir  r répondre  e éditeur  x exporter  s étoile  Échap retour"#,
    r#"
Réponse à respect-monopoly-1289 (chiffrée pour la source et l'équipe, signée)
Merci.
We will call you._




















Tapez la réponse. Entrée : ligne  Ctrl-D : envoyer  Échap : annuler"#,
    r#"
Résultats pour "HARBOUR"
> quiet-heron-2048 n°1 : I saw the shipment at the harbour.




















1 résultat(s)
↑↓ choisir  Entrée ouvrir la source  Échap retour"#,
];

#[test]
fn the_screens_in_english_match_their_snapshots() {
    check_screens(Lang::En, EN);
}

#[test]
fn the_screens_in_french_match_their_snapshots() {
    check_screens(Lang::Fr, FR);
}

#[test]
fn a_star_toggles_and_persists_in_the_inbox() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    // The first row is OTHER (newest activity).
    keys(&mut a, &[Key::Char('s')]);
    assert_eq!(a.status(), format!("starred {OTHER}"));
    assert!(
        review_list(&b).contains(&format!("* {OTHER}")),
        "{}",
        review_list(&b)
    );
    // A new session (another run) sees it; unstarring persists too.
    let mut a = app(&b, Lang::En);
    assert!(screen(&a).contains(&format!("> * {OTHER}")));
    keys(&mut a, &[Key::Char('s')]);
    assert_eq!(a.status(), format!("unstarred {OTHER}"));
    assert!(!review_list(&b).contains(&format!("* {OTHER}")));
}

#[test]
fn opening_a_thread_marks_it_seen() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    assert!(review_list(&b).contains(&format!("{OTHER}  1 submission(s), 1 unseen")));
    keys(&mut a, &[Key::Char('\n')]);
    assert!(screen(&a).contains("[new]"), "shown as new the first time");
    assert!(
        review_list(&b).contains(&format!("{OTHER}  1 submission(s), 0 unseen")),
        "{}",
        review_list(&b)
    );
    keys(&mut a, &[Key::Esc]);
    assert!(screen(&a).contains("1 submission(s), 0 unseen, last #1"));
    // The other source is still unseen.
    assert!(review_list(&b).contains(&format!("{SOURCE}  1 submission(s), 1 unseen")));
}

#[test]
fn search_finds_a_message_of_another_source_and_jumps_to_it() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    // On OTHER's row, search for SOURCE's words.
    keys(&mut a, &[Key::Char('/')]);
    typed(&mut a, "Mayor's");
    keys(&mut a, &[Key::Char('\n')]);
    assert_eq!(a.status(), "1 match(es)");
    let s = screen(&a);
    assert!(
        s.contains(&format!(
            "> {SOURCE} #0: the mayor's accounts are in the file."
        )),
        "{s}"
    );
    keys(&mut a, &[Key::Char('\n')]);
    let s = screen(&a);
    assert!(s.starts_with(&format!("Conversation with {SOURCE}")), "{s}");
    assert!(s.contains("> #0 submission"), "{s}");
    // Nothing matches: said so.
    keys(&mut a, &[Key::Char('/')]);
    typed(&mut a, "nowhere to be found");
    keys(&mut a, &[Key::Char('\n')]);
    assert!(screen(&a).contains("No message holds this text."));
}

/// Opens SOURCE's thread (the second row) and types `text` as a reply.
fn write_reply(a: &mut App, text: &str) {
    keys(a, &[Key::Down, Key::Char('\n'), Key::Char('r')]);
    typed(a, text);
}

#[test]
fn an_inline_reply_lands_in_the_outgoing_folder_signed_and_readable_by_the_source() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    let text = "Merci pour les comptes.\nWe will call you on Tuesday.";
    write_reply(&mut a, text);
    assert!(
        list(&outgoing(&b)).is_empty(),
        "nothing is written before Ctrl-D"
    );
    keys(&mut a, &[Key::Ctrl('d')]);
    assert!(
        a.status().starts_with("reply encrypted and signed: "),
        "{}",
        a.status()
    );
    let written = list(&outgoing(&b).join(SOURCE));
    assert_eq!(written.len(), 2, "{written:?}");
    let age_file = written
        .iter()
        .find(|p| p.extension().unwrap() == "age")
        .unwrap();
    // Stock minisign, with the reviewer's public key as a .pub file.
    let card = std::fs::read_to_string(b.card()).unwrap();
    let public = card
        .lines()
        .find_map(|l| l.strip_prefix("# minisign: "))
        .unwrap();
    let pub_file = b.dir.path().join("reviewer.pub");
    std::fs::write(
        &pub_file,
        format!("untrusted comment: reviewer\n{public}\n"),
    )
    .unwrap();
    let verify = Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pub_file)
        .arg("-m")
        .arg(age_file)
        .output()
        .expect("minisign installed (scripts/install-deps)");
    assert!(verify.status.success(), "{verify:?}");
    assert!(String::from_utf8_lossy(&verify.stdout)
        .contains(&format!("lanterne-reply v1 designation={SOURCE}")));
    // Stock age: the source's identity and the reviewer's both decrypt it.
    let source_key = b.dir.path().join("source.key");
    std::fs::write(&source_key, format!("{SOURCE_KEY}\n")).unwrap();
    assert_eq!(age_cli_decrypt(&source_key, age_file), text.as_bytes());
    assert_eq!(age_cli_decrypt(&b.key(), age_file), text.as_bytes());
    // The thread shows it as not sent yet, and so does a thread opened again.
    let s = screen(&a);
    assert!(s.contains("your reply: not sent yet"), "{s}");
    assert!(s.contains("| We will call you on Tuesday."), "{s}");
    keys(&mut a, &[Key::Esc, Key::Char('\n')]);
    assert!(screen(&a).contains("your reply: not sent yet"));
}

#[test]
fn esc_cancels_a_reply_and_writes_nothing() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    write_reply(&mut a, "a draft I do not want to send");
    keys(&mut a, &[Key::Esc]);
    assert_eq!(a.status(), "cancelled: nothing written");
    assert!(!outgoing(&b).exists(), "{:?}", list(&outgoing(&b)));
    // An empty reply is not sent either.
    keys(&mut a, &[Key::Char('r'), Key::Char(' '), Key::Ctrl('d')]);
    assert_eq!(a.status(), "the reply is empty: nothing written");
    assert!(!outgoing(&b).exists());
}

#[test]
fn a_reply_is_refused_when_the_imported_reviewer_list_differs_from_the_team() {
    let b = inbox();
    // The server adds its own recipient to the list; the next import keeps that list.
    let evil = age::x25519::Identity::generate().to_public();
    std::fs::write(
        b.root().join("reviewers.txt"),
        format!("{}\n{evil}\n", b.reviewer.to_public()),
    )
    .unwrap();
    lanterne_offline::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    let mut a = app(&b, Lang::En);
    write_reply(&mut a, "hello");
    keys(&mut a, &[Key::Ctrl('d')]);
    assert!(
        a.status()
            .starts_with("error: refusing to reply: the bundle's reviewer list differs"),
        "{}",
        a.status()
    );
    assert!(!outgoing(&b).exists());
    // The reply is kept on screen, not lost.
    assert!(screen(&a).contains("hello_"));
}

#[test]
fn a_file_is_exported_into_the_typed_folder_without_overwriting() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    keys(&mut a, &[Key::Down, Key::Char('\n'), Key::Char('x')]);
    assert_eq!(a.status(), "select a file first (↑↓), then x");
    // The file is the third entry (heading, message, file).
    keys(&mut a, &[Key::Down, Key::Down, Key::Char('x')]);
    let s = screen(&a);
    assert!(
        s.contains(&format!(
            "Export the file into folder: ~/lanterne-export/{SOURCE}_"
        )),
        "{s}"
    );
    let dir = b.dir.path().join("exported");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("accounts.csv"), "mine").unwrap();
    // Replace the default with a folder of the test's.
    for _ in 0..80 {
        keys(&mut a, &[Key::Backspace]);
    }
    typed(&mut a, dir.to_str().unwrap());
    keys(&mut a, &[Key::Char('\n')]);
    let written = dir.join("accounts (2).csv");
    assert_eq!(
        a.status(),
        format!(
            "exported to {}; no identifying metadata found",
            written.display()
        )
    );
    assert_eq!(std::fs::read(&written).unwrap(), b"a,b\n1,2\n");
    assert_eq!(std::fs::read(dir.join("accounts.csv")).unwrap(), b"mine");
}

#[test]
fn a_hostile_source_cannot_put_control_characters_on_the_screen() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let message = "hello\x1b[2J\x1b]0;owned\x07 world\r\u{202e}txt.exe\u{9b}31m";
    submit(
        &b,
        SOURCE,
        "s0000000001-aa",
        message,
        &[("evil\x1b[31m\u{202e}gpj.exe", "text/plain\x1b[5m", b"x")],
    );
    lanterne_offline::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    let mut a = app(&b, Lang::En);
    keys(&mut a, &[Key::Char('\n')]);
    let shown = screen(&a);
    // Search shows message lines too.
    keys(&mut a, &[Key::Char('/')]);
    typed(&mut a, "hello");
    keys(&mut a, &[Key::Char('\n')]);
    let searched = screen(&a);
    for s in [&shown, &searched] {
        let bad: Vec<char> = s
            .chars()
            .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
            .collect();
        assert!(bad.is_empty(), "{bad:?} reached the screen:\n{s}");
        assert!(
            s.contains("hello\\u{1b}[2J\\u{1b}]0;owned\\u{7} world"),
            "{s}"
        );
    }
    assert!(
        shown.contains("\"evil\\u{1b}[31m\\u{202e}gpj.exe\""),
        "{shown}"
    );
    assert!(shown.contains("\"text/plain\\u{1b}[5m\""), "{shown}");
}

#[test]
fn the_inbox_is_locked_per_action_not_for_the_session() {
    let b = inbox();
    let mut a = app(&b, Lang::En);
    keys(&mut a, &[Key::Char('\n')]);
    // While the UI is open on a thread, another command (an import, a star) runs at once.
    let (home, root, key) = (b.review_home(), b.root(), b.key());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = lanterne_offline::import(&root, &key, None, &home).map(|r| r.already);
        tx.send(r.map_err(|e| e.to_string())).unwrap();
    });
    let done = rx.recv_timeout(std::time::Duration::from_secs(20));
    assert_eq!(done.expect("the import waited for the UI's lock"), Ok(2));
    // And what it changes shows after the next action.
    lanterne_offline::set_star(&b.review_home(), SOURCE, true).unwrap();
    keys(&mut a, &[Key::Esc]);
    assert!(screen(&a).contains(&format!("* {SOURCE}")));
}
