//! Office documents (docx, xlsx, pptx from Microsoft Office; odt, ods, odp from LibreOffice):
//! author, last editor, company, template path, dates, and the names on comments and tracked
//! changes.
//!
//! These formats are zip archives of XML parts. The archive is read with the `zip` crate (the
//! standard Rust zip reader, built here with deflate only, through `flate2`'s pure-Rust
//! backend), after its central directory was checked against caps (`zip_bounds.rs`); only the
//! few metadata parts are decompressed, each with a size cap, so a zip bomb costs nothing. The XML is parsed with `roxmltree` (see `xmp.rs` for why).

use std::io::{BufReader, Read, SeekFrom};

use super::{zip_bounds, Collector, Input};

/// Largest XML part decompressed, except the main document bodies.
const SMALL_PART: u64 = 2 << 20;
/// Largest document body (`word/document.xml`, `content.xml`) decompressed.
const BODY_PART: u64 = 32 << 20;
/// Most XML nodes in one part.
const MAX_NODES: u32 = 2_000_000;
/// Most comment parts examined (`xl/comments1.xml`, …).
const MAX_COMMENT_PARTS: usize = 20;

/// How to read one part.
#[derive(Clone, Copy)]
enum Rule {
    /// Elements by local name, with labels.
    Elements(&'static [(&'static str, &'static str)]),
    /// An attribute by local name on any element, with a label.
    Attribute(&'static str, &'static str),
    /// `docProps/custom.xml`: `<property name="X"><vt:lpwstr>value</vt:lpwstr></property>`.
    CustomProperties,
}

const CORE: Rule = Rule::Elements(&[
    ("creator", "Author"),
    ("lastModifiedBy", "Last modified by"),
    ("created", "Created"),
    ("modified", "Modified"),
    ("lastPrinted", "Last printed"),
]);
const APP: Rule = Rule::Elements(&[
    ("Company", "Company"),
    ("Manager", "Manager"),
    ("Application", "Application"),
    ("AppVersion", "Application version"),
    ("Template", "Template"),
    ("HyperlinkBase", "Hyperlink base"),
]);
const ODF_META: Rule = Rule::Elements(&[
    ("initial-creator", "Author"),
    ("creator", "Last modified by"),
    ("generator", "Application"),
    ("creation-date", "Created"),
    ("date", "Modified"),
    ("printed-by", "Last printed by"),
    ("print-date", "Last printed"),
    ("template", "Template"),
]);
const CHANGE_AUTHOR: &str = "Comment or tracked-change author";

/// The parts examined, with their size cap and rule.
const PARTS: &[(&str, u64, Rule)] = &[
    ("docProps/core.xml", SMALL_PART, CORE),
    ("docProps/app.xml", SMALL_PART, APP),
    ("docProps/custom.xml", SMALL_PART, Rule::CustomProperties),
    ("meta.xml", SMALL_PART, ODF_META),
    (
        "word/document.xml",
        BODY_PART,
        Rule::Attribute("author", CHANGE_AUTHOR),
    ),
    (
        "word/comments.xml",
        SMALL_PART,
        Rule::Attribute("author", CHANGE_AUTHOR),
    ),
    (
        "word/people.xml",
        SMALL_PART,
        Rule::Attribute("author", CHANGE_AUTHOR),
    ),
    (
        "ppt/commentAuthors.xml",
        SMALL_PART,
        Rule::Attribute("name", "Comment author"),
    ),
    (
        "ppt/authors.xml",
        SMALL_PART,
        Rule::Attribute("name", "Comment author"),
    ),
    (
        "xl/persons/person.xml",
        SMALL_PART,
        Rule::Attribute("displayName", "Comment author"),
    ),
    (
        "content.xml",
        BODY_PART,
        Rule::Elements(&[("creator", CHANGE_AUTHOR)]),
    ),
];

pub(super) fn inspect(file: &mut dyn Input, c: &mut Collector) {
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        return c.note(format!("could not read the file: {e}"));
    }
    // The central directory is capped before the zip crate parses it (see zip_bounds.rs).
    if let Err(note) = zip_bounds::check(file) {
        return c.note(note);
    }
    let (file, budget) = zip_bounds::Budget::new(file, zip_bounds::SCAN_BYTES);
    let mut archive = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(a) => a,
        Err(e) => {
            return c.note(format!(
                "looks like a zip archive but could not be read: {e}"
            ))
        }
    };
    // Parts are read with their own caps below.
    budget.set(None);
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    let types = read_part(&mut archive, "[Content_Types].xml", SMALL_PART).ok();
    if let Some(risk) = super::risk::zip_macros(&names, types.as_deref()) {
        c.risk(risk);
    }
    let mut parts: Vec<(String, u64, Rule)> = PARTS
        .iter()
        .filter(|(name, _, _)| archive.index_for_name(name).is_some())
        .map(|(name, cap, rule)| (name.to_string(), *cap, *rule))
        .collect();
    if parts.is_empty() {
        c.note("a zip archive, not an office document: the files inside were not examined");
        return;
    }
    let comments: Vec<String> = archive
        .file_names()
        .filter(|n| n.starts_with("xl/comments") && n.ends_with(".xml"))
        .take(MAX_COMMENT_PARTS)
        .map(str::to_owned)
        .collect();
    for name in comments {
        parts.push((
            name,
            SMALL_PART,
            Rule::Elements(&[("author", "Comment author")]),
        ));
    }
    for (name, cap, rule) in parts {
        match read_part(&mut archive, &name, cap) {
            Ok(xml) => apply(&name, &xml, rule, c),
            Err(note) => c.note(note),
        }
    }
}

/// Decompresses one part, refusing more than `cap` bytes.
fn read_part<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    cap: u64,
) -> Result<String, String> {
    let entry = archive
        .by_name(name)
        .map_err(|e| format!("{name} could not be read: {e}"))?;
    if entry.size() > cap {
        return Err(format!("{name} is too large to examine for metadata"));
    }
    let mut bytes = Vec::new();
    entry
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name} could not be decompressed: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("{name} is too large to examine for metadata"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8 and was not examined"))
}

/// Reports what `rule` finds in one XML part.
fn apply(name: &str, xml: &str, rule: Rule, c: &mut Collector) {
    let doc = match super::parse_xml(xml, MAX_NODES) {
        Ok(d) => d,
        Err(e) => return c.note(format!("{name} could not be parsed: {e}")),
    };
    let elements = doc.descendants().filter(|n| n.is_element());
    match rule {
        Rule::Elements(wanted) => {
            for node in elements {
                let local = node.tag_name().name();
                if let Some((_, label)) = wanted.iter().find(|(w, _)| *w == local) {
                    c.add("Office", label, node.text().unwrap_or_default());
                }
            }
        }
        Rule::Attribute(attr, label) => {
            for node in elements {
                for a in node.attributes().filter(|a| a.name() == attr) {
                    c.add("Office", label, a.value());
                }
            }
        }
        Rule::CustomProperties => {
            for node in elements.filter(|n| n.tag_name().name() == "property") {
                let key = node.attribute("name").unwrap_or("?");
                let value = node
                    .descendants()
                    .filter(|n| n.is_text())
                    .filter_map(|n| n.text())
                    .collect::<Vec<_>>()
                    .join(" ");
                c.add("Office", &format!("Custom property {key}"), &value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in parts {
            w.start_file(*name, opts).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn inspect_bytes(bytes: &[u8]) -> super::super::Inspection {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("doc");
        std::fs::write(&p, bytes).unwrap();
        super::super::inspect(&p)
    }

    fn has(i: &super::super::Inspection, field: &str, value: &str) -> bool {
        i.findings
            .iter()
            .any(|f| f.source == "Office" && f.field == field && f.value == value)
    }

    #[test]
    fn reads_docx_core_app_custom_and_change_authors() {
        let core = r#"<?xml version="1.0" encoding="UTF-8"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/">
<dc:creator>Jane Doe</dc:creator><cp:lastModifiedBy>jdoe</cp:lastModifiedBy>
<dcterms:created>2024-01-02T03:04:05Z</dcterms:created></cp:coreProperties>"#;
        let app = r#"<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Company>ACME Corp</Company><Template>C:\Users\jdoe\Normal.dotm</Template></Properties>"#;
        let custom = r#"<Properties xmlns:vt="v"><property name="Owner"><vt:lpwstr>Finance</vt:lpwstr></property></Properties>"#;
        let doc = r#"<w:document xmlns:w="w"><w:body><w:ins w:author="Reviewer X"/></w:body></w:document>"#;
        let i = inspect_bytes(&zip_of(&[
            ("docProps/core.xml", core),
            ("docProps/app.xml", app),
            ("docProps/custom.xml", custom),
            ("word/document.xml", doc),
        ]));
        assert!(has(&i, "Author", "Jane Doe"), "{i:?}");
        assert!(has(&i, "Last modified by", "jdoe"));
        assert!(has(&i, "Company", "ACME Corp"));
        assert!(has(&i, "Template", "C:\\Users\\jdoe\\Normal.dotm"));
        assert!(has(&i, "Custom property Owner", "Finance"));
        assert!(has(&i, CHANGE_AUTHOR, "Reviewer X"));
        assert!(i.notes.is_empty(), "{:?}", i.notes);
    }

    #[test]
    fn reads_odf_meta_and_ignores_plain_zips() {
        let meta = r#"<office:document-meta xmlns:office="o" xmlns:meta="m" xmlns:dc="d"><office:meta><meta:initial-creator>Ann</meta:initial-creator><meta:generator>LibreOffice/7.4</meta:generator></office:meta></office:document-meta>"#;
        let i = inspect_bytes(&zip_of(&[("meta.xml", meta), ("mimetype", "x")]));
        assert!(has(&i, "Author", "Ann"), "{i:?}");
        assert!(has(&i, "Application", "LibreOffice/7.4"));
        let plain = inspect_bytes(&zip_of(&[("a.txt", "hello")]));
        assert!(plain.findings.is_empty());
        assert_eq!(plain.notes.len(), 1);
    }

    #[test]
    fn bombs_and_garbage_are_notes() {
        let big = "<a>".to_owned() + &" ".repeat(3 << 20) + "</a>";
        let i = inspect_bytes(&zip_of(&[("docProps/core.xml", &big)]));
        assert!(i.notes.iter().any(|n| n.contains("too large")), "{i:?}");
        let i = inspect_bytes(&zip_of(&[("docProps/core.xml", "<a><b></a>")]));
        assert!(
            i.notes.iter().any(|n| n.contains("could not be parsed")),
            "{i:?}"
        );
        let i = inspect_bytes(b"PK\x03\x04 not really a zip");
        assert_eq!(i.notes.len(), 1, "{i:?}");
    }
}
