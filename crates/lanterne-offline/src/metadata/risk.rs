//! Risky file types: a decrypted file that could run code when the reviewer opens it.
//!
//! The inbox never opens a file itself, but the reviewer will, and a drop box is where an
//! attacker sends a trap: a program dressed as a document, an Office file with macros, a PDF
//! that runs JavaScript or launches a command. This module says so before the file is opened,
//! from the bytes (magic numbers and structure), never only from the source's name or type,
//! and it also flags a name whose extension does not match the content, since the reviewer's
//! desktop picks the program that opens a file by its name.
//!
//! The content checks read what the other readers already read: the first bytes, the zip's
//! entry names and `[Content_Types].xml` (under `zip_bounds`' caps) and the PDF's bytes and
//! its inflated object streams (`pdf.rs`' caps). Each risk is one sentence; `Collector::risk`
//! keeps them, and `review show`, `review export`'s transcript and `review open`'s report print
//! them as "risky: …".

use super::Kind;

/// What to do about any risky file, after "do not open it on this machine".
const ADVICE: &str = "if it must be examined, do it on a separate machine kept offline, \
                      with nothing else on it, or convert it there first";

/// The kind of program or document the first bytes reveal, beyond [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Content {
    Elf,
    Pe,
    Dos,
    MachO,
    /// Mach-O universal binary or Java class file (both start `CA FE BA BE`).
    FatOrJava,
    Script,
    Ole2,
    Shortcut,
    Desktop,
    Hta,
}

impl Content {
    fn describe(self) -> &'static str {
        match self {
            Content::Elf => "an ELF program (Linux, BSD)",
            Content::Pe => "a Windows program (PE executable or DLL)",
            Content::Dos => "a DOS or Windows executable (MZ header)",
            Content::MachO => "a macOS program (Mach-O)",
            Content::FatOrJava => "a macOS universal program or a Java class file",
            Content::Script => "a script that names its interpreter (#!)",
            Content::Ole2 => {
                "a legacy Office or Outlook file (OLE2 compound document: .doc, .xls, .ppt, \
                 .msg…), and macros cannot be ruled out in it"
            }
            Content::Shortcut => "a Windows shortcut (.lnk), which can run any command",
            Content::Desktop => "a desktop launcher (.desktop), which runs a command when opened",
            Content::Hta => "an HTML application (HTA), which runs with the user's rights",
        }
    }

    /// Extensions under which this content is expected (no mismatch warning).
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Content::Elf => &["", "so", "o", "bin", "elf", "run", "appimage"],
            Content::Pe | Content::Dos => &["exe", "dll", "sys", "scr", "cpl", "com", "efi"],
            Content::MachO | Content::FatOrJava => &["", "dylib", "bundle", "class", "o"],
            Content::Script => &["", "sh", "bash", "py", "pl", "rb", "command"],
            Content::Ole2 => &[
                "doc", "dot", "xls", "xlt", "ppt", "pot", "msg", "msi", "pub",
            ],
            Content::Shortcut => &["lnk"],
            Content::Desktop => &["desktop"],
            Content::Hta => &["hta"],
        }
    }
}

/// What the first bytes say, if they are a program, script or risky document.
pub(super) fn content(head: &[u8]) -> Option<Content> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"\x7fELF") {
        Some(Content::Elf)
    } else if starts(b"MZ") {
        // `e_lfanew`, at 0x3C, points to the PE signature.
        let pe = head
            .get(0x3C..0x40)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .and_then(|at| head.get(at..at + 4))
            == Some(b"PE\0\0");
        if pe {
            Some(Content::Pe)
        } else if head.len() >= 64 {
            Some(Content::Dos)
        } else {
            None
        }
    } else if [
        b"\xFE\xED\xFA\xCE",
        b"\xFE\xED\xFA\xCF",
        b"\xCE\xFA\xED\xFE",
        b"\xCF\xFA\xED\xFE",
    ]
    .iter()
    .any(|m| starts(*m))
    {
        Some(Content::MachO)
    } else if starts(b"\xCA\xFE\xBA\xBE") {
        Some(Content::FatOrJava)
    } else if starts(b"#!") {
        Some(Content::Script)
    } else if starts(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        Some(Content::Ole2)
    } else if starts(b"\x4C\0\0\0\x01\x14\x02\0") {
        Some(Content::Shortcut)
    } else {
        let text = String::from_utf8_lossy(&head[..head.len().min(1024)]).to_lowercase();
        let first_line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if first_line == Some("[desktop entry]") {
            Some(Content::Desktop)
        } else if text.contains("<hta:application") {
            Some(Content::Hta)
        } else {
            None
        }
    }
}

/// Extensions that run code on a usual desktop whatever the bytes look like (scripts are text).
const RISKY_EXTENSIONS: &[&str] = &[
    "exe",
    "dll",
    "scr",
    "com",
    "cpl",
    "msi",
    "msp",
    "bat",
    "cmd",
    "ps1",
    "psm1",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "lnk",
    "url",
    "scf",
    "reg",
    "jar",
    "desktop",
    "sh",
    "command",
    "appimage",
    "run",
    "deb",
    "rpm",
    "apk",
    "app",
    "pif",
    "application",
    "iso",
    "img",
    "vhd",
    "docm",
    "dotm",
    "xlsm",
    "xltm",
    "xlam",
    "pptm",
    "potm",
    "ppsm",
    "sldm",
];

/// Extensions whose content has a magic number this module knows, with the kind it must be.
fn expected_kind(ext: &str) -> Option<Kind> {
    match ext {
        "pdf" => Some(Kind::Pdf),
        "jpg" | "jpeg" | "png" | "tif" | "tiff" | "webp" | "heic" | "heif" | "avif" | "mp4"
        | "mov" | "m4a" => Some(Kind::Image),
        "docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "pptm" | "odt" | "ods" | "odp" | "zip"
        | "epub" | "jar" | "apk" => Some(Kind::Zip),
        _ => None,
    }
}

/// The lowercased extension of a name (`""` if none).
fn extension(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match last.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.trim().to_lowercase(),
        _ => String::new(),
    }
}

/// One risk sentence, as [`super::Inspection::risks`] holds it.
pub(super) fn sentence(what: &str) -> String {
    format!("{what}: do not open it on this machine; {ADVICE}")
}

/// The risks that the first bytes and the name give: programs, scripts, legacy Office files,
/// shortcuts and launchers, risky extensions, and a name that does not match the content.
pub(super) fn from_head_and_name(head: &[u8], kind: &Kind, name: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let found = content(head);
    if let Some(c) = found {
        out.push(sentence(c.describe()));
    }
    let Some(name) = name else { return out };
    let ext = extension(name);
    let shown_ext = super::super::names::shown(&format!(".{ext}"));
    if found.is_none() && RISKY_EXTENSIONS.contains(&ext.as_str()) {
        out.push(sentence(&format!(
            "its name ends in {shown_ext}, a type that runs code or holds macros when opened"
        )));
    }
    let what = match (found, kind) {
        (Some(c), _) => Some(c.describe()),
        (None, Kind::Pdf) => Some("a PDF"),
        (None, Kind::Image) => Some("an image or video"),
        (None, Kind::Zip) => Some("a zip archive (or a document built on one)"),
        (None, Kind::Other) => None,
    };
    let mismatch = match (found, expected_kind(&ext)) {
        (Some(c), _) => !c.extensions().contains(&ext.as_str()),
        (None, Some(want)) => &want != kind,
        (None, None) => false,
    };
    if mismatch {
        let is = what.unwrap_or("not that kind of file");
        let ext_part = if ext.is_empty() {
            "it has no extension".to_owned()
        } else {
            format!("its name ends in {shown_ext}")
        };
        out.push(sentence(&format!(
            "{ext_part} but the content is {is}: the name hides what it is"
        )));
    }
    out
}

/// PDF names that run code, launch programs or carry files, with what they mean.
const PDF_ACTIONS: &[(&[u8], &str)] = &[
    (b"JavaScript", "JavaScript"),
    (b"JS", "JavaScript"),
    (
        b"OpenAction",
        "an action run when it is opened (/OpenAction)",
    ),
    (b"AA", "actions run on page or form events (/AA)"),
    (b"Launch", "an action that launches a program (/Launch)"),
    (b"EmbeddedFile", "embedded files (/EmbeddedFile)"),
    (b"EmbeddedFiles", "embedded files (/EmbeddedFiles)"),
    (b"RichMedia", "embedded media or Flash (/RichMedia)"),
    (b"SubmitForm", "a form that sends data out (/SubmitForm)"),
];

/// The PDF names in `data` among [`PDF_ACTIONS`], `#xx` escapes decoded (`/J#53` is `/JS`).
pub(super) fn pdf_actions(data: &[u8]) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    let mut from = 0;
    while let Some(slash) = memchr::memchr(b'/', &data[from..]).map(|p| p + from) {
        let mut name = Vec::new();
        let mut p = slash + 1;
        while let Some(&b) = data.get(p) {
            if b.is_ascii_whitespace() || b"/[]()<>{}%".contains(&b) || name.len() > 32 {
                break;
            }
            if b == b'#' {
                let hex = data
                    .get(p + 1..p + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    name.push(v);
                    p += 3;
                    continue;
                }
            }
            name.push(b);
            p += 1;
        }
        from = p.max(slash + 1);
        if let Some((_, what)) = PDF_ACTIONS.iter().find(|(n, _)| *n == name.as_slice()) {
            if !found.contains(what) {
                found.push(what);
            }
        }
    }
    found
}

/// The risk sentence for a PDF's actions, if any.
pub(super) fn pdf_sentence(actions: &[&str]) -> Option<String> {
    (!actions.is_empty()).then(|| {
        sentence(&format!(
            "a PDF with {}, which a PDF reader may run or open",
            actions.join(", ")
        ))
    })
}

/// The risks in a zip's entry names and `[Content_Types].xml`: VBA projects, macro-enabled
/// Office content types, OpenDocument macros.
pub(super) fn zip_macros(names: &[String], content_types: Option<&str>) -> Option<String> {
    let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let vba = lower.iter().any(|n| n.ends_with("vbaproject.bin"));
    let macro_type = content_types.is_some_and(|t| t.to_lowercase().contains("macroenabled"));
    let odf = lower
        .iter()
        .any(|n| n.starts_with("basic/") || n.starts_with("scripts/"));
    let what = if vba {
        "an Office document with VBA macros (vbaProject.bin)"
    } else if macro_type {
        "a macro-enabled Office document (its content types say so)"
    } else if odf {
        "an OpenDocument file with macros or scripts (Basic/, Scripts/)"
    } else {
        return None;
    };
    Some(sentence(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_name_programs_and_risky_documents() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(content(&pe), Some(Content::Pe));
        pe[0x80] = b'X';
        assert_eq!(content(&pe), Some(Content::Dos));
        assert_eq!(content(b"MZ short"), None);
        assert_eq!(content(b"\x7fELF\x02\x01\x01"), Some(Content::Elf));
        assert_eq!(content(b"\xCF\xFA\xED\xFE\x07"), Some(Content::MachO));
        assert_eq!(content(b"#!/bin/sh\nrm -rf ~\n"), Some(Content::Script));
        assert_eq!(
            content(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0"),
            Some(Content::Ole2)
        );
        assert_eq!(
            content(b"# x\n\n[Desktop Entry]\nExec=sh -c evil\n"),
            Some(Content::Desktop)
        );
        assert_eq!(content(b"<html><HTA:APPLICATION id=x>"), Some(Content::Hta));
        assert_eq!(content(b"just a letter"), None);
    }

    #[test]
    fn names_that_lie_or_run_code_are_flagged() {
        let elf = b"\x7fELF\x02\x01\x01";
        let r = from_head_and_name(elf, &Kind::Other, Some("report.pdf"));
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            r[1].contains(".pdf\" but the content is an ELF program"),
            "{r:?}"
        );
        assert_eq!(from_head_and_name(elf, &Kind::Other, Some("tool")).len(), 1);
        let r = from_head_and_name(b"hello", &Kind::Other, Some("notes.PDF"));
        assert!(r[0].contains("not that kind of file"), "{r:?}");
        let r = from_head_and_name(b"MsgBox 1", &Kind::Other, Some("invoice.vbs"));
        assert!(r[0].contains("runs code"), "{r:?}");
        assert!(from_head_and_name(b"%PDF-1.7", &Kind::Pdf, Some("a.pdf")).is_empty());
        assert!(from_head_and_name(b"hello", &Kind::Other, Some("a.txt")).is_empty());
        assert!(from_head_and_name(b"hello", &Kind::Other, None).is_empty());
    }

    #[test]
    fn pdf_names_are_found_through_escapes_and_only_whole() {
        let found = pdf_actions(b"<< /Type /Action /S /J#61vaScript /J#53 (app.alert(1)) >>");
        assert_eq!(found, ["JavaScript"]);
        let found = pdf_actions(b"<</OpenAction 3 0 R/Launch<</F(cmd.exe)>>>>");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(pdf_actions(b"<< /JSON 1 /Title (JavaScript) /Font /F1 >>").is_empty());
    }
}
