//! Fine-tuning rows: `ft_Data` and the training-format folders of `baseline_train_split`
//! (`image` + a `metadata` JSON string holding question/answer pairs, SPEC.md §1.2-1.3).

use crate::bench::{Portrait, ProfileId};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// One training question/answer pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaPair {
    /// `Question`.
    pub question: String,
    /// `Answer`.
    pub answer: String,
}

/// One row of a training-format folder: a portrait and its QA pairs.
#[derive(Debug, Clone)]
pub struct FtRow {
    /// `ID`, when the folder has that column.
    pub id: Option<ProfileId>,
    /// `image`.
    pub image: Portrait,
    /// The usable pairs, in `metadata` order.
    pub pairs: Vec<QaPair>,
    /// Entries dropped because their `Question` or `Answer` was empty or missing (the
    /// reference keeps a pair only `if question and answer`).
    pub skipped_pairs: usize,
}

/// Parses one `metadata` string: a JSON list of objects with `Question` and `Answer`.
///
/// Unknown keys are ignored, a missing key counts as empty, and entries with an empty
/// question or answer are skipped and counted. `where_` names the file and row for errors.
///
/// ```
/// let (pairs, skipped) = mllmu::bench::parse_metadata(
///     r#"[{"Question": "Q1", "Answer": "A1", "ID": "7"}, {"Question": "Q2", "Answer": ""}]"#,
///     "ft_Data", "007",
/// ).unwrap();
/// assert_eq!(pairs.len(), 1);
/// assert_eq!(pairs[0].answer, "A1");
/// assert_eq!(skipped, 1);
/// ```
pub fn parse_metadata(text: &str, file: &str, profile: &str) -> Result<(Vec<QaPair>, usize)> {
    let bad = |message: String| Error::bad_data(file, profile, message);
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("`metadata` is not valid JSON: {e}")))?;
    let entries = value.as_array().ok_or_else(|| {
        bad("`metadata` is not a JSON list of {\"Question\", \"Answer\"} objects".into())
    })?;
    let mut pairs = Vec::with_capacity(entries.len());
    let mut skipped = 0;
    for entry in entries {
        let field = |k: &str| {
            entry
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (question, answer) = (field("Question"), field("Answer"));
        if question.is_empty() || answer.is_empty() {
            skipped += 1;
        } else {
            pairs.push(QaPair { question, answer });
        }
    }
    Ok((pairs, skipped))
}

/// Serialises pairs as the hub's `metadata` string (ASCII-escaped, like Python's
/// `json.dumps`).
pub(crate) fn metadata_json(pairs: &[QaPair]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|p| {
            let (q, a) = (ascii_json(&p.question), ascii_json(&p.answer));
            format!("{{\"Question\": {q}, \"Answer\": {a}}}")
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A JSON string literal with every non-ASCII character escaped as `\uXXXX`.
fn ascii_json(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_escapes_round_trip() {
        let pairs = vec![QaPair {
            question: "Where? \"Çeşme\"".into(),
            answer: "Ålesund 🙂".into(),
        }];
        let text = metadata_json(&pairs);
        assert!(text.is_ascii());
        assert!(text.contains("\\u00c7e\\u015fme"));
        let (back, skipped) = parse_metadata(&text, "f", "p").unwrap();
        assert_eq!((back, skipped), (pairs, 0));
    }

    #[test]
    fn malformed_metadata_is_an_error_naming_the_row() {
        let err = parse_metadata("{\"Question\": 1}", "ft_Data/x.parquet", "004")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ft_Data/x.parquet")
                && err.contains("profile 004")
                && err.contains("list"),
            "{err}"
        );
        assert!(parse_metadata("[{", "f", "p").is_err());
    }

    #[test]
    fn missing_keys_and_non_strings_count_as_empty() {
        let (pairs, skipped) =
            parse_metadata(r#"[{"Answer": "a"}, {"Question": "q", "Answer": 3}, {"Question": "q", "Answer": "a"}]"#, "f", "p")
                .unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!(skipped, 2);
    }
}
