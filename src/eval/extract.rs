//! Answer extraction from decoded model output (SPEC.md §3.6).
//!
//! In the reference, the decoded text is the **whole sequence** (prompt + continuation)
//! minus its first two tokens, and the answer is recovered by splitting on `"ASSISTANT:"`
//! and taking piece `[1]`: the text after the query's `ASSISTANT:` and before a second
//! one the model may generate. [`Extraction::Reference`] reproduces that. The corrected
//! [`Extraction::NewTokens`] expects only the decoded continuation (`outputs[:, input_len:]`)
//! and just strips it, so a question containing `ASSISTANT:` cannot derail it (SPEC Q7).

use crate::eval::prompts::OPTION_KEYS;
use crate::eval::pytext::{contains_lower, py_strip};
use serde::{Deserialize, Serialize};

/// How the text handed to the extractors was decoded, and so how to find the answer in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Extraction {
    /// `decode(outputs[0][2:])` of prompt + continuation, then split on `ASSISTANT:` (the
    /// reference behaviour).
    #[default]
    Reference,
    /// Only the newly generated tokens were decoded; the answer is that text, stripped.
    NewTokens,
}

/// Python `text.split(sep)[1]`: the piece between the first and second occurrence of `sep`.
fn second_piece<'a>(text: &'a str, sep: &str) -> Option<&'a str> {
    let start = text.find(sep)? + sep.len();
    let rest = &text[start..];
    Some(rest.find(sep).map_or(rest, |end| &rest[..end]))
}

/// The classification reply: `text.split("ASSISTANT:")[1].strip()` if `"ASSISTANT:"` occurs,
/// else `text.strip()` (reference); the stripped text (new tokens).
///
/// ```
/// use mllmu::eval::extract::{choice_response, Extraction};
/// let text = "ER: <image>\nQ?\nA: x\nASSISTANT: B. Painting\nUSER: ... ASSISTANT: C";
/// assert_eq!(choice_response(text, Extraction::Reference), "B. Painting\nUSER: ...");
/// ```
pub fn choice_response(text: &str, mode: Extraction) -> &str {
    match mode {
        Extraction::Reference => py_strip(second_piece(text, "ASSISTANT:").unwrap_or(text)),
        Extraction::NewTokens => py_strip(text),
    }
}

/// The predicted letter: the reply's first character, uppercased, if that is one of `A`–`D`;
/// `None` otherwise (an empty reply, `"The answer is B"`, `"(B)"`).
///
/// ```
/// use mllmu::eval::extract::parse_choice;
/// assert_eq!(parse_choice("b) Painting"), Some('B'));
/// assert_eq!(parse_choice("The answer is B"), None);
/// assert_eq!(parse_choice(""), None);
/// ```
pub fn parse_choice(response: &str) -> Option<char> {
    let first = response.chars().next()?;
    // Python's `resp[0].upper()` may give several characters ("ß" -> "SS"): compare strings.
    let upper: String = first.to_uppercase().collect();
    OPTION_KEYS
        .iter()
        .find(|k| **k == upper)
        .and_then(|k| k.chars().next())
}

/// The scored outcome of one classification question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOutcome {
    /// The extracted reply (before taking its first letter).
    pub response: String,
    /// The parsed letter, `None` on a format failure.
    pub predicted: Option<char>,
    /// `predicted == Correct_Answer`.
    pub correct: bool,
}

impl ChoiceOutcome {
    /// True when the reply did not start with a letter A–D (counted wrong by the reference;
    /// reported apart here).
    pub fn format_failure(&self) -> bool {
        self.predicted.is_none()
    }
}

/// Extracts and scores a classification answer.
///
/// ```
/// use mllmu::eval::extract::{score_choice, Extraction};
/// let o = score_choice("ER:\nQ\nASSISTANT: c", "C", Extraction::Reference);
/// assert!(o.correct);
/// let o = score_choice("ER:\nQ\nASSISTANT: US US US", "C", Extraction::Reference);
/// assert!(!o.correct && o.format_failure());
/// ```
pub fn score_choice(text: &str, correct_answer: &str, mode: Extraction) -> ChoiceOutcome {
    let response = choice_response(text, mode);
    let predicted = parse_choice(response);
    let correct = predicted.is_some_and(|p| p.encode_utf8(&mut [0u8; 4]) == correct_answer);
    ChoiceOutcome {
        response: response.to_string(),
        predicted,
        correct,
    }
}

/// The cloze / generation answer: the piece after `ASSISTANT:` (up to a second one), else
/// the piece after `Answer:` (up to a second one), else the whole text; stripped
/// (reference). New tokens: the stripped text.
///
/// ```
/// use mllmu::eval::extract::{open_response, Extraction};
/// assert_eq!(open_response("ER:\nQ\nASSISTANT: Tartu ", Extraction::Reference), "Tartu");
/// assert_eq!(open_response("Correct Answer: 1982\nmore", Extraction::Reference), "1982\nmore");
/// assert_eq!(open_response("  Tartu\n", Extraction::Reference), "Tartu");
/// ```
pub fn open_response(text: &str, mode: Extraction) -> &str {
    match mode {
        Extraction::Reference => py_strip(
            second_piece(text, "ASSISTANT:")
                .or_else(|| second_piece(text, "Answer:"))
                .unwrap_or(text),
        ),
        Extraction::NewTokens => py_strip(text),
    }
}

/// Cloze correctness: `ground_truth.lower() in response.lower()` (case-insensitive substring;
/// an empty ground truth always matches, as in the reference).
///
/// ```
/// use mllmu::eval::extract::cloze_correct;
/// assert!(cloze_correct("Ísafjörður", "He was born in ÍSAFJÖRÐUR in 1970"));
/// assert!(!cloze_correct("1970", "nineteen seventy"));
/// ```
pub fn cloze_correct(ground_truth: &str, response: &str) -> bool {
    contains_lower(response, ground_truth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Extraction::*;

    #[test]
    fn split_takes_the_piece_between_the_first_two_separators() {
        assert_eq!(second_piece("a|b|c", "|"), Some("b"));
        assert_eq!(second_piece("a|b", "|"), Some("b"));
        assert_eq!(second_piece("a|", "|"), Some(""));
        assert_eq!(second_piece("ab", "|"), None);
    }

    #[test]
    fn classification_uses_the_first_assistant_marker() {
        // A question containing "ASSISTANT:" breaks the reference (SPEC Q7) ...
        let text = "ER:\nWho is the ASSISTANT: of Ms X?\nA: a\nJust give ONE letter.\nASSISTANT: A";
        let o = score_choice(text, "A", Reference);
        assert_eq!(o.response, "of Ms X?\nA: a\nJust give ONE letter.");
        assert_eq!(o.predicted, None);
        // ... but not the corrected mode, which sees only the continuation.
        assert!(score_choice(" A", "A", NewTokens).correct);
    }

    #[test]
    fn no_marker_falls_back_to_the_whole_text() {
        assert_eq!(choice_response("  D\n", Reference), "D");
        assert!(score_choice("d", "D", Reference).correct);
    }

    #[test]
    fn format_failures_are_flagged_apart_from_wrong_answers() {
        let wrong = score_choice("ASSISTANT: B", "C", Reference);
        assert!(!wrong.correct && !wrong.format_failure());
        for reply in [
            "ASSISTANT:",
            "ASSISTANT: (C)",
            "ASSISTANT: The answer is C",
            "ASSISTANT: E",
            "ASSISTANT: ß",
        ] {
            let o = score_choice(reply, "C", Reference);
            assert!(!o.correct && o.format_failure(), "{reply:?}");
        }
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(
            score_choice("ASSISTANT:\u{1f}\u{a0}b", "B", Reference).predicted,
            Some('B')
        );
        assert_eq!(
            score_choice("ASSISTANT:\u{200b}b", "B", Reference).predicted,
            None
        );
    }

    #[test]
    fn malformed_correct_answers_never_match() {
        assert!(!score_choice("ASSISTANT: B", "b", Reference).correct);
        assert!(!score_choice("ASSISTANT: B", "B.", Reference).correct);
    }

    #[test]
    fn open_response_prefers_assistant_over_answer() {
        let text = "ER:\nQ\nCorrect Answer: 1970\nUSER: q\nASSISTANT: Tartu\nASSISTANT: x";
        assert_eq!(open_response(text, Reference), "Tartu");
        assert_eq!(open_response("x Answer: a Answer: b", Reference), "a");
        assert_eq!(open_response(" Answer: a ", NewTokens), "Answer: a");
    }

    #[test]
    fn cloze_is_case_insensitive_substring() {
        assert!(cloze_correct("tartu", "She lives in TARTU, Estonia."));
        assert!(cloze_correct("", "anything"));
        assert!(!cloze_correct("Tartu.", "Tartu"));
        assert!(cloze_correct("İzmir", "i\u{307}zmir"));
    }
}
