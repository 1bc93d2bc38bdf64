//! Photos: EXIF (camera, serial numbers, GPS position, dates, software, owner) and XMP.
//!
//! EXIF is read with `kamadak-exif`: pure Rust, no dependencies of its own, maintained since
//! 2016, and it reads JPEG, TIFF, PNG, WebP and HEIF/HEIC containers. It parses from memory, so
//! at most [`super::MAX_READ`] bytes of the image are read (EXIF sits near the start of JPEGs).

use std::io::Cursor;

use exif::{Field, In, Tag, Value};

use super::{read_head, Collector, Input};

/// EXIF fields that identify a person, a device, a place or a time, with the label shown.
const WANTED: &[(Tag, &str)] = &[
    (Tag::Make, "Make"),
    (Tag::Model, "Model"),
    (Tag::BodySerialNumber, "Camera serial number"),
    (Tag::CameraOwnerName, "Camera owner"),
    (Tag::LensMake, "Lens make"),
    (Tag::LensModel, "Lens model"),
    (Tag::LensSerialNumber, "Lens serial number"),
    (Tag::Artist, "Artist"),
    (Tag::Copyright, "Copyright"),
    (Tag::Software, "Software"),
    (Tag(exif::Context::Tiff, 0x013C), "Host computer"),
    (Tag::ImageDescription, "Description"),
    (Tag::UserComment, "User comment"),
    (Tag::ImageUniqueID, "Image unique ID"),
    (Tag::DateTimeOriginal, "Date taken"),
    (Tag::DateTimeDigitized, "Date digitized"),
    (Tag::DateTime, "Date modified"),
    (Tag::OffsetTimeOriginal, "Time zone"),
    (Tag::GPSDateStamp, "GPS date"),
];

pub(super) fn inspect(input: &mut dyn Input, size: u64, c: &mut Collector) {
    let (data, whole) = match read_head(input, super::MAX_READ) {
        Ok(x) => x,
        Err(e) => return c.note(format!("could not read the image: {e}")),
    };
    if !whole {
        c.note(format!(
            "only the first {} MiB of this {} MiB image were examined",
            super::MAX_READ >> 20,
            size >> 20
        ));
    }
    exif_fields(&data, c);
    super::xmp::scan(&data, c);
}

fn exif_fields(data: &[u8], c: &mut Collector) {
    let read = exif::Reader::new()
        .continue_on_error(true)
        .read_from_container(&mut Cursor::new(data));
    let exif = match read {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, _errors) = partial.into_inner();
            c.note("the EXIF block is partly damaged; what could be read is listed");
            exif
        }
        Err(exif::Error::NotFound(_)) => return,
        Err(e) => return c.note(format!("could not read the EXIF block: {e}")),
    };
    for (tag, label) in WANTED {
        if let Some(f) = exif.get_field(*tag, In::PRIMARY) {
            c.add("EXIF", label, &text(f));
        }
    }
    let lat = coordinate(&exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, 'S');
    let lon = coordinate(&exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, 'W');
    match (lat, lon) {
        (Some(lat), Some(lon)) => c.add("EXIF", "GPS position", &format!("{lat:.6}, {lon:.6}")),
        _ => {
            if exif.fields().any(|f| f.tag.context() == exif::Context::Gps) {
                c.add("EXIF", "GPS", "GPS fields present (position unreadable)");
            }
        }
    }
    if let Some(alt) = exif.get_field(Tag::GPSAltitude, In::PRIMARY) {
        c.add("EXIF", "GPS altitude", &text(alt));
    }
    let has_thumbnail = exif
        .get_field(Tag::JPEGInterchangeFormat, In::THUMBNAIL)
        .is_some()
        || exif.fields().any(|f| f.ifd_num == In::THUMBNAIL);
    if has_thumbnail {
        c.add(
            "EXIF",
            "Embedded thumbnail",
            "present: it may show the picture before it was cropped or edited",
        );
    }
}

/// A field's value as plain text (ASCII fields without quotes).
fn text(f: &Field) -> String {
    match &f.value {
        Value::Ascii(parts) => parts
            .iter()
            .map(|p| String::from_utf8_lossy(p).trim_end_matches('\0').to_owned())
            .collect::<Vec<_>>()
            .join(" "),
        _ => f.display_value().to_string(),
    }
}

/// Decimal degrees from a degrees/minutes/seconds field and its N/S or E/W reference.
fn coordinate(exif: &exif::Exif, value: Tag, reference: Tag, negative: char) -> Option<f64> {
    let Value::Rational(dms) = &exif.get_field(value, In::PRIMARY)?.value else {
        return None;
    };
    let part = |i: usize| {
        dms.get(i)
            .filter(|r| r.denom != 0)
            .map(|r| r.to_f64())
            .unwrap_or(0.0)
    };
    if dms.first().is_none_or(|r| r.denom == 0) {
        return None;
    }
    let degrees = part(0) + part(1) / 60.0 + part(2) / 3600.0;
    let sign = match exif.get_field(reference, In::PRIMARY).map(text) {
        Some(r) if r.trim().starts_with(negative) => -1.0,
        _ => 1.0,
    };
    Some(sign * degrees)
}

#[cfg(test)]
mod tests {
    use super::*;
    use exif::{Field, Rational};

    /// A JPEG (markers only: SOI, APP1 "Exif", EOI) carrying the given EXIF fields.
    fn jpeg_with(fields: &[Field]) -> Vec<u8> {
        let mut w = exif::experimental::Writer::new();
        for f in fields {
            w.push_field(f);
        }
        let mut tiff = Cursor::new(Vec::new());
        w.write(&mut tiff, false).unwrap();
        let tiff = tiff.into_inner();
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(&tiff);
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    fn ascii(tag: Tag, s: &str) -> Field {
        Field {
            tag,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![s.as_bytes().to_vec()]),
        }
    }

    fn dms(tag: Tag, d: u32, m: u32, s100: u32) -> Field {
        let r = |num, denom| Rational { num, denom };
        Field {
            tag,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![r(d, 1), r(m, 1), r(s100, 100)]),
        }
    }

    #[test]
    fn reports_camera_gps_and_software() {
        let jpeg = jpeg_with(&[
            ascii(Tag::Make, "Canon"),
            ascii(Tag::Model, "EOS 5D"),
            ascii(Tag::Software, "GIMP 2.10"),
            ascii(Tag::Artist, "J. Doe"),
            ascii(Tag::GPSLatitudeRef, "N"),
            dms(Tag::GPSLatitude, 48, 51, 3000),
            ascii(Tag::GPSLongitudeRef, "W"),
            dms(Tag::GPSLongitude, 2, 17, 4200),
        ]);
        let mut c = Collector::default();
        exif_fields(&jpeg, &mut c);
        let out = c.finish();
        let get = |field: &str| {
            out.findings
                .iter()
                .find(|f| f.field == field)
                .map(|f| f.value.clone())
        };
        assert_eq!(get("Make").as_deref(), Some("Canon"));
        assert_eq!(get("Model").as_deref(), Some("EOS 5D"));
        assert_eq!(get("Software").as_deref(), Some("GIMP 2.10"));
        assert_eq!(get("Artist").as_deref(), Some("J. Doe"));
        assert_eq!(get("GPS position").as_deref(), Some("48.858333, -2.295000"));
        assert!(out.notes.is_empty(), "{:?}", out.notes);
    }

    #[test]
    fn images_without_exif_report_nothing() {
        let mut c = Collector::default();
        exif_fields(b"\xFF\xD8\xFF\xD9", &mut c);
        let out = c.finish();
        assert!(out.findings.is_empty() && out.notes.is_empty(), "{out:?}");
    }
}
