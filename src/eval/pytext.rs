//! Python `str` semantics the reference scoring depends on: `str.split()`, `str.strip()`,
//! `str.lower()` and `in` (substring).
//!
//! The benchmark tokenizes BLEU input with `str.split()`, strips model answers with
//! `str.strip()` and compares cloze answers with `lower()` + `in`. Python's whitespace set
//! (`str.isspace`) is Unicode `White_Space` **plus** the four information separators
//! U+001C–U+001F, which Rust's [`char::is_whitespace`] does not include. U+200B (zero-width
//! space) is whitespace for neither.

/// True when Python's `str.isspace()` is true for this one character.
///
/// ```
/// use mllmu::eval::pytext::is_py_space;
/// assert!(is_py_space('\u{1d}'));   // group separator: Python splits on it
/// assert!(is_py_space('\u{a0}'));   // no-break space
/// assert!(!is_py_space('\u{200b}')); // zero-width space: not whitespace
/// ```
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `s.split()` (no argument): split on runs of whitespace, drop empty pieces.
///
/// ```
/// use mllmu::eval::pytext::py_split;
/// assert_eq!(py_split(" a\u{85}b\u{1f}c  "), vec!["a", "b", "c"]);
/// assert!(py_split(" \t ").is_empty());
/// ```
pub fn py_split(s: &str) -> Vec<&str> {
    s.split(is_py_space).filter(|t| !t.is_empty()).collect()
}

/// Python `s.strip()` (no argument): remove leading and trailing whitespace.
///
/// ```
/// use mllmu::eval::pytext::py_strip;
/// assert_eq!(py_strip("\u{1e} B. \u{3000}"), "B.");
/// ```
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python `s.lower()`: full Unicode lowercasing (`"İ"` becomes `"i\u{307}"`, the Kelvin sign
/// becomes `"k"`, a final capital sigma becomes `ς`).
///
/// ```
/// use mllmu::eval::pytext::py_lower;
/// assert_eq!(py_lower("İzmir \u{212a}"), "i\u{307}zmir k");
/// ```
pub fn py_lower(s: &str) -> String {
    // Rust's `str::to_lowercase` applies the same full mapping (SpecialCasing included) and
    // the same final-sigma rule as CPython.
    s.to_lowercase()
}

/// Python `needle.lower() in haystack.lower()`: the cloze correctness test.
///
/// An empty needle is contained in every string, as in Python.
///
/// ```
/// use mllmu::eval::pytext::contains_lower;
/// assert!(contains_lower("He was born in TORUŃ.", "toruń"));
/// assert!(contains_lower("anything", ""));
/// ```
pub fn contains_lower(haystack: &str, needle: &str) -> bool {
    py_lower(haystack).contains(&py_lower(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_set_is_exact() {
        // Every code point CPython 3.11 reports as isspace().
        let mut py: Vec<u32> = vec![0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20];
        py.extend([0x85, 0xa0, 0x1680]);
        py.extend(0x2000..=0x200a);
        py.extend([0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
        let ours: Vec<u32> = (0u32..0x11000)
            .filter_map(char::from_u32)
            .filter(|&c| is_py_space(c))
            .map(|c| c as u32)
            .collect();
        assert_eq!(ours, py);
    }

    #[test]
    fn split_keeps_zero_width_space_inside_tokens() {
        assert_eq!(
            py_split("geo\u{200b}caching x"),
            vec!["geo\u{200b}caching", "x"]
        );
        assert_eq!(py_split("東京\u{3000}大阪"), vec!["東京", "大阪"]);
    }

    #[test]
    fn strip_only_touches_the_ends() {
        assert_eq!(py_strip("\n  Puno \t\n"), "Puno");
        assert_eq!(py_strip(" a b "), "a b");
        assert_eq!(py_strip("\u{200b}x"), "\u{200b}x");
    }

    #[test]
    fn lower_matches_python_special_cases() {
        assert_eq!(py_lower("İ").chars().count(), 2);
        assert_eq!(py_lower("ÅLESUND"), "ålesund");
        assert_eq!(py_lower("\u{212b}"), "å");
        // Final capital sigma lowercases to final sigma U+03C2, as in CPython.
        assert_eq!(py_lower("ΟΔΟΣ"), "\u{3bf}\u{3b4}\u{3bf}\u{3c2}");
        assert!(!contains_lower("Strauss", "STRAUß"));
    }
}
