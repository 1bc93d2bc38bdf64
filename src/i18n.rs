//! Page texts in French and English, and choosing between them.
//!
//! Every string a source reads comes from a Fluent catalogue in `locales/`, compiled into the
//! binary; templates only name message ids. The language comes from the `lang` cookie the
//! visible switch sets, otherwise from `Accept-Language`, otherwise English.
//!
//! Fluent (`fluent-bundle`) was chosen over a hand-made table because it handles plural and
//! variable placement per language, and translators know its format.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

/// A language the pages come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The BCP 47 tag, as used in `<html lang>` and the `lang` cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks the best language from an `Accept-Language` header value.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en.ftl"),
            Lang::Fr => include_str!("../locales/fr.ftl"),
        }
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(lang: Lang) -> &'static Bundle {
    static EN: OnceLock<Bundle> = OnceLock::new();
    static FR: OnceLock<Bundle> = OnceLock::new();
    let cell = match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    };
    cell.get_or_init(|| {
        // The catalogues are compiled in and checked by the tests below, so a parse error here
        // is a build defect; the bundle then holds whatever parsed.
        let resource = FluentResource::try_new(lang.source().to_owned()).unwrap_or_else(|(r, _)| r);
        let langid = lang.tag().parse().unwrap_or_default();
        let mut b = FluentBundle::new_concurrent(vec![langid]);
        // No Unicode isolation marks around variables: the pages are left-to-right only.
        b.set_use_isolating(false);
        let _ = b.add_resource(resource);
        b
    })
}

/// The texts of one language, handed to templates.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr { lang }
    }

    /// The message `id`. A missing id shows as itself, which the tests catch.
    pub fn get(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with one numeric variable.
    pub fn count(&self, id: &str, name: &str, n: &u64) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_owned(), *n);
        self.format(id, Some(&args))
    }

    /// The message `id` with the variables `args` (numbers, or texts such as [`size_text`]'s).
    pub fn with(&self, id: &str, args: &FluentArgs) -> String {
        self.format(id, Some(args))
    }

    /// The message `id` with one text variable.
    pub fn text(&self, id: &str, name: &str, value: &str) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_owned(), value.to_owned());
        self.format(id, Some(&args))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs>) -> String {
        let b = bundle(self.lang);
        let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
            tracing::warn!(id, lang = self.lang.tag(), "missing message");
            return id.to_owned();
        };
        let mut errors = Vec::new();
        b.format_pattern(pattern, args, &mut errors).into_owned()
    }

    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }
}

/// A size limit as a source reads it, in `lang`: "1.5 MB", "2 GB", "0.47 MB" ("1,5 Mo" in
/// French), with a no-break space before the unit. Units are binary (1 MB = 2^20 bytes), as
/// file managers that say MB often count them, and the figure is rounded down, so a limit is
/// never overstated; it is never "0 MB": under 1 MB it keeps two significant digits. GB is
/// used only when it is exact to one decimal, so 1,500 MiB stays "1500 MB".
pub fn size_text(lang: Lang, bytes: u64) -> String {
    const MIB: u128 = 1 << 20;
    const GIB: u128 = 1 << 30;
    let b = u128::from(bytes);
    let (unit, name) = if b >= GIB && (b * 10) % GIB == 0 {
        (GIB, ["GB", "Go"])
    } else {
        (MIB, ["MB", "Mo"])
    };
    let whole = b / unit;
    // Decimals: none from 10 up, one from 1 up, else as many as two significant digits take.
    let mut decimals = match whole {
        10.. => 0,
        1.. => 1,
        0 => 2,
    };
    while whole == 0 && decimals < 12 && b * 10u128.pow(decimals) / unit < 10 {
        decimals += 1;
    }
    let scaled = b * 10u128.pow(decimals) / unit;
    let digits = format!("{scaled:0>width$}", width = decimals as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - decimals as usize);
    let frac = frac.trim_end_matches('0');
    let (point, unit) = match lang {
        Lang::En => (".", name[0]),
        Lang::Fr => (",", name[1]),
    };
    if frac.is_empty() {
        format!("{int}\u{a0}{unit}")
    } else {
        format!("{int}{point}{frac}\u{a0}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(lang: Lang) -> BTreeSet<String> {
        let r = FluentResource::try_new(lang.source().to_owned()).expect("catalogue parses");
        r.entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn catalogues_parse_and_have_the_same_ids() {
        assert_eq!(ids(Lang::En), ids(Lang::Fr));
    }

    #[test]
    fn every_id_a_template_names_exists() {
        let known = ids(Lang::En);
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut missing = Vec::new();
        let mut used = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text
                .split("t.get(\"")
                .skip(1)
                .chain(text.split("t.count(\"").skip(1))
                .chain(text.split("t.text(\"").skip(1))
            {
                let id = piece.split('"').next().unwrap();
                used += 1;
                if !known.contains(id) {
                    missing.push(id.to_owned());
                }
            }
        }
        // Handlers name the ids of notice pages as string literals.
        let web = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web");
        for entry in std::fs::read_dir(web).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split('"').skip(1).step_by(2) {
                if ["error-", "deleted-", "notice-", "nav-"]
                    .iter()
                    .any(|p| piece.starts_with(p))
                {
                    used += 1;
                    if !known.contains(piece) {
                        missing.push(piece.to_owned());
                    }
                }
            }
        }
        assert!(
            used > 40,
            "templates and handlers name only {used} messages"
        );
        assert!(missing.is_empty(), "missing in catalogue: {missing:?}");
    }

    #[test]
    fn accept_language_is_negotiated() {
        assert_eq!(
            Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.5"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("de,fr;q=0.3,en;q=0.2"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("de"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn messages_differ_by_language() {
        assert_ne!(
            Tr::new(Lang::En).get("nav-home"),
            Tr::new(Lang::Fr).get("nav-home")
        );
        assert_eq!(Tr::new(Lang::En).get("no-such-id"), "no-such-id");
    }

    #[test]
    fn sizes_read_in_mb_or_gb_rounded_down_never_zero() {
        let cases = [
            (1, "0.00000095\u{a0}MB"),
            (500_000, "0.47\u{a0}MB"),
            (524_288, "0.5\u{a0}MB"),
            (1 << 20, "1\u{a0}MB"),
            (1_572_864, "1.5\u{a0}MB"),
            ((2 << 20) - 1, "1.9\u{a0}MB"),
            (100 << 20, "100\u{a0}MB"),
            (1500 << 20, "1500\u{a0}MB"),
            (1 << 30, "1\u{a0}GB"),
            (3 << 29, "1.5\u{a0}GB"),
            (2 << 30, "2\u{a0}GB"),
            (100 << 30, "100\u{a0}GB"),
            (u64::MAX, "17592186044415\u{a0}MB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(size_text(Lang::En, bytes), want, "{bytes}");
        }
        assert_eq!(size_text(Lang::Fr, 3 << 29), "1,5\u{a0}Go");
        assert_eq!(size_text(Lang::Fr, 500_000), "0,47\u{a0}Mo");
        assert_eq!(size_text(Lang::Fr, 2 << 30), "2\u{a0}Go");
    }
}
