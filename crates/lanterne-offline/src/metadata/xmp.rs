//! XMP packets (Adobe's XML metadata, embedded in PDFs, JPEGs, TIFFs and more).
//!
//! Packets are found by their `<x:xmpmeta` opening and parsed with `roxmltree`: small, no
//! dependencies, no `unsafe`, it refuses DTDs (no entity expansion) and parses nesting without
//! recursion, so a hostile packet cannot exhaust the stack. A node limit bounds its memory.

use super::{find, Collector};

/// Most packets examined in one buffer.
const MAX_PACKETS: usize = 16;

/// Largest packet parsed.
const MAX_PACKET_BYTES: usize = 4 << 20;

/// Most XML nodes in one packet.
const MAX_NODES: u32 = 200_000;

const DC: &str = "http://purl.org/dc/elements/1.1/";
const XMP: &str = "http://ns.adobe.com/xap/1.0/";
const XMP_MM: &str = "http://ns.adobe.com/xap/1.0/mm/";
const PDF: &str = "http://ns.adobe.com/pdf/1.3/";
const PHOTOSHOP: &str = "http://ns.adobe.com/photoshop/1.0/";
const EXIF: &str = "http://ns.adobe.com/exif/1.0/";
const AUX: &str = "http://ns.adobe.com/exif/1.0/aux/";
const TIFF: &str = "http://ns.adobe.com/tiff/1.0/";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// Properties that identify someone or something, by namespace and local name, with a label.
const WANTED: &[(&str, &str, &str)] = &[
    (DC, "creator", "dc:creator"),
    (DC, "contributor", "dc:contributor"),
    (DC, "publisher", "dc:publisher"),
    (DC, "rights", "dc:rights"),
    (XMP, "CreatorTool", "xmp:CreatorTool"),
    (XMP, "CreateDate", "xmp:CreateDate"),
    (XMP, "ModifyDate", "xmp:ModifyDate"),
    (XMP_MM, "DocumentID", "xmpMM:DocumentID"),
    (XMP_MM, "OriginalDocumentID", "xmpMM:OriginalDocumentID"),
    (PDF, "Producer", "pdf:Producer"),
    (PDF, "Author", "pdf:Author"),
    (PHOTOSHOP, "AuthorsPosition", "photoshop:AuthorsPosition"),
    (PHOTOSHOP, "CaptionWriter", "photoshop:CaptionWriter"),
    (PHOTOSHOP, "City", "photoshop:City"),
    (PHOTOSHOP, "Country", "photoshop:Country"),
    (EXIF, "GPSLatitude", "exif:GPSLatitude"),
    (EXIF, "GPSLongitude", "exif:GPSLongitude"),
    (AUX, "SerialNumber", "aux:SerialNumber"),
    (AUX, "OwnerName", "aux:OwnerName"),
    (AUX, "LensSerialNumber", "aux:LensSerialNumber"),
    (TIFF, "Make", "tiff:Make"),
    (TIFF, "Model", "tiff:Model"),
];

fn label(ns: Option<&str>, local: &str) -> Option<&'static str> {
    let ns = ns?;
    WANTED
        .iter()
        .find(|(n, l, _)| *n == ns && *l == local)
        .map(|(_, _, label)| *label)
}

/// Finds XMP packets in `data` and reports the wanted properties.
pub(super) fn scan(data: &[u8], c: &mut Collector) {
    let mut from = 0;
    for _ in 0..MAX_PACKETS {
        let Some(start) = find(data, b"<x:xmpmeta", from) else {
            return;
        };
        let end = find(data, b"</x:xmpmeta>", start)
            .map(|e| e + b"</x:xmpmeta>".len())
            .filter(|e| e - start <= MAX_PACKET_BYTES);
        let Some(end) = end else {
            c.note("an XMP metadata packet is unterminated or too large to examine");
            return;
        };
        from = end;
        match std::str::from_utf8(&data[start..end]) {
            Ok(xml) => packet(xml, c),
            Err(_) => c.note("an XMP metadata packet is not UTF-8 and was not examined"),
        }
    }
}

/// Reports the wanted properties of one packet, as elements or as attributes.
fn packet(xml: &str, c: &mut Collector) {
    let doc = match super::parse_xml(xml, MAX_NODES) {
        Ok(d) => d,
        Err(e) => return c.note(format!("an XMP metadata packet could not be parsed: {e}")),
    };
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            if let Some(l) = label(attr.namespace(), attr.name()) {
                c.add("XMP", l, attr.value());
            }
        }
        let name = node.tag_name();
        let Some(l) = label(name.namespace(), name.name()) else {
            continue;
        };
        // Lists (rdf:Seq/Bag/Alt of rdf:li) give one value per item.
        let items: Vec<String> = node
            .descendants()
            .filter(|n| n.tag_name().namespace() == Some(RDF) && n.tag_name().name() == "li")
            .map(|n| n.text().unwrap_or_default().to_owned())
            .collect();
        if items.is_empty() {
            c.add("XMP", l, node.text().unwrap_or_default());
        } else {
            for item in items {
                c.add("XMP", l, &item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
  xmp:CreatorTool="Microsoft Word" pdf:Producer="Acrobat">
<dc:creator><rdf:Seq><rdf:li>Jane Doe</rdf:li><rdf:li>John Roe</rdf:li></rdf:Seq></dc:creator>
<xmp:CreateDate>2024-01-02T03:04:05Z</xmp:CreateDate>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#;

    #[test]
    fn reads_elements_lists_and_attributes() {
        let mut data = b"binary\xff\xfe junk ".to_vec();
        data.extend_from_slice(SAMPLE.as_bytes());
        let mut c = Collector::default();
        scan(&data, &mut c);
        let out = c.finish();
        let found: Vec<String> = out
            .findings
            .iter()
            .map(|f| format!("{}={}", f.field, f.value))
            .collect();
        for want in [
            "dc:creator=Jane Doe",
            "dc:creator=John Roe",
            "xmp:CreatorTool=Microsoft Word",
            "pdf:Producer=Acrobat",
            "xmp:CreateDate=2024-01-02T03:04:05Z",
        ] {
            assert!(found.iter().any(|f| f == want), "{want} not in {found:?}");
        }
    }

    #[test]
    fn hostile_packets_are_notes() {
        let mut c = Collector::default();
        scan(
            b"<x:xmpmeta><!DOCTYPE x [<!ENTITY a \"aaaa\">]></x:xmpmeta>",
            &mut c,
        );
        scan(b"<x:xmpmeta never closed", &mut c);
        let out = c.finish();
        assert!(out.findings.is_empty());
        assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
    }
}
