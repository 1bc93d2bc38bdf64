//! The reviewers' offline commands, on bundles built by hand exactly as docs/bundle.md says:
//! decrypting, refusing damaged or tampered files, sanitizing names, passphrase-protected
//! identities, replies, metadata reports, and running with no network at all.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use lanterne_core::manifest::{FileEntry, Manifest};
use lanterne_offline::{self as review, ReviewError, SubmissionStatus};
use rand::RngCore;
use support::files as common;
use support::{TestBundle, SOURCE};

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// Files whose name shows they are temporary work of `review open`.
fn debris(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for p in common::list(&d) {
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".lanterne-")
            {
                found.push(p.clone());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    found
}

#[test]
fn open_writes_the_exact_bytes_the_message_and_a_manifest_and_skips_what_is_done() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let report_pdf = random_bytes(200_000);
    let notes = b"plain notes\n".to_vec();
    b.add_submission(
        "sub-1",
        "Bonjour,\nvoici les documents.",
        &[
            ("report.pdf", "application/pdf", &report_pdf),
            ("notes.txt", "text/plain", &notes),
        ],
    );
    let report = b.open();
    assert!(!report.has_problems(), "{report}");
    assert_eq!(report.count(SubmissionStatus::Opened), 1, "{report}");
    let folder = b.out().join(SOURCE).join("sub-1");
    assert_eq!(
        std::fs::read(folder.join("report.pdf")).unwrap(),
        report_pdf
    );
    assert_eq!(std::fs::read(folder.join("notes.txt")).unwrap(), notes);
    assert_eq!(
        std::fs::read_to_string(folder.join("message.txt")).unwrap(),
        "Bonjour,\nvoici les documents."
    );
    let manifest = std::fs::read_to_string(folder.join("manifest.txt")).unwrap();
    for want in [
        "received:    \"2026-11-22\"",
        "sent as:       \"report.pdf\"",
        "declared type: \"application/pdf\"",
        "size:          200000 bytes",
        "saved as:      notes.txt",
    ] {
        assert!(manifest.contains(want), "{want:?} not in\n{manifest}");
    }
    let shown = report.to_string();
    assert!(
        shown.contains(&format!("{SOURCE} / sub-1: opened")) && shown.contains("report.pdf"),
        "{shown}"
    );
    assert!(debris(&b.out()).is_empty());

    // A later fetch adds a submission without a message: only it is opened.
    b.add_submission("sub-2", "", &[("x.bin", "application/octet-stream", b"x")]);
    let again = b.open();
    assert_eq!(again.count(SubmissionStatus::AlreadyOpened), 1, "{again}");
    assert_eq!(again.count(SubmissionStatus::Opened), 1, "{again}");
    let second = b.out().join(SOURCE).join("sub-2");
    assert!(second.join("x.bin").is_file());
    assert!(!second.join("message.txt").exists());
}

#[test]
fn the_bundles_files_decrypt_with_the_stock_age_cli() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let body = random_bytes(70_000);
    let sub = b.add_submission("s", "m", &[("a.bin", "application/octet-stream", &body)]);
    assert_eq!(
        common::age_cli_decrypt(&b.key(), &b.ciphertexts(&sub)[0]),
        body
    );
    let manifest = common::age_cli_decrypt(&b.key(), &sub.join("manifest.age"));
    let parsed = Manifest::parse(&manifest).unwrap();
    assert_eq!(parsed.files[0].name, "a.bin");
}

#[test]
fn a_truncated_ciphertext_is_reported_and_leaves_no_file_and_no_debris() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let big = random_bytes(200_000);
    let small = b"fine".to_vec();
    let sub = b.add_submission(
        "t",
        "",
        &[
            ("big.bin", "application/octet-stream", &big),
            ("small.txt", "text/plain", &small),
        ],
    );
    let manifest = Manifest::parse(&common::age_cli_decrypt(
        &b.key(),
        &sub.join("manifest.age"),
    ))
    .unwrap();
    let big_ct = sub.join(&manifest.files[0].stored_as);
    let original = std::fs::read(&big_ct).unwrap();

    // Cut at a chunk boundary (header, 16-byte nonce, one full 64 KiB chunk and its tag) and
    // in the middle of a chunk; SHA256SUMS is made to match, as if fetch copied a cut file.
    let header_end = original
        .windows(5)
        .position(|w| w == b"\n--- ")
        .map(|p| p + 1 + original[p + 1..].iter().position(|&c| c == b'\n').unwrap() + 1)
        .unwrap();
    for cut in [header_end + 16 + 65536 + 16, original.len() - 100] {
        std::fs::write(&big_ct, &original[..cut]).unwrap();
        b.write_sums();
        let report = b.open();
        assert_eq!(report.count(SubmissionStatus::Incomplete), 1, "{report}");
        let s = &report.submissions[0];
        assert!(s.files[0].saved.is_none());
        assert!(
            s.files[0].problems[0].contains("damaged or truncated"),
            "{:?}",
            s.files[0].problems
        );
        let folder = b.out().join(SOURCE).join("t.incomplete");
        assert!(!folder.join("big.bin").exists());
        assert_eq!(std::fs::read(folder.join("small.txt")).unwrap(), small);
        assert!(std::fs::read_to_string(folder.join("manifest.txt"))
            .unwrap()
            .contains("NOT SAVED"));
        assert!(common::any_file_contains(&b.out(), &big[..1000]).is_none());
        assert!(debris(&b.out()).is_empty(), "{:?}", debris(&b.out()));
    }

    // The next fetch brings the whole file: the submission is opened in full.
    std::fs::write(&big_ct, &original).unwrap();
    b.write_sums();
    let report = b.open();
    assert_eq!(report.count(SubmissionStatus::Opened), 1, "{report}");
    assert_eq!(
        std::fs::read(b.out().join(SOURCE).join("t/big.bin")).unwrap(),
        big
    );
    assert!(!b.out().join(SOURCE).join("t.incomplete").exists());
}

#[test]
fn hostile_names_stay_inside_the_output_folder() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let names = [
        "../../etc/passwd",
        "/etc/shadow",
        "..",
        "same.txt",
        "SAME.txt",
        "message.txt",
        ".profile",
        "evil\u{1b}[31m\u{202E}gpj.exe",
    ];
    let files: Vec<(&str, &str, &[u8])> = names
        .iter()
        .map(|n| (*n, "text/plain", n.as_bytes()))
        .collect();
    b.add_submission("n", "hi", &files);
    let report = b.open();
    assert!(!report.has_problems(), "{report}");
    let folder = b.out().join(SOURCE).join("n");
    let mut saved: Vec<String> = Vec::new();
    for f in &report.submissions[0].files {
        let path = f.saved.as_ref().unwrap();
        assert_eq!(path.parent().unwrap(), folder, "{path:?}");
        assert_eq!(std::fs::read(path).unwrap(), f.sent_name.as_bytes());
        saved.push(f.saved_name.clone());
    }
    assert_eq!(
        saved,
        [
            "passwd",
            "shadow",
            "file-3",
            "same.txt",
            "SAME (2).txt",
            "message (2).txt",
            "profile",
            "evil[31mgpj.exe"
        ]
    );
    assert!(!b.dir.path().join("etc").exists());
    let shown = report.to_string();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{202E}'),
        "{shown}"
    );
    assert!(shown.contains("\\u{1b}"), "{shown}");
}

/// A hostile server lists one large ciphertext many times, so the offline machine would
/// decrypt and write it again for each entry.
#[test]
fn a_ciphertext_listed_twice_in_a_manifest_is_opened_once() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let big = random_bytes(300_000);
    let sub = b.add_submission("s1", "", &[("big.bin", "application/octet-stream", &big)]);
    let stored_as = b.ciphertexts(&sub)[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let entries = (0..5)
        .map(|i| FileEntry {
            name: format!("copy{i}.bin"),
            content_type: "application/octet-stream".into(),
            size: big.len() as u64,
            stored_as: stored_as.clone(),
        })
        .collect();
    b.write_manifest(&sub, "", entries);
    let report = b.open();
    let s = &report.submissions[0];
    let saved: Vec<_> = s.files.iter().filter_map(|f| f.saved.clone()).collect();
    assert_eq!(saved.len(), 1, "{report}");
    assert_eq!(std::fs::read(&saved[0]).unwrap(), big);
    let refused = s
        .files
        .iter()
        .filter(|f| f.problems.iter().any(|p| p.contains("more than once")))
        .count();
    assert_eq!(refused, 4, "{report}");
    assert_eq!(s.status, SubmissionStatus::Incomplete);
}

/// A manifest with more entries than any box accepts is refused whole, before any work.
#[test]
fn a_manifest_with_more_entries_than_the_cap_is_refused() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "hi", &[("a.txt", "text/plain", b"a")]);
    let cap = lanterne_core::manifest::MAX_FILES;
    let entries = (0..=cap)
        .map(|i| FileEntry {
            name: format!("f{i}"),
            content_type: "text/plain".into(),
            size: 1,
            stored_as: format!("{:032x}.age", i),
        })
        .collect();
    b.write_manifest(&sub, "hi", entries);
    let report = b.open();
    let s = &report.submissions[0];
    assert_eq!(s.status, SubmissionStatus::Failed, "{report}");
    assert!(s.files.is_empty());
    let want = format!("more than the {cap}");
    assert!(s.problems.iter().any(|p| p.contains(&want)), "{report}");
    assert!(!b.out().join(SOURCE).join("s1").exists());
}

/// An office file whose zip directory is huge is not parsed for metadata: many entries, or a
/// directory of many bytes.
#[test]
fn zip_directories_past_the_caps_are_not_parsed() {
    use zip::write::SimpleFileOptions;
    let core = r#"<cp:coreProperties xmlns:cp="c" xmlns:dc="d"><dc:creator>Jane Doe</dc:creator></cp:coreProperties>"#;
    let office = |fillers: usize, name_len: usize| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("docProps/core.xml", opts).unwrap();
        w.write_all(core.as_bytes()).unwrap();
        for i in 0..fillers {
            w.start_file(format!("{i:0name_len$}"), opts).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let many = office(20_000, 8);
    let wide = office(100, 50_000);
    let small = office(10, 8);
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission(
        "s1",
        "",
        &[
            ("many.docx", "application/zip", &many),
            ("wide.docx", "application/zip", &wide),
            ("small.docx", "application/zip", &small),
        ],
    );
    let report = b.open();
    let files = &report.submissions[0].files;
    assert!(files.iter().all(|f| f.saved.is_some()), "{report}");
    let jane = |f: &review::FileReport| f.metadata.iter().any(|m| m.value == "Jane Doe");
    assert!(jane(&files[2]), "the small one is examined: {report}");
    for (f, why) in [(&files[0], "entries"), (&files[1], "bytes")] {
        assert!(!jane(f), "{report}");
        assert!(
            f.notes
                .iter()
                .any(|n| n.contains("not examined") && n.contains(why)),
            "{report}"
        );
    }
}

#[test]
fn a_sha256sums_mismatch_is_reported_and_the_file_is_not_decrypted() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let secret = b"CANARY-mismatch-0123456789".to_vec();
    let sub = b.add_submission("m", "", &[("a.txt", "text/plain", &secret)]);
    // Replace the ciphertext with another valid one: it decrypts, but is not what was fetched.
    let ct = &b.ciphertexts(&sub)[0];
    std::fs::write(ct, b.seal(&secret)).unwrap();
    let report = b.open();
    assert!(report.has_problems());
    let f = &report.submissions[0].files[0];
    assert!(f.saved.is_none());
    assert!(f.problems[0].contains("SHA256SUMS"), "{:?}", f.problems);
    assert!(common::any_file_contains(&b.out(), &secret).is_none());

    // A damaged manifest fails the whole submission, with nothing written for it.
    let sub2 = b.add_submission("z", "", &[("b.txt", "text/plain", b"b")]);
    let mut m = std::fs::read(sub2.join("manifest.age")).unwrap();
    let last = m.len() - 1;
    m[last] ^= 1;
    std::fs::write(sub2.join("manifest.age"), m).unwrap();
    let report = b.open();
    let z = report.submissions.iter().find(|s| s.id == "z").unwrap();
    assert_eq!(z.status, SubmissionStatus::Failed);
    assert!(z.problems[0].contains("SHA256SUMS"), "{:?}", z.problems);
    assert!(!b.out().join(SOURCE).join("z").exists());
}

#[test]
fn a_passphrase_protected_identity_opens_the_bundle() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("p", "", &[("a.txt", "text/plain", b"protected")]);
    let protected = b.dir.path().join("reviewer.key.age");
    let enc = age::Encryptor::with_user_passphrase(SecretString::from("tres secret"));
    let mut ct = Vec::new();
    let mut w = enc.wrap_output(&mut ct).unwrap();
    w.write_all(&std::fs::read(b.key()).unwrap()).unwrap();
    w.finish().unwrap();
    std::fs::write(&protected, ct).unwrap();

    assert!(review::identity_needs_passphrase(&protected).unwrap());
    assert!(!review::identity_needs_passphrase(&b.key()).unwrap());
    let err = review::open(&b.root(), &protected, &b.out(), None)
        .err()
        .unwrap();
    assert!(matches!(err, ReviewError::PassphraseNeeded(_)), "{err}");
    assert!(err.to_string().contains("LANTERNE_IDENTITY_PASSPHRASE"));
    let err = review::open(&b.root(), &protected, &b.out(), Some("nope".into()))
        .err()
        .unwrap();
    assert!(matches!(err, ReviewError::WrongPassphrase(_)), "{err}");
    let report = review::open(&b.root(), &protected, &b.out(), Some("tres secret".into())).unwrap();
    assert_eq!(report.count(SubmissionStatus::Opened), 1, "{report}");
    assert_eq!(
        std::fs::read(b.out().join(SOURCE).join("p/a.txt")).unwrap(),
        b"protected"
    );
}

#[test]
fn a_reply_decrypts_with_the_source_and_the_reviewer_identity() {
    let b = TestBundle::new();
    let source = b.add_source(SOURCE);
    // What the reply answers.
    b.add_submission_to(SOURCE, "s0000000001-aa", "hello", &[]);
    let message = b.dir.path().join("reply.txt");
    std::fs::write(&message, "Merci. Pouvez-vous préciser la date ?\n").unwrap();
    let replies = b.dir.path().join("replies");
    let path = b.reply(SOURCE, &message, &replies).unwrap();
    assert_eq!(path.parent().unwrap(), replies.join(SOURCE));
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.len() == 36 && name.ends_with(".age"), "{name}");

    let source_key = b.dir.path().join("source.key");
    std::fs::write(&source_key, source.to_string().expose_secret()).unwrap();
    // The text, then the NULs that pad it to its size bucket (lanterne_core::padding).
    for key in [&source_key, &b.key()] {
        let plain = common::age_cli_decrypt(key, &path);
        assert_eq!(plain.len(), lanterne_core::padding::MIN_BUCKET as usize);
        assert_eq!(
            lanterne_core::padding::unpad_text(&plain),
            std::fs::read(&message).unwrap()
        );
    }
    let second = b.reply(SOURCE, &message, &replies).unwrap();
    assert_ne!(second, path);
    assert!(debris(&replies).is_empty());

    for bad in ["../x", "Brave", "", "a/b"] {
        let e = b.reply(bad, &message, &replies).err().unwrap();
        assert!(matches!(e, ReviewError::BadDesignation(_)), "{e}");
    }
    let e = b.reply("nobody-here-1", &message, &replies).err().unwrap();
    assert!(matches!(e, ReviewError::UnknownSource(_)), "{e}");
    // A post-quantum reviewer the team pinned (a read-only card) cannot share a reply.
    let pq_card = b.dir.path().join("pq.card");
    std::fs::write(
        &pq_card,
        "age1pq1qzw5ytwn5g8xu3r9l5dw2g0wshd3c0nxxgcwu2ultzz2jm3dv0sqfhmxuu\n",
    )
    .unwrap();
    b.review_home().add_card(&pq_card).unwrap();
    std::fs::write(
        b.root().join("reviewers.txt"),
        format!(
            "{}\nage1pq1qzw5ytwn5g8xu3r9l5dw2g0wshd3c0nxxgcwu2ultzz2jm3dv0sqfhmxuu\n",
            b.reviewer.to_public()
        ),
    )
    .unwrap();
    let e = b.reply(SOURCE, &message, &replies).err().unwrap();
    assert!(matches!(e, ReviewError::PostQuantumReply), "{e}");
}

/// A JPEG (SOI, APP1 "Exif", EOI) with camera, software and GPS fields.
fn jpeg_with_exif() -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let ascii = |tag, s: &str| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    };
    let dms = |tag, d, m, s| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(vec![
            Rational { num: d, denom: 1 },
            Rational { num: m, denom: 1 },
            Rational { num: s, denom: 1 },
        ]),
    };
    let fields = [
        ascii(Tag::Make, "Canon"),
        ascii(Tag::Model, "Canon EOS R5"),
        ascii(Tag::BodySerialNumber, "0123456789"),
        ascii(Tag::Software, "Adobe Lightroom"),
        ascii(Tag::DateTimeOriginal, "2026:11:20 14:02:11"),
        ascii(Tag::GPSLatitudeRef, "N"),
        dms(Tag::GPSLatitude, 45, 45, 0),
        ascii(Tag::GPSLongitudeRef, "E"),
        dms(Tag::GPSLongitude, 4, 51, 0),
    ];
    let mut w = exif::experimental::Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
    jpeg.extend_from_slice(&u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
    jpeg.extend_from_slice(b"Exif\0\0");
    jpeg.extend_from_slice(&tiff);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

#[test]
fn exif_metadata_in_a_jpeg_is_reported_and_the_file_left_as_sent() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let jpeg = jpeg_with_exif();
    b.add_submission("e", "", &[("IMG_0001.JPG", "image/jpeg", &jpeg)]);
    let report = b.open();
    let file = &report.submissions[0].files[0];
    assert_eq!(std::fs::read(file.saved.as_ref().unwrap()).unwrap(), jpeg);
    let found: Vec<String> = file
        .metadata
        .iter()
        .map(|m| format!("{}|{}|{}", m.source, m.field, m.value))
        .collect();
    for want in [
        "EXIF|Model|Canon EOS R5",
        "EXIF|Camera serial number|0123456789",
        "EXIF|Software|Adobe Lightroom",
        "EXIF|Date taken|2026:11:20 14:02:11",
        "EXIF|GPS position|45.750000, 4.850000",
    ] {
        assert!(found.iter().any(|f| f == want), "{want} not in {found:?}");
    }
    let shown = report.to_string();
    assert!(shown.contains("identifying metadata"), "{shown}");
    let manifest = std::fs::read_to_string(b.out().join(SOURCE).join("e/manifest.txt")).unwrap();
    assert!(manifest.contains("GPS position"), "{manifest}");
}

#[test]
fn the_lanterne_review_binary_works_with_no_network_and_opens_no_socket() {
    support::offline_round_trip(env!("CARGO_BIN_EXE_lanterne-review"), &[]);
}

/// Files as a box stores them, padded with zeros to their size bucket, give back their exact
/// bytes through `review open`, `import` and `export`; a file stored exactly (before padding
/// existed) too. Any other length, or padding that is not zeros, is named.
#[test]
fn padded_files_come_back_exact_and_other_lengths_are_named() {
    use lanterne_core::padding::{bucket, PAD_BYTE};
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "m", &[]);
    let body = random_bytes(70_000);
    let padded = |len: u64, fill: u8| {
        let mut v = body.clone();
        v.resize(len as usize, fill);
        v
    };
    let full = bucket(body.len() as u64);
    let files: [(&str, Vec<u8>, bool); 5] = [
        ("padded.bin", padded(full, PAD_BYTE), true),
        ("exact.bin", body.clone(), true),
        ("half-padded.bin", padded(full - 1000, PAD_BYTE), false),
        ("over-padded.bin", padded(full + 1, PAD_BYTE), false),
        ("not-zeros.bin", padded(full, 7), false),
    ];
    let mut entries = Vec::new();
    for (name, plain, _) in &files {
        let stored_as = format!("{}.age", support::random_hex());
        std::fs::write(sub.join(&stored_as), b.seal(plain)).unwrap();
        entries.push(FileEntry {
            name: name.to_string(),
            content_type: "application/octet-stream".into(),
            size: body.len() as u64,
            stored_as,
        });
    }
    b.write_manifest(&sub, "m", entries);
    let bad = files.iter().filter(|f| !f.2).count();

    let opened = b.open();
    assert_eq!(opened.submissions[0].status, SubmissionStatus::Incomplete);
    let text = opened.to_string();
    assert_eq!(text.matches("and their padding").count(), bad, "{text}");
    let imported = review::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    assert_eq!(imported.unreadable.len(), bad, "{imported}");
    let out = b.dir.path().join("exported");
    let exported = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    assert_eq!(exported.problems.len(), bad, "{exported:?}");
    for (name, _, good) in &files {
        for dir in [b.out().join(SOURCE), out.clone()] {
            let found: Vec<_> = common::walk(&dir)
                .into_iter()
                .filter(|f| f.file_name().is_some_and(|n| n == *name))
                .collect();
            if *good {
                assert_eq!(found.len(), 1, "{name} in {dir:?}");
                assert!(std::fs::read(&found[0]).unwrap() == body, "{name}");
            } else {
                assert!(found.is_empty(), "{name} saved in {dir:?}");
            }
        }
    }
}
