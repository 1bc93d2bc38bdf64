//! A hostile source sends files that run code when the reviewer opens them: a Word document
//! with a VBA project, a PDF that runs JavaScript, Linux and Windows programs, and a program
//! named like a PDF. `review show`, `review export`'s transcript and `review open`'s report
//! must say "risky: … do not open it on this machine" for each, from the bytes, and stay quiet
//! about a plain text file and a plain PDF.

mod support;

use std::io::Write;

use lanterne_offline as review;
use support::{TestBundle, SOURCE};

/// A macro-enabled Word document as Word writes one: its content types say
/// `macroEnabled`, and `word/vbaProject.bin` holds the VBA project.
fn docm() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let parts: [(&str, &[u8]); 4] = [
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/><Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>"#,
        ),
        (
            "word/document.xml",
            br#"<w:document xmlns:w="w"><w:body/></w:document>"#,
        ),
        (
            "docProps/core.xml",
            br#"<cp:coreProperties xmlns:cp="c" xmlns:dc="d"><dc:creator>Ann</dc:creator></cp:coreProperties>"#,
        ),
        (
            "word/vbaProject.bin",
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1Sub AutoOpen() Shell \"calc\" End Sub",
        ),
    ];
    for (name, body) in parts {
        w.start_file(name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A PDF whose catalog runs JavaScript when it is opened, the name hex-escaped as tools do to
/// slip past naive scanners.
const PDF_JS: &[u8] = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /OpenAction 2 0 R >>\nendobj\n\
2 0 obj\n<< /S /JavaScript /J#53 (app.alert('x');) >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// A plain PDF with nothing active in it.
const PDF_PLAIN: &[u8] = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
trailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// The start of a 64-bit little-endian ELF executable.
fn elf() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\0".to_vec();
    b.resize(64, 0);
    b[16] = 2; // ET_EXEC
    b[18] = 0x3e; // x86-64
    b
}

/// The start of a Windows PE program: the DOS stub's `e_lfanew` points to `PE\0\0`.
fn pe() -> Vec<u8> {
    let mut b = vec![0u8; 0x200];
    b[..2].copy_from_slice(b"MZ");
    b[0x3C] = 0x80;
    b[0x80..0x86].copy_from_slice(b"PE\0\0\x64\x86");
    b
}

/// The thread as `review show` prints it, split per file: (file line, the lines under it).
fn files_of(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("file ") {
            out.push((line.to_owned(), Vec::new()));
        } else if let Some(last) = out.last_mut() {
            if line.starts_with("    ") {
                last.1.push(line.trim().to_owned());
            }
        }
    }
    out
}

fn risky(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.starts_with("risky:")).collect()
}

#[test]
fn risky_files_are_named_in_show_export_and_open() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let (docm, elf, pe) = (docm(), elf(), pe());
    b.add_submission(
        "s1",
        "please look",
        &[
            ("minutes.docm", "application/octet-stream", &docm),
            ("leak.pdf", "application/pdf", PDF_JS),
            ("tool", "application/octet-stream", &elf),
            ("setup.exe", "application/octet-stream", &pe),
            ("report.pdf", "application/pdf", &elf),
            ("notes.txt", "text/plain", b"just words"),
            ("plain.pdf", "application/pdf", PDF_PLAIN),
        ],
    );
    review::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    let shown = review::show(&b.review_home(), SOURCE, &b.key(), None)
        .unwrap()
        .to_string();
    let out = b.out();
    let exported = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    let transcript = std::fs::read_to_string(&exported.transcript).unwrap();
    for text in [&shown, &transcript] {
        let files = files_of(text);
        assert_eq!(files.len(), 7, "{text}");
        let want: [&[&str]; 7] = [
            &["VBA macros"],
            &["JavaScript", "/OpenAction"],
            &["ELF program"],
            &["Windows program"],
            &[
                "ELF program",
                "ends in \".pdf\" but the content is an ELF program",
            ],
            &[],
            &[],
        ];
        for ((head, lines), want) in files.iter().zip(want) {
            let r = risky(lines);
            if want.is_empty() {
                assert!(r.is_empty(), "{head}: {r:?}\n{text}");
                continue;
            }
            for w in want {
                assert!(r.iter().any(|l| l.contains(w)), "{head}: no {w:?} in {r:?}");
            }
            for l in r {
                assert!(l.contains("do not open it on this machine"), "{l}");
            }
        }
    }
    // `review open` says the same in its report.
    let report = b.open();
    let text = report.to_string();
    let files = &report.submissions[0].files;
    assert!(files[0].risks.iter().any(|r| r.contains("VBA")), "{text}");
    assert!(files[4].risks.len() == 2, "{text}");
    assert!(
        files[5].risks.is_empty() && files[6].risks.is_empty(),
        "{text}"
    );
    assert!(text.contains("risky: an ELF program"), "{text}");
}
