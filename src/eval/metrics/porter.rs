//! The Porter stemmer exactly as nltk 3.9.1's `PorterStemmer()` behaves in its default
//! `NLTK_EXTENSIONS` mode, which `rouge_score` 0.1.2 uses with `use_stemmer=True`.
//!
//! Departures of the NLTK mode from Porter's 1980 paper, all reproduced here:
//! - a pool of irregular forms is looked up first (`tying`→`tie`, `innings`→`inning`,
//!   `howe`, `proceed`, ...);
//! - words of one or two characters are returned unchanged;
//! - step 1a: a four-letter word ending in `ies` becomes `...ie` (`dies`→`die`);
//! - step 1b: `ied` becomes `ie` in four-letter words, else `i` (`spied`→`spi`);
//! - step 1c: `y`→`i` only after a consonant that is not the first letter
//!   (`happy`→`happi`, `enjoy` unchanged, `fly`→`fli`);
//! - step 2: `alli`→`al` is tried first and the result re-enters step 2; `bli`→`ble`
//!   replaces `abli`→`able`; extra rules `fulli`→`ful` and `logi`→`log` (whose measure
//!   condition keeps the `l` in the stem);
//! - `*o` (cvc) also holds for two-letter stems vowel+consonant.
//!
//! Words are handled as sequences of Unicode scalar values, as Python indexes strings.
//! Reference: M.F. Porter, "An algorithm for suffix stripping", Program 14(3), 1980, and
//! `nltk/stem/porter.py` (nltk 3.9.1).

/// The nltk irregular-form pool: (form, stem).
const POOL: &[(&str, &str)] = &[
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

/// Stems one word like nltk's `PorterStemmer().stem(word)` (NLTK_EXTENSIONS mode,
/// `to_lowercase=True`).
///
/// ```
/// use mllmu::eval::metrics::porter::stem;
/// assert_eq!(stem("conditioned"), "condit");
/// assert_eq!(stem("tying"), "tie");
/// assert_eq!(stem("flies"), "fli");
/// assert_eq!(stem("dies"), "die");
/// assert_eq!(stem("generously"), "gener");
/// ```
pub fn stem(word: &str) -> String {
    let lowered = word.to_lowercase();
    // nltk checks the pool with the word as given and indexes it with the lowered word; the
    // pool holds only lowercase keys, so both are the same string whenever the check passes.
    if let Some((_, s)) = POOL.iter().find(|(form, _)| *form == word) {
        return (*s).to_string();
    }
    if word.chars().count() <= 2 {
        return lowered;
    }
    let mut w: Vec<char> = lowered.chars().collect();
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    w.into_iter().collect()
}

fn is_consonant(w: &[char], i: usize) -> bool {
    match w[i] {
        'a' | 'e' | 'i' | 'o' | 'u' => false,
        'y' => i == 0 || !is_consonant(w, i - 1),
        _ => true,
    }
}

/// Porter's m: the number of vowel-consonant sequences.
fn measure(stem: &[char]) -> usize {
    let cv: Vec<bool> = (0..stem.len()).map(|i| is_consonant(stem, i)).collect();
    cv.windows(2).filter(|p| !p[0] && p[1]).count()
}

fn contains_vowel(stem: &[char]) -> bool {
    (0..stem.len()).any(|i| !is_consonant(stem, i))
}

fn ends_double_consonant(w: &[char]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// Porter's `*o` with the NLTK two-letter extension.
fn ends_cvc(w: &[char]) -> bool {
    let n = w.len();
    let classic = n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], 'w' | 'x' | 'y');
    classic || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

fn ends_with(w: &[char], suffix: &str) -> bool {
    let s: Vec<char> = suffix.chars().collect();
    w.len() >= s.len() && w[w.len() - s.len()..] == s[..]
}

fn without(w: &[char], suffix: &str) -> Vec<char> {
    w[..w.len() - suffix.chars().count()].to_vec()
}

fn join(stem: &[char], replacement: &str) -> Vec<char> {
    let mut out = stem.to_vec();
    out.extend(replacement.chars());
    out
}

/// Tries `rules` (suffix, replacement pairs) in order. The first rule whose suffix matches
/// decides: it fires if `cond(suffix, stem)` holds, otherwise the word is returned unchanged
/// and no later rule is tried.
fn apply_rules(w: Vec<char>, rules: &[&str], cond: impl Fn(&str, &[char]) -> bool) -> Vec<char> {
    for r in rules.chunks_exact(2) {
        if ends_with(&w, r[0]) {
            let stem = without(&w, r[0]);
            return if cond(r[0], &stem) {
                join(&stem, r[1])
            } else {
                w
            };
        }
    }
    w
}

fn positive(stem: &[char]) -> bool {
    measure(stem) > 0
}

fn step1a(w: Vec<char>) -> Vec<char> {
    if w.len() == 4 && ends_with(&w, "ies") {
        return join(&without(&w, "ies"), "ie");
    }
    apply_rules(
        w,
        &["sses", "ss", "ies", "i", "ss", "ss", "s", ""],
        |_, _| true,
    )
}

fn step1b(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "ied") {
        let replacement = if w.len() == 4 { "ie" } else { "i" };
        return join(&without(&w, "ied"), replacement);
    }
    if ends_with(&w, "eed") {
        let stem = without(&w, "eed");
        return if measure(&stem) > 0 {
            join(&stem, "ee")
        } else {
            w
        };
    }
    let mut intermediate = None;
    for suffix in ["ed", "ing"] {
        if ends_with(&w, suffix) {
            let stem = without(&w, suffix);
            if contains_vowel(&stem) {
                intermediate = Some(stem);
                break;
            }
        }
    }
    let Some(stem) = intermediate else { return w };
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if ends_with(&stem, suffix) {
            return join(&without(&stem, suffix), replacement);
        }
    }
    if ends_double_consonant(&stem) {
        // (*d and not (*L or *S or *Z)) -> single letter; otherwise stop here.
        let last = stem[stem.len() - 1];
        return if matches!(last, 'l' | 's' | 'z') {
            stem
        } else {
            stem[..stem.len() - 1].to_vec()
        };
    }
    if measure(&stem) == 1 && ends_cvc(&stem) {
        return join(&stem, "e");
    }
    stem
}

fn step1c(w: Vec<char>) -> Vec<char> {
    apply_rules(w, &["y", "i"], |_, stem| {
        stem.len() > 1 && is_consonant(stem, stem.len() - 1)
    })
}

fn step2(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "alli") && positive(&without(&w, "alli")) {
        return step2(join(&without(&w, "alli"), "al"));
    }
    let rules = [
        "ational", "ate", "tional", "tion", "enci", "ence", "anci", "ance", "izer", "ize", "bli",
        "ble", "alli", "al", "entli", "ent", "eli", "e", "ousli", "ous", "ization", "ize", "ation",
        "ate", "ator", "ate", "alism", "al", "iveness", "ive", "fulness", "ful", "ousness", "ous",
        "aliti", "al", "iviti", "ive", "biliti", "ble", "fulli", "ful", "logi", "log",
    ];
    // `logi` -> `log` tests the measure of the word minus `ogi`, keeping the `l` in the stem.
    apply_rules(w, &rules, |suffix, stem| match suffix {
        "logi" => positive(&join(stem, "l")),
        _ => positive(stem),
    })
}

fn step3(w: Vec<char>) -> Vec<char> {
    let rules = [
        "icate", "ic", "ative", "", "alize", "al", "iciti", "ic", "ical", "ic", "ful", "", "ness",
        "",
    ];
    apply_rules(w, &rules, |_, stem| positive(stem))
}

fn step4(w: Vec<char>) -> Vec<char> {
    let rules = [
        "al", "", "ance", "", "ence", "", "er", "", "ic", "", "able", "", "ible", "", "ant", "",
        "ement", "", "ment", "", "ent", "", "ion", "", "ou", "", "ism", "", "ate", "", "iti", "",
        "ous", "", "ive", "", "ize", "",
    ];
    apply_rules(w, &rules, |suffix, stem| {
        measure(stem) > 1 && (suffix != "ion" || matches!(stem.last(), Some('s' | 't')))
    })
}

fn step5a(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "e") {
        let stem = without(&w, "e");
        let m = measure(&stem);
        if m > 1 || (m == 1 && !ends_cvc(&stem)) {
            return stem;
        }
    }
    w
}

fn step5b(w: Vec<char>) -> Vec<char> {
    // (m > 1 and *d and *L) -> single letter; the measure is taken on the word minus one `l`.
    if ends_with(&w, "ll") && measure(&w[..w.len() - 1]) > 1 {
        return w[..w.len() - 1].to_vec();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `"word stem"` pairs separated by commas.
    fn check(pairs: &str) {
        for (word, expected) in pairs.split(',').map(|p| p.trim().split_once(' ').unwrap()) {
            assert_eq!(stem(word), expected, "stem({word})");
        }
    }

    #[test]
    fn classic_porter_examples() {
        check(
            "caresses caress, ponies poni, cats cat, feed feed, agreed agre, \
             plastered plaster, motoring motor, sing sing, conflated conflat, troubled troubl, \
             sized size, hopping hop, falling fall, hissing hiss, filing file, \
             relational relat, conditional condit, valenci valenc, digitizer digit, \
             triplicate triplic, hopeful hope, goodness good, revival reviv, allowance allow, \
             adoption adopt, controll control, roll roll, probate probat, rate rate, \
             cease ceas",
        );
    }

    #[test]
    fn nltk_extensions() {
        check(
            "dies die, died die, spied spi, cries cri, happy happi, enjoy enjoy, fly fli, \
             sky sky, skies sky, tying tie, dying die, innings inning, outings outing, \
             cannings canning, howe howe, news news, proceed proceed, archaeology archaeolog, \
             geology geolog, beautifully beauti, formally formal, at at, is is",
        );
    }

    #[test]
    fn pool_is_checked_before_lowercasing() {
        // nltk looks the unlowered word up in the pool, so "Tying" runs the algorithm.
        assert_eq!(stem("Tying"), "ty");
        assert_eq!(stem("tying"), "tie");
    }

    #[test]
    fn measure_counts_vc_sequences() {
        let m = |s: &str| measure(&s.chars().collect::<Vec<_>>());
        assert_eq!(m("tr"), 0);
        assert_eq!(m("tree"), 0);
        assert_eq!(m("trouble"), 1);
        assert_eq!(m("oats"), 1);
        assert_eq!(m("troubles"), 2);
        assert_eq!(m("private"), 2);
    }
}
