#!/usr/bin/env python3
"""Derive lanterne's French diceware word list (wordlists/fr.txt) from Debian's wfrench.

No crate or Debian package carries a French diceware list, so this script makes
one: it takes the words of /usr/share/dict/french (Debian package `wfrench`),
keeps plain lowercase words of 4 to 9 letters, drops most conjugated verb
forms, plurals and every word of the deny list wordlists/deny-fr.txt, ranks
the rest by frequency with the PyPI package `wordfreq`, keeps the 7,776 (6^5)
most frequent words whose accent-folded forms are all distinct, and writes them
sorted, one per line, with its section of wordlists/PROVENANCE.md.

Deterministic: the same wfrench file and wordfreq version give the same bytes.

Needs: Python 3, `apt-get install wfrench`, `pip install wordfreq==3.1.1`.
Usage: python3 scripts/make-french-wordlist.py [--dict FILE] [--outdir DIR]
"""

import argparse
import hashlib
import importlib.metadata
import math
import os
import re
import subprocess
import sys
import unicodedata

import wordfreq

COUNT = 6 ** 5  # 7776: five dice per word
MIN_LEN, MAX_LEN = 4, 9
LETTERS = "a-zàâäéèêëîïôöùûüÿç"
WORD_RE = re.compile(r"^[%s]{%d,%d}$" % (LETTERS, MIN_LEN, MAX_LEN))

# Endings that are (almost) only ever finite verb forms: imperfect/conditional
# 3rd plural, 3rd plural in -ssent, 2nd plural in -iez, passé simple plurals.
VERB_ENDINGS_ALWAYS = (
    "aient", "ssent", "iez", "âmes", "îmes", "ûmes", "âtes", "îtes", "ûtes", "èrent",
)

# Endings tested against a verb stem (see is_verb_form): imperfect, conditional,
# future, passé simple and present plural forms.
VERB_ENDINGS_STEM = (
    "ai", "as", "a", "ais", "ait", "ions", "ons", "ez", "ont", "ent",
)

# Words that the verb-form rule catches but that are common nouns/adjectives.
VERB_RULE_KEEP = frozenset("""
    plus cela lait pont bruit chut opéra hélas agenda visa lama embarras relais
    écossais minerai interdit maudit transit parent content couvent talent lent
    président différent excellent précédent évident violent résident excédent
    chez assez essai délai balai front fait portrait extrait trait abstrait
    attrait retrait distrait urgent émergent
""".split())

# Any word starting with one of these crude stems is dropped too (catches inflections); the
# exact words are in wordlists/deny-fr.txt.
OFFENSIVE_PREFIXES = (
    "encul", "salop", "putain", "merd", "emmerd", "couill", "connard", "connass",
    "branl", "chiott", "niqu", "pédé", "pédoph", "bougnoul", "youpin", "négress",
    "sperm", "fellat", "masturb", "sodom", "porno", "pouffias", "poufias",
    "tarlouz", "enfoir", "foutr", "partouz", "bordel", "zoophil", "nazi", "suicid",
)


def fold(word):
    """Lowercase, decompose (NFD) and drop combining marks: 'Écrivît' -> 'ecrivit'."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def wfrench_version():
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "wfrench"],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def load_dictionary(path):
    words = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            word = unicodedata.normalize("NFC", line.strip())
            if word:
                words.add(word)
    return words


def verb_stems(dictionary):
    """Stems s with both s+'aient' and s+'ions' in the dictionary.

    wfrench lists every conjugated form, so these are the imperfect stems
    (parl-, finiss-) and the future/conditional stems (parler-, finir-, ser-).
    """
    stems = set()
    for w in dictionary:
        if w.endswith("aient"):
            s = w[: -len("aient")]
            if s and s + "ions" in dictionary:
                stems.add(s)
    return stems


def is_verb_form(word, dictionary, stems):
    if word in VERB_RULE_KEEP:
        return False
    if word.endswith(VERB_ENDINGS_ALWAYS):
        return True
    for ending in VERB_ENDINGS_STEM:
        if word.endswith(ending) and word[: -len(ending)] in stems:
            return True
    # Imperfect/conditional singular of any stem that has an -aient form
    # (mangeait, menaçais), and -gent/-geons present plurals (mangent).
    if word.endswith(("ait", "ais")) and word[:-3] + "aient" in dictionary:
        return True
    if word.endswith("ent") and word[:-2] + "aient" in dictionary:
        return True
    # -ions that is not the plural of a noun in -ion (étions, parlions).
    if word.endswith("ions") and word[:-1] not in dictionary:
        return True
    # Passé simple and imperfect subjunctive of every group: parla/parlât/
    # parlèrent (parlâmes), finit/finît/finirent (finîmes), voulut/voulurent (voulûmes).
    # (-is/-us are left to the plural rule: pris, permis, inclus are participles.)
    for vowel, endings in (("â", ("a", "as", "ât", "èrent")), ("î", ("it", "ît", "irent")),
                           ("û", ("ut", "ût", "urent"))):
        for ending in endings:
            if word.endswith(ending):
                stem = word[: -len(ending)]
                if stem and stem + vowel + "mes" in dictionary:
                    return True
    return False


def is_plural_or_feminine_variant(word, shaped):
    """Plurals and -ée participles whose base form is itself a candidate word.

    `shaped` is the set of wfrench words that pass the shape rule, so 'maisons'
    goes (maison is a candidate) but 'dans', 'mais', 'fois' stay (dan, mai,
    foi are too short to be candidates).
    """
    if word.endswith(("s", "x")) and word[:-1] in shaped:
        return True  # maisons, grandes, bateaux
    if word.endswith("aux") and word[:-3] + "al" in shaped:
        return True  # chevaux
    if word.endswith("ée") and word[:-1] in shaped:
        return True  # passée
    return False


def load_deny(path):
    """The words of a deny list: one per line, `#` starts a comment (see wordlists/deny-fr.txt)."""
    words = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            word = unicodedata.normalize("NFC", line.split("#", 1)[0].strip())
            if word:
                words.add(word)
    return words


def is_denied(word, deny):
    return word in deny or word.startswith(OFFENSIVE_PREFIXES)


def build(dict_path, deny):
    dictionary = load_dictionary(dict_path)
    stems = verb_stems(dictionary)
    stats = {"entries": len(dictionary)}

    shaped = sorted(w for w in dictionary if WORD_RE.match(w))
    stats["shape"] = len(shaped)
    not_verbs = [w for w in shaped if not is_verb_form(w, dictionary, stems)]
    stats["not_verb"] = len(not_verbs)
    shaped_set = set(shaped)
    not_variants = [w for w in not_verbs if not is_plural_or_feminine_variant(w, shaped_set)]
    stats["not_variant"] = len(not_variants)
    clean = [w for w in not_variants if not is_denied(w, deny)]
    stats["not_denied"] = len(clean)

    freq = {w: wordfreq.word_frequency(w, "fr") for w in clean}
    known = [w for w in clean if freq[w] > 0]
    stats["known"] = len(known)
    # Most frequent first; ties broken by the word itself, so the order is total.
    ranked = sorted(known, key=lambda w: (-freq[w], w))

    candidates, seen = [], set()
    for w in ranked:
        f = fold(w)
        if f not in seen:  # keep the more frequent of words equal once folded
            seen.add(f)
            candidates.append(w)
    stats["candidates"] = len(candidates)
    if len(candidates) < COUNT:
        sys.exit("only %d candidates, need %d" % (len(candidates), COUNT))

    kept = candidates[:COUNT]
    stats["last_kept"] = kept[-1]
    stats["last_zipf"] = wordfreq.zipf_frequency(kept[-1], "fr")
    stats["first_dropped"] = candidates[COUNT]
    stats["first_dropped_zipf"] = wordfreq.zipf_frequency(candidates[COUNT], "fr")
    return sorted(kept), stats


def check(words):
    assert len(words) == COUNT, len(words)
    assert words == sorted(set(words)), "not sorted or not unique"
    assert len({fold(w) for w in words}) == COUNT, "folded duplicates"
    for w in words:
        assert WORD_RE.match(w), w
        assert unicodedata.is_normalized("NFC", w), w


# The section of wordlists/PROVENANCE.md this script owns: it replaces the text between these
# two markers and leaves the rest of the page (the English list, the first lists) alone.
BEGIN, END = "<!-- fr.txt: begin (written by make-french-wordlist.py) -->", "<!-- fr.txt: end -->"

SECTION = """\
## fr.txt — French diceware list

Generated by `scripts/make-french-wordlist.py`; do not edit by hand.

- Source words: Debian package `wfrench` version {wfrench_version},
  file `{dict_path}` (sha256 `{dict_sha256}`), {entries} entries.
  Licence of wfrench: GPL-2+ (Copyright 1989 Paul Leyland; see
  `/usr/share/doc/wfrench/copyright`). fr.txt is derived from it: treat it as GPL-2+.
- Ranking: PyPI package `wordfreq` version {wordfreq_version}
  (code Apache-2.0, frequency data CC-BY-SA 4.0),
  `wordfreq.word_frequency(word, "fr")`, data shipped inside the package.
  Only the ranking comes from wordfreq; every word comes from wfrench.
- Deny list: `wordlists/deny-fr.txt` (sha256 `{deny_sha256}`), {n_deny} words.

Rules, in order:

1. NFC-normalise each line; keep words of {min_len} to {max_len} characters made only of
   `a`–`z` and `à â ä é è ê ë î ï ô ö ù û ü ÿ ç` (so no capitals, digits, hyphens,
   apostrophes, dots, `œ` or `æ`): {shape} words.
2. Drop finite verb forms (exact tests in `is_verb_form`), using the fact that
   wfrench lists every conjugated form: endings `{always}`;
   stem + `{stem_endings}` where wfrench has both stem+`aient` and stem+`ions`;
   `-ait`/`-ais` whose `-aient` form is in wfrench; `-ent` whose `-eaient` form is
   (mangent: mangeaient); `-ions` whose `-ion` singular is not in wfrench;
   passé simple / imperfect subjunctive forms (`-a -as -ât -èrent`, `-it -ît -irent`,
   `-ut -ût -urent`) whose `-âmes/-îmes/-ûmes` form is in wfrench.
   Kept despite these tests: {verb_keep}. Left: {not_verb}.
3. Drop plurals in `-s`/`-x` whose singular passes rule 1, `-aux` whose `-al` does,
   and `-ée` whose `-é` does: {not_variant} left.
4. Drop every word of `wordlists/deny-fr.txt` (religion, ethnicity and nationality, places,
   first names, surnames and brands, sexuality, violence and weapons, crime, drugs, illness,
   politics, function words and auxiliary or modal forms, crude words) and every word
   starting with one of {n_prefixes} crude stems: {not_denied} left; {known} of them have
   a nonzero wordfreq frequency.
5. Sort by frequency, highest first (ties by the word, code-point order); fold
   accents (lowercase, NFD, drop combining marks) and keep only the first word of
   each folded form: {candidates} candidates.
6. Keep the first {count}; the last kept is `{last_kept}` (zipf {last_zipf}),
   the first left out `{first_dropped}` (zipf {first_dropped_zipf}).
7. Write them sorted by code point (the order of Rust's `str` and `LC_ALL=C sort`),
   one per line, lowercase, UTF-8 (NFC), `\\n` line endings.

Result: {count} words (6^5: five dice per word), no two equal once accents are
folded, none in the deny list; {bits_per_word:.3f} bits per word, {bits7:.1f} bits for 7 words.
Against the first list (`wordlists/v1/fr.txt`): {removed} words left, {added} came in.
sha256 of fr.txt: `{out_sha256}`.

Regenerate (needs `apt-get install wfrench` and `pip install wordfreq=={wordfreq_version}`):

    python3 scripts/make-french-wordlist.py
"""


def write_section(path, text):
    """Replaces this script's section of PROVENANCE.md, between BEGIN and END."""
    with open(path, encoding="utf-8") as f:
        page = f.read()
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(head + BEGIN + "\n" + text + END + tail)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dict", default="/usr/share/dict/french")
    parser.add_argument("--outdir", default=os.path.join(root, "wordlists"))
    args = parser.parse_args()
    deny_path = os.path.join(root, "wordlists", "deny-fr.txt")
    first_path = os.path.join(root, "wordlists", "v1", "fr.txt")

    wf_version = wfrench_version()
    wq_version = importlib.metadata.version("wordfreq")
    print("wfrench", wf_version)
    print("wordfreq", wq_version)

    deny = load_deny(deny_path)
    words, stats = build(args.dict, deny)
    check(words)
    assert not deny.intersection(words), "a denied word is in the list"
    with open(first_path, encoding="utf-8") as f:
        first = set(f.read().split())

    os.makedirs(args.outdir, exist_ok=True)
    out_path = os.path.join(args.outdir, "fr.txt")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(w + "\n" for w in words))

    bits = math.log2(COUNT)
    section = SECTION.format(
        wfrench_version=wf_version,
        dict_path=args.dict,
        dict_sha256=sha256_file(args.dict),
        wordfreq_version=wq_version,
        deny_sha256=sha256_file(deny_path),
        n_deny=len(deny),
        min_len=MIN_LEN,
        max_len=MAX_LEN,
        always="`, `".join("-" + e for e in VERB_ENDINGS_ALWAYS),
        stem_endings="`, `".join(VERB_ENDINGS_STEM),
        verb_keep=" ".join(sorted(VERB_RULE_KEEP)),
        n_prefixes=len(OFFENSIVE_PREFIXES),
        count=COUNT,
        bits_per_word=bits,
        bits7=7 * bits,
        removed=len(first - set(words)),
        added=len(set(words) - first),
        out_sha256=sha256_file(out_path),
        **stats,
    )
    write_section(os.path.join(args.outdir, "PROVENANCE.md"), section)

    for key, value in stats.items():
        print("%s: %s" % (key, value))
    print("wrote %d words to %s (%.3f bits/word)" % (len(words), out_path, bits))


if __name__ == "__main__":
    main()
