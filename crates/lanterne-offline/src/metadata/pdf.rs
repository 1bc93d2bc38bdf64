//! PDFs: the document information dictionary (`/Author`, `/Creator`, `/Producer`, dates,
//! `/Company`) and XMP packets, including those inside compressed object streams.
//!
//! Why not `lopdf` (or another full PDF parser): it loads and parses the whole object graph of
//! the document, with xref repair and every filter, to answer a question that needs a few
//! dictionary entries. That is a large surface for a hostile file, and a parser that recurses
//! over nested objects can overflow the stack, which aborts the process (catch_unwind cannot
//! stop that). Instead this module scans the bytes linearly for the metadata keys, resolves a
//! few `N G R` references, and inflates (with `flate2`'s pure-Rust miniz_oxide backend, with
//! output caps) only the streams that can hold metadata: object streams (`/ObjStm`, where PDF
//! 1.5+ may keep the info dictionary) and `/Metadata` streams (XMP). It can miss metadata that
//! a full parser would find (encrypted PDFs, unusual filters); the report says what it saw.

use std::io::Read;

use super::{find, read_head_and_tail, Collector, Input};

/// Bytes read from the start and from the end (trailers and incremental updates live there).
const HEAD: u64 = 48 << 20;
const TAIL: u64 = 16 << 20;

/// Inflation caps: per stream, in total, and how many streams.
const MAX_INFLATED_PER_STREAM: u64 = 8 << 20;
const MAX_INFLATED_TOTAL: u64 = 64 << 20;
const MAX_STREAMS: usize = 512;

/// Most `N G R` references followed.
const MAX_REFS: usize = 32;

/// Longest string value decoded, in bytes.
const MAX_STRING_BYTES: usize = 4096;

/// Info dictionary keys worth reporting, with their labels.
const KEYS: &[(&[u8], &str)] = &[
    (b"Author", "Author"),
    (b"Creator", "Creator (application)"),
    (b"Producer", "Producer (PDF library)"),
    (b"Company", "Company"),
    (b"Manager", "Manager"),
    (b"CreationDate", "Created"),
    (b"ModDate", "Modified"),
];

pub(super) fn inspect(input: &mut dyn Input, size: u64, c: &mut Collector) {
    let data = match read_head_and_tail(input, size, HEAD, TAIL) {
        Ok(d) => d,
        Err(e) => return c.note(format!("could not read the PDF: {e}")),
    };
    if size > HEAD + TAIL {
        c.note(format!(
            "only the first {} MiB and last {} MiB of this PDF were examined",
            HEAD >> 20,
            TAIL >> 20
        ));
    }
    let mut refs_left = MAX_REFS;
    info_entries(&data, &data, c, &mut refs_left);
    super::xmp::scan(&data, c);
    let mut actions = super::risk::pdf_actions(&data);
    compressed_streams(&data, c, &mut refs_left, &mut actions);
    if let Some(risk) = super::risk::pdf_sentence(&actions) {
        c.risk(risk);
    }
    if find(&data, b"/Encrypt", 0).is_some() {
        c.note("this PDF is encrypted: metadata in encrypted objects could not be read");
    }
}

/// Finds `/Key value` pairs for the [`KEYS`] in `buf`; references resolve in `whole`.
fn info_entries(buf: &[u8], whole: &[u8], c: &mut Collector, refs_left: &mut usize) {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'/') {
        let at = i + p + 1;
        i = at;
        for (key, label) in KEYS {
            if !buf[at..].starts_with(key) {
                continue;
            }
            let after = at + key.len();
            // `/CreatorTool` is not `/Creator`.
            if buf.get(after).is_some_and(|b| b.is_ascii_alphanumeric()) {
                continue;
            }
            if let Some(v) = value_at(buf, after, whole, refs_left) {
                c.add("PDF", label, &v);
            }
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn skip_space(buf: &[u8], mut p: usize) -> usize {
    let limit = p + 256;
    while p < buf.len() && p < limit && is_space(buf[p]) {
        p += 1;
    }
    p
}

/// The string value at `p`: a literal, a hex string, or a reference to one.
fn value_at(buf: &[u8], p: usize, whole: &[u8], refs_left: &mut usize) -> Option<String> {
    let p = skip_space(buf, p);
    match *buf.get(p)? {
        b'(' => literal(buf, p).map(|b| decode(&b)),
        b'<' if buf.get(p + 1) != Some(&b'<') => hex_string(buf, p).map(|b| decode(&b)),
        b'0'..=b'9' => {
            let (num, gen) = reference(buf, p)?;
            if *refs_left == 0 {
                return None;
            }
            *refs_left -= 1;
            let obj = find_object(whole, num, gen)?;
            let mut none_left = 0;
            value_at(whole, obj, whole, &mut none_left)
        }
        _ => None,
    }
}

/// Parses `N G R` at `p`.
fn reference(buf: &[u8], p: usize) -> Option<(u32, u16)> {
    let window = &buf[p..buf.len().min(p + 32)];
    let text = std::str::from_utf8(window.split(|&b| b == b'R').next()?).ok()?;
    let mut parts = text.split_ascii_whitespace();
    let num = parts.next()?.parse().ok()?;
    let gen = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((num, gen))
}

/// Where the body of `num gen obj` starts in `whole`.
fn find_object(whole: &[u8], num: u32, gen: u16) -> Option<usize> {
    let header = format!("{num} {gen} obj");
    let mut from = 0;
    while let Some(at) = find(whole, header.as_bytes(), from) {
        if at == 0 || is_space(whole[at - 1]) {
            return Some(at + header.len());
        }
        from = at + 1;
    }
    None
}

/// A literal string `( … )` at `p`, with escapes and balanced parentheses.
fn literal(buf: &[u8], p: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut depth = 1usize;
    let mut i = p + 1;
    let end = buf.len().min(p + 64 * 1024);
    while i < end && out.len() < MAX_STRING_BYTES {
        let b = buf[i];
        i += 1;
        match b {
            b'\\' => {
                let Some(&e) = buf.get(i) else { break };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match buf.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xff) as u8);
                    }
                    b'\r' => {
                        if buf.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(b);
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(out);
                }
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A hex string `< … >` at `p`.
fn hex_string(buf: &[u8], p: usize) -> Option<Vec<u8>> {
    let mut digits = Vec::new();
    for &b in buf.get(p + 1..)?.iter().take(2 * MAX_STRING_BYTES + 256) {
        match b {
            b'>' => {
                if digits.len() % 2 == 1 {
                    digits.push(b'0');
                }
                return hex::decode(&digits).ok();
            }
            b if b.is_ascii_hexdigit() => digits.push(b),
            b if is_space(b) => {}
            _ => return None,
        }
    }
    None
}

/// PDF text strings: UTF-16 with a byte-order mark, UTF-8, or PDFDocEncoding (≈ Latin-1).
fn decode(b: &[u8]) -> String {
    let utf16 = |big: bool| {
        let units = b[2..].chunks_exact(2).map(|p| {
            if big {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                u16::from_le_bytes([p[0], p[1]])
            }
        });
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    match b {
        [0xFE, 0xFF, ..] => utf16(true),
        [0xFF, 0xFE, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        _ => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => b.iter().map(|&x| char::from(x)).collect(),
        },
    }
}

/// Inflates the object and metadata streams and scans them like the file itself, adding the
/// risky actions found in them to `actions`.
fn compressed_streams(
    data: &[u8],
    c: &mut Collector,
    refs_left: &mut usize,
    actions: &mut Vec<&'static str>,
) {
    let mut from = 0;
    let mut budget = MAX_INFLATED_TOTAL;
    let mut count = 0;
    while let Some(s) = find(data, b"stream", from) {
        from = s + 6;
        if s >= 3 && &data[s - 3..s] == b"end" {
            continue;
        }
        let start = match (data.get(s + 6), data.get(s + 7)) {
            (Some(b'\r'), Some(b'\n')) => s + 8,
            (Some(b'\n' | b'\r'), _) => s + 7,
            _ => continue,
        };
        let window = &data[s.saturating_sub(4096)..s];
        let dict = match window.windows(3).rposition(|w| w == b"obj") {
            Some(o) => &window[o..],
            None => window,
        };
        let end = find(data, b"endstream", start).unwrap_or(data.len());
        from = end.max(from);
        let has = |k: &[u8]| find(dict, k, 0).is_some();
        if !(has(b"/ObjStm") || has(b"/Metadata")) || !has(b"/FlateDecode") {
            continue;
        }
        count += 1;
        if count > MAX_STREAMS || budget == 0 {
            c.note("this PDF has too many compressed objects; not all were examined");
            return;
        }
        let inflated = inflate(&data[start..end], budget.min(MAX_INFLATED_PER_STREAM));
        budget = budget.saturating_sub(inflated.len() as u64);
        info_entries(&inflated, data, c, refs_left);
        super::xmp::scan(&inflated, c);
        for a in super::risk::pdf_actions(&inflated) {
            if !actions.contains(&a) {
                actions.push(a);
            }
        }
    }
}

/// Inflates a zlib stream, keeping at most `cap` bytes and whatever came before an error.
fn inflate(compressed: &[u8], cap: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut reader = flate2::read::ZlibDecoder::new(compressed).take(cap);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn findings(pdf: &[u8]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pdf");
        std::fs::write(&p, pdf).unwrap();
        let mut c = Collector::default();
        inspect(
            &mut std::fs::File::open(&p).unwrap(),
            pdf.len() as u64,
            &mut c,
        );
        c.finish()
            .findings
            .iter()
            .map(|f| format!("{}={}", f.field, f.value))
            .collect()
    }

    #[test]
    fn reads_the_info_dictionary_with_escapes_hex_and_references() {
        let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n\
            2 0 obj\n<< /Author (Jane \\(JD\\) Doe\\051) /Creator <FEFF005700720069007400650072>\n\
            /Producer 3 0 R /CreatorTool (not this) /CreationDate (D:20240102) >>\nendobj\n\
            13 0 obj (decoy) endobj\n3 0 obj\n(Lib\\0401.0)\nendobj\n\
            trailer << /Info 2 0 R >>\n%%EOF\n";
        let got = findings(pdf);
        for want in [
            "Author=Jane (JD) Doe)",
            "Creator (application)=Writer",
            "Producer (PDF library)=Lib 1.0",
            "Created=D:20240102",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} not in {got:?}");
        }
        assert!(!got.iter().any(|g| g.contains("not this")), "{got:?}");
    }

    #[test]
    fn reads_compressed_object_and_metadata_streams() {
        let objstm = deflate(b"5 0 6 30 << /Author (Hidden Author) >> << /Company (ACME) >>");
        let xmp = deflate(
            br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Secret Tool"/></rdf:RDF></x:xmpmeta>"#,
        );
        let mut pdf = b"%PDF-1.7\n4 0 obj\n<< /Type /ObjStm /N 2 /First 8 /Filter /FlateDecode >>\nstream\r\n".to_vec();
        pdf.extend_from_slice(&objstm);
        pdf.extend_from_slice(b"\nendstream\nendobj\n7 0 obj\n<< /Type /Metadata /Subtype /XML /Filter [/FlateDecode] >>\nstream\n");
        pdf.extend_from_slice(&xmp);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        let got = findings(&pdf);
        for want in [
            "Author=Hidden Author",
            "Company=ACME",
            "xmp:CreatorTool=Secret Tool",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} not in {got:?}");
        }
    }

    #[test]
    fn hostile_strings_stay_bounded() {
        let mut pdf = b"%PDF-1.4\n<< /Author (".to_vec();
        pdf.extend(std::iter::repeat_n(b'(', 100_000));
        pdf.extend_from_slice(b" /Author 99 0 R /Author <zz> /Author 1 2 3 4 R");
        let got = findings(&pdf);
        assert!(got.iter().all(|g| g.len() < 400), "{got:?}");
        assert_eq!(decode(&[0xFE, 0xFF, 0xD8]), "");
        assert_eq!(decode(b"caf\xe9"), "café");
    }
}
