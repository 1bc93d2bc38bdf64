//! The source's secret code: making one, and reading one back however it was typed.
//!
//! A code is [`WORDS`] words drawn with the operating system's CSPRNG from a diceware list of
//! 7,776 words, so it carries 7 × log2(7776) ≈ 90.5 bits. The list follows the page language:
//! the EFF large list in English, and in French a list derived from Debian's `wfrench` by
//! `scripts/make-french-wordlist.py`. Both are vendored in `wordlists/` and compiled in, with
//! their provenance and SHA-256 in `wordlists/PROVENANCE.md`: a dependency update can never
//! change them, and each box records their checksums at first start ([`crate::pinned`]).
//!
//! A typed code is *normalized* before use: split on any white space, lower-cased, accents
//! folded (é → e). The French list has no two words that fold to the same letters, so folding
//! loses nothing. The normalized form is what the key derivation sees; the code itself is never
//! stored, logged or put in a cookie, and every copy of it is zeroized.

use std::collections::HashSet;
use std::sync::OnceLock;

use rand::seq::SliceRandom;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
use zeroize::Zeroizing;

use crate::i18n::Lang;

/// Words in a code.
pub const WORDS: usize = 7;

/// Longest input we even look at; a real code is well under half of this.
pub const MAX_INPUT_BYTES: usize = 512;

const ENGLISH: &str = lanterne_core::designation::ENGLISH_WORDS;
const FRENCH: &str = include_str!("../wordlists/fr.txt");

/// The word list file of a language, as vendored.
fn wordlist_text(lang: Lang) -> &'static str {
    match lang {
        Lang::En => ENGLISH,
        Lang::Fr => FRENCH,
    }
}

/// The word list for a language.
pub fn wordlist(lang: Lang) -> &'static [&'static str] {
    static EN: OnceLock<Vec<&'static str>> = OnceLock::new();
    static FR: OnceLock<Vec<&'static str>> = OnceLock::new();
    let cell = match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    };
    cell.get_or_init(|| {
        wordlist_text(lang)
            .lines()
            .filter(|w| !w.is_empty())
            .collect()
    })
}

/// SHA-256 of a language's word list file, hex: what identifies the list.
pub fn wordlist_sha256(lang: Lang) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(wordlist_text(lang).as_bytes()))
}

/// Every word of every list, folded: what a typed word must be one of.
fn known_words() -> &'static HashSet<String> {
    static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        [Lang::En, Lang::Fr]
            .into_iter()
            .flat_map(|l| wordlist(l).iter())
            .map(|w| fold(w).to_string())
            .collect()
    })
}

/// A freshly generated code, as shown to the source once.
pub struct Code(Zeroizing<String>);

impl Code {
    /// Draws a new code from the list of `lang`.
    pub fn generate(lang: Lang) -> Code {
        let list = wordlist(lang);
        let mut rng = rand::rngs::OsRng;
        let mut s = Zeroizing::new(String::with_capacity(WORDS * 10));
        for i in 0..WORDS {
            if i > 0 {
                s.push(' ');
            }
            // `choose` on a non-empty slice always returns a word.
            s.push_str(list.choose(&mut rng).copied().unwrap_or("lanterne"));
        }
        Code(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form the key derivation uses.
    pub fn normalized(&self) -> Result<NormalizedCode, CodeError> {
        normalize(&self.0)
    }
}

/// A code reduced to its canonical form: lower-case folded words joined by single spaces.
pub struct NormalizedCode(Zeroizing<String>);

impl NormalizedCode {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Why a typed code cannot be a code. These let the server skip the costly derivation for input
/// that cannot match, and tell the source what to fix: the lists are public, so naming the word
/// that is in neither of them, or the number of words a code has, tells an attacker nothing.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the code is too long")]
    TooLong,
    #[error("a code has {WORDS} words")]
    WrongWordCount,
    /// The word at this place (counted from 1) is in neither list.
    #[error("word {0} is not in any list")]
    UnknownWord(usize),
}

/// Lower-cases and strips accents from one word.
fn fold(word: &str) -> Zeroizing<String> {
    Zeroizing::new(
        word.nfd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// Turns what a source typed into the canonical code, or says why it cannot be one.
pub fn normalize(input: &str) -> Result<NormalizedCode, CodeError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(CodeError::TooLong);
    }
    let mut out = Zeroizing::new(String::with_capacity(input.len()));
    let mut count = 0;
    for word in input.split_whitespace() {
        count += 1;
        if count > WORDS {
            return Err(CodeError::WrongWordCount);
        }
        let folded = fold(word);
        if !known_words().contains(folded.as_str()) {
            return Err(CodeError::UnknownWord(count));
        }
        if count > 1 {
            out.push(' ');
        }
        out.push_str(&folded);
    }
    if count != WORDS {
        return Err(CodeError::WrongWordCount);
    }
    Ok(NormalizedCode(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_7776_distinct_folded_words() {
        for lang in [Lang::En, Lang::Fr] {
            let list = wordlist(lang);
            assert_eq!(list.len(), 7776, "{lang:?}");
            let folded: HashSet<_> = list.iter().map(|w| fold(w).to_string()).collect();
            assert_eq!(folded.len(), 7776, "{lang:?} has words that fold together");
        }
    }

    /// The vendored files are the ones PROVENANCE.md describes, byte for byte.
    #[test]
    fn word_list_checksums_match_provenance() {
        const EN_SHA256: &str = "6d557f0693958fb5e650b68b5bee585eb82cf4da32965505c789e924743bc522";
        const FR_SHA256: &str = "edb8cdef0cffc0c68275a78bf734f9737d14d0fbe25e4559ccbcf95a9ca49e4e";
        assert_eq!(wordlist_sha256(Lang::En), EN_SHA256);
        assert_eq!(wordlist_sha256(Lang::Fr), FR_SHA256);
        let provenance = include_str!("../wordlists/PROVENANCE.md");
        for sha in [EN_SHA256, FR_SHA256] {
            assert!(provenance.contains(&format!("`{sha}`")), "{sha}");
        }
        let en = wordlist(Lang::En);
        assert_eq!((en[0], en[7775]), ("abacus", "zoom"));
    }

    /// A code typed with words from the English list derives the same keys as before the list
    /// was vendored (values computed with `diceware_wordlists` 1.2.3 at 68b3e09).
    #[test]
    fn a_known_code_derives_what_it_did_before_vendoring() {
        let code = normalize("abacus zoom t-shirt yo-yo drop-down zoology abdomen").unwrap();
        let keys = crate::source_key::derive(&code, &[7u8; 32], 65536, 3).unwrap();
        assert_eq!(
            keys.lookup.to_hex(),
            "46093a27688834369d138aa3f1e3f85b4b26c3d1c3e51ee6156904bcb07bc57f"
        );
        assert_eq!(
            keys.recipient().to_string(),
            "age1adlvzrdm8fuq4asenyv5vnc2cs5jj4qe2w6vd90eq65jc6lguavs029nu7"
        );
    }

    #[test]
    fn generated_codes_have_seven_words_and_at_least_90_bits() {
        for lang in [Lang::En, Lang::Fr] {
            let code = Code::generate(lang);
            assert_eq!(code.as_str().split(' ').count(), WORDS);
            let bits = WORDS as f64 * (wordlist(lang).len() as f64).log2();
            assert!(bits >= 90.0, "{bits}");
            assert!(code.normalized().is_ok());
        }
        assert_ne!(
            Code::generate(Lang::En).as_str(),
            Code::generate(Lang::En).as_str()
        );
    }

    #[test]
    fn case_spaces_and_accents_do_not_matter() {
        let fr = wordlist(Lang::Fr);
        let accented = fr.iter().find(|w| !w.is_ascii()).unwrap();
        let words = [accented, fr[1], fr[2], fr[3], fr[4], fr[5], fr[6]];
        let clean = words.map(|w| w.to_string()).join(" ");
        let messy = format!(
            "  {}\t{}\n {}  {} {} {} {} ",
            fold(accented).to_uppercase(),
            words[1].to_uppercase(),
            words[2],
            words[3],
            words[4],
            words[5],
            words[6]
        );
        assert_eq!(
            normalize(&clean).unwrap().as_bytes(),
            normalize(&messy).unwrap().as_bytes()
        );
    }

    #[test]
    fn rejects_what_cannot_be_a_code() {
        assert_eq!(normalize("").err(), Some(CodeError::WrongWordCount));
        let six = wordlist(Lang::En)[..6].join(" ");
        assert_eq!(normalize(&six).err(), Some(CodeError::WrongWordCount));
        let eight = wordlist(Lang::En)[..8].join(" ");
        assert_eq!(normalize(&eight).err(), Some(CodeError::WrongWordCount));
        let bad = format!("{six} zzzzqqq");
        assert_eq!(normalize(&bad).err(), Some(CodeError::UnknownWord(7)));
        assert_eq!(
            normalize(&"a".repeat(10_000)).err(),
            Some(CodeError::TooLong)
        );
    }
}
