//! The source's secret code: making one, and reading one back however it was typed.
//!
//! A code is [`WORDS`] words drawn with the operating system's CSPRNG from a diceware list of
//! 7,776 words, so it carries 7 × log2(7776) ≈ 90.5 bits. The list follows the page language:
//! in English the EFF large list, and in French a list derived from Debian's `wfrench`, each
//! without the words of its deny list (`wordlists/deny-*.txt`: words a source must not carry on
//! paper). They are vendored in `wordlists/` and compiled in, with their provenance and SHA-256
//! in `wordlists/PROVENANCE.md`: a dependency update can never change them, and each box records
//! their checksums at first start ([`crate::pinned`]).
//!
//! The lists have versions ([`ListVersion`]). New codes always come from the current one; a box
//! made with an older version also accepts that version's words at login, so the codes it gave
//! out before still work ([`normalize_for`]).
//!
//! A typed code is *normalized* before use: split on any white space, lower-cased, accents
//! folded (é → e). No list has two words that fold to the same letters, so folding loses
//! nothing. The normalized form is what the key derivation sees (never the list it came from);
//! the code itself is never stored, logged or put in a cookie, and every copy of it is zeroized.

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

/// A version of both word lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListVersion {
    /// The lists up to commit 676ced5 (`wordlists/v1/`): the EFF list as published, and the
    /// first French list. Designations still use its English list.
    V1,
    /// Both lists without the words of their deny lists (`wordlists/en.txt`, `fr.txt`).
    V2,
}

impl ListVersion {
    /// What new codes are drawn from, and what a new box records.
    pub const CURRENT: ListVersion = ListVersion::V2;

    /// Every version this build knows, oldest first.
    pub const ALL: [ListVersion; 2] = [ListVersion::V1, ListVersion::V2];

    /// The number a person reads in a message ("version 1").
    pub fn number(self) -> u32 {
        match self {
            ListVersion::V1 => 1,
            ListVersion::V2 => 2,
        }
    }
}

/// The word list file of a language in a version, as vendored.
fn wordlist_text(version: ListVersion, lang: Lang) -> &'static str {
    match (version, lang) {
        (ListVersion::V1, Lang::En) => lanterne_core::designation::ENGLISH_WORDS,
        (ListVersion::V1, Lang::Fr) => include_str!("../wordlists/v1/fr.txt"),
        (ListVersion::V2, Lang::En) => include_str!("../wordlists/en.txt"),
        (ListVersion::V2, Lang::Fr) => include_str!("../wordlists/fr.txt"),
    }
}

/// The current word list for a language: what new codes are drawn from.
pub fn wordlist(lang: Lang) -> &'static [&'static str] {
    wordlist_of(ListVersion::CURRENT, lang)
}

/// The word list of a language in a version.
pub fn wordlist_of(version: ListVersion, lang: Lang) -> &'static [&'static str] {
    type Cell = OnceLock<Vec<&'static str>>;
    static CELLS: [Cell; 4] = [Cell::new(), Cell::new(), Cell::new(), Cell::new()];
    let cell = &CELLS[index(version) * 2 + matches!(lang, Lang::Fr) as usize];
    cell.get_or_init(|| {
        wordlist_text(version, lang)
            .lines()
            .filter(|w| !w.is_empty())
            .collect()
    })
}

fn index(version: ListVersion) -> usize {
    match version {
        ListVersion::V1 => 0,
        ListVersion::V2 => 1,
    }
}

/// SHA-256 of a language's word list file in a version, hex: what identifies the list.
pub fn wordlist_sha256(version: ListVersion, lang: Lang) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(wordlist_text(version, lang).as_bytes()))
}

/// Every word a box made with `pinned` accepts at login, folded: the words of both languages
/// in `pinned` and in the current version (its older codes and its new ones).
fn known_words(pinned: ListVersion) -> &'static HashSet<String> {
    static KNOWN: [OnceLock<HashSet<String>>; 2] = [OnceLock::new(), OnceLock::new()];
    KNOWN[index(pinned)].get_or_init(|| {
        [pinned, ListVersion::CURRENT]
            .into_iter()
            .flat_map(|v| [Lang::En, Lang::Fr].map(|l| wordlist_of(v, l)))
            .flatten()
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

/// Turns what a source typed into the canonical code, or says why it cannot be one, with the
/// words of the current lists only.
pub fn normalize(input: &str) -> Result<NormalizedCode, CodeError> {
    normalize_for(input, ListVersion::CURRENT)
}

/// [`normalize`] on a box made with the lists of `pinned`: their words are accepted too.
pub fn normalize_for(input: &str, pinned: ListVersion) -> Result<NormalizedCode, CodeError> {
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
        if !known_words(pinned).contains(folded.as_str()) {
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

    /// The words of a deny list file (`wordlists/deny-*.txt`): one a line, `#` starts a comment.
    fn denied(lang: Lang) -> HashSet<&'static str> {
        let text = match lang {
            Lang::En => include_str!("../wordlists/deny-en.txt"),
            Lang::Fr => include_str!("../wordlists/deny-fr.txt"),
        };
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// What a source writes on paper: no word of a deny list (faith, origin, sexuality,
    /// violence, drugs, crime, illness, politics, proper nouns, function words), 7776 words, no
    /// two equal once folded, so 7 words carry at least 90 bits.
    #[test]
    fn code_lists_hold_no_denied_word_and_keep_7776_words() {
        for lang in [Lang::En, Lang::Fr] {
            let list = wordlist(lang);
            let deny = denied(lang);
            assert!(deny.len() > 500, "{lang:?}: deny list not read");
            let bad: Vec<&str> = list.iter().copied().filter(|w| deny.contains(w)).collect();
            assert!(
                bad.is_empty(),
                "{lang:?}: {} code words are in the deny list: {:?}",
                bad.len(),
                &bad[..bad.len().min(12)]
            );
            assert_eq!(list.len(), 7776, "{lang:?}");
            let folded: HashSet<_> = list.iter().map(|w| fold(w).to_string()).collect();
            assert_eq!(folded.len(), 7776, "{lang:?} has words that fold together");
            let bits = WORDS as f64 * (list.len() as f64).log2();
            assert!(bits >= 90.0, "{lang:?}: {bits} bits");
        }
        // The first lists stay as they were, for the boxes made with them.
        for lang in [Lang::En, Lang::Fr] {
            let first = wordlist_of(ListVersion::V1, lang);
            let folded: HashSet<_> = first.iter().map(|w| fold(w).to_string()).collect();
            assert_eq!((first.len(), folded.len()), (7776, 7776), "{lang:?}");
        }
    }

    /// The vendored files are the ones PROVENANCE.md describes, byte for byte.
    #[test]
    fn word_list_checksums_match_provenance() {
        use ListVersion::{V1, V2};
        let expected = [
            (
                V1,
                Lang::En,
                "6d557f0693958fb5e650b68b5bee585eb82cf4da32965505c789e924743bc522",
            ),
            (
                V1,
                Lang::Fr,
                "edb8cdef0cffc0c68275a78bf734f9737d14d0fbe25e4559ccbcf95a9ca49e4e",
            ),
            (
                V2,
                Lang::En,
                "02a5afc5bdcec08511c57f28bc5251c3cf08502ab196d9003f0ae4465da905e0",
            ),
            (
                V2,
                Lang::Fr,
                "c018b08e04fb58cd347356ebf8b31325e79dfe07eef46f92bdc660024af519ff",
            ),
        ];
        let provenance = include_str!("../wordlists/PROVENANCE.md");
        for (version, lang, sha) in expected {
            assert_eq!(wordlist_sha256(version, lang), sha, "{version:?} {lang:?}");
            assert!(provenance.contains(&format!("`{sha}`")), "{sha}");
        }
        let en = wordlist_of(V1, Lang::En);
        assert_eq!((en[0], en[7775]), ("abacus", "zoom"));
    }

    /// A box made with the first lists still reads the codes it gave out from them, words the
    /// current lists dropped included, and reads its new codes; a box made with the current
    /// lists does not take the dropped words.
    #[test]
    fn a_box_on_the_first_lists_takes_their_words_a_new_box_does_not() {
        let old_code = "juif bombe cocaïne tuer mais doit douglas";
        for w in old_code.split(' ') {
            assert!(wordlist_of(ListVersion::V1, Lang::Fr).contains(&w), "{w}");
            assert!(!wordlist(Lang::Fr).contains(&w), "{w}");
        }
        let old = normalize_for(old_code, ListVersion::V1).unwrap();
        assert_eq!(old.as_bytes(), b"juif bombe cocaine tuer mais doit douglas");
        assert_eq!(
            normalize_for(old_code, ListVersion::V2).err(),
            Some(CodeError::UnknownWord(1))
        );
        assert_eq!(normalize(old_code).err(), Some(CodeError::UnknownWord(1)));
        for lang in [Lang::En, Lang::Fr] {
            let new = Code::generate(lang);
            let on_old_box = normalize_for(new.as_str(), ListVersion::V1).unwrap();
            assert_eq!(on_old_box.as_bytes(), new.normalized().unwrap().as_bytes());
        }
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
