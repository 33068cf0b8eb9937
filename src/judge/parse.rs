//! Reading a score out of a judge reply.
//!
//! Two formats are accepted, tried in this order:
//! 1. A JSON object (optionally inside a Markdown code fence) with an integer `score`
//!    (also `"Factuality Score"` / `factuality_score`) and a `justification` string.
//! 2. The reference's line format, parsed by the reference's rules (SPEC §6): the first
//!    line containing `Factuality Score`, the text after its **last** `:`, trimmed, commas
//!    removed, read as a Python `int` (optional sign, digits, single `_` between digits);
//!    the justification is the text after the **first** `:` of the first line containing
//!    `Justification`. So `8.5`, `8/10` and Markdown bold (`**Factuality Score:** 8`) fail,
//!    as they do in the reference.
//!
//! Unlike the reference, a score outside 1..=10 is a failure, and a missing justification
//! line is not (the score stands with no justification).

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// The score, in 1..=10.
    pub score: u8,
    /// The justification, if the reply had one.
    pub justification: Option<String>,
}

/// Parses a judge reply; `Err` carries the reason it has no valid score.
///
/// ```
/// use mllmu::judge::parse_reply;
/// assert_eq!(parse_reply(r#"{"score": 8, "justification": "close"}"#).unwrap().score, 8);
/// assert_eq!(parse_reply("Factuality Score: 7\nJustification: ok").unwrap().score, 7);
/// assert!(parse_reply("Factuality Score: 8.5").is_err());
/// assert!(parse_reply("It is quite accurate.").is_err());
/// ```
pub fn parse_reply(text: &str) -> Result<ParsedReply, String> {
    if let Some(obj) = json_object(text) {
        if let Some(value) = score_field(&obj) {
            let score = json_score(value)?;
            let justification = obj
                .iter()
                .find(|(k, _)| normalise_key(k) == "justification")
                .and_then(|(_, v)| v.as_str())
                .map(|s| s.trim().to_string());
            return Ok(ParsedReply {
                score: in_range(score)?,
                justification,
            });
        }
    }
    line_format(text)
}

/// The JSON object in a reply: the whole text, a fenced block, or the span from the first
/// `{` to the last `}`.
fn json_object(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|s| s.trim_end().trim_end_matches("```"))
        .unwrap_or(t)
        .trim();
    let candidate = match (t.find('{'), t.rfind('}')) {
        (Some(a), Some(b)) if a < b => &t[a..=b],
        _ => return None,
    };
    match serde_json::from_str::<serde_json::Value>(candidate) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn normalise_key(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn score_field(obj: &serde_json::Map<String, serde_json::Value>) -> Option<&serde_json::Value> {
    obj.iter()
        .find(|(k, _)| matches!(normalise_key(k).as_str(), "score" | "factualityscore"))
        .map(|(_, v)| v)
}

fn json_score(v: &serde_json::Value) -> Result<i64, String> {
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u.min(i64::MAX as u64) as i64))
            .ok_or_else(|| format!("score {n} is not an integer")),
        serde_json::Value::String(s) => python_int(&s.replace(',', ""))
            .ok_or_else(|| format!("score {:?} is not an integer", short(s, 80))),
        other => Err(format!(
            "score {} is not an integer",
            short(&other.to_string(), 80)
        )),
    }
}

/// The reference's line format.
fn line_format(text: &str) -> Result<ParsedReply, String> {
    let Some(line) = text.lines().find(|l| l.contains("Factuality Score")) else {
        return Err(format!("reply has no score: {:?}", short(text, 80)));
    };
    // `rsplit` always yields at least one piece; the reference takes the text after the
    // last `:` (or the whole line when there is none, which then fails `int`).
    let after = line.rsplit(':').next().unwrap_or(line);
    let cleaned = after.trim().replace(',', "");
    let score = python_int(&cleaned)
        .ok_or_else(|| format!("score {:?} is not an integer", short(cleaned.trim(), 80)))?;
    let justification = text
        .lines()
        .find(|l| l.contains("Justification"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, j)| j.trim().to_string());
    Ok(ParsedReply {
        score: in_range(score)?,
        justification,
    })
}

fn in_range(score: i64) -> Result<u8, String> {
    if (1..=10).contains(&score) {
        Ok(score as u8)
    } else {
        Err(format!("score {score} is outside 1-10"))
    }
}

/// Python's `int(str)` for base 10: surrounding whitespace, an optional sign, ASCII digits
/// with single underscores between them. `None` where Python raises `ValueError` (or on
/// overflow of `i64`, far outside any valid score).
pub(crate) fn python_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' {
        return None;
    }
    let mut value: i64 = 0;
    let mut prev_underscore = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
                prev_underscore = false;
            }
            b'_' if !prev_underscore => prev_underscore = true,
            _ => return None,
        }
    }
    Some(if neg { -value } else { value })
}

/// The first `n` characters of a text, for failure messages.
pub(crate) fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(reply: &str) -> String {
        parse_reply(reply).unwrap_err()
    }

    #[test]
    fn json_replies() {
        let r = parse_reply(r#"{"score": 9, "justification": "Same meaning."}"#).unwrap();
        assert_eq!(
            r,
            ParsedReply {
                score: 9,
                justification: Some("Same meaning.".into())
            }
        );
        let fenced = "```json\n{\"Factuality Score\": 4, \"Justification\": \"wrong city\"}\n```";
        let r = parse_reply(fenced).unwrap();
        assert_eq!(
            (r.score, r.justification.as_deref()),
            (4, Some("wrong city"))
        );
        assert_eq!(
            parse_reply(r#"Here: {"factuality_score": "6"}"#)
                .unwrap()
                .score,
            6
        );
        assert_eq!(parse_reply(r#"{"score": 10}"#).unwrap().justification, None);
    }

    #[test]
    fn json_rejects_fractions_and_out_of_range() {
        let e = parse_reply(r#"{"score": 8.5, "justification": "x"}"#).unwrap_err();
        assert!(e.contains("8.5") && e.contains("not an integer"), "{e}");
        let e = parse_reply(r#"{"score": 11, "justification": "x"}"#).unwrap_err();
        assert!(e.contains("outside 1-10"), "{e}");
        assert!(err(r#"{"score": 0}"#).contains("outside"));
        assert!(err(r#"{"score": null}"#).contains("not an integer"));
    }

    #[test]
    fn reference_line_format() {
        let r = parse_reply("Factuality Score: 8\nJustification: Mostly right: one slip.").unwrap();
        assert_eq!(r.score, 8);
        // The text after the FIRST colon of the justification line.
        assert_eq!(r.justification.as_deref(), Some("Mostly right: one slip."));
        // The text after the LAST colon of the score line; the first matching line wins.
        let r = parse_reply("Note: Factuality Score: 3\nFactuality Score: 9").unwrap();
        assert_eq!(r.score, 3);
        // Commas are removed and whitespace trimmed, as in the reference.
        assert_eq!(parse_reply("Factuality Score:  1,0 ").unwrap().score, 10);
        assert_eq!(parse_reply("Factuality Score: +7").unwrap().score, 7);
        assert_eq!(parse_reply("Factuality Score: 1_0").unwrap().score, 10);
        // No justification line: the score still stands (the reference would drop both).
        assert_eq!(
            parse_reply("Factuality Score: 5").unwrap().justification,
            None
        );
    }

    #[test]
    fn reference_line_format_failures() {
        for bad in [
            "Factuality Score: 8.5",
            "Factuality Score: 8/10",
            "**Factuality Score:** 8",
            "Factuality Score: eight",
            "Factuality Score 8",
            "Factuality Score: 1__0",
        ] {
            let e = parse_reply(bad).unwrap_err();
            assert!(e.contains("not an integer"), "{bad}: {e}");
        }
        assert!(err("Factuality Score: 11").contains("outside 1-10"));
        assert!(err("Factuality Score: -2").contains("outside 1-10"));
        // Lower-case `factuality score` is not the reference's marker.
        assert!(err("factuality score: 8").contains("no score"));
    }

    #[test]
    fn prose_has_no_score() {
        let e = parse_reply("The answer is quite accurate, I would say eight.").unwrap_err();
        assert!(e.starts_with("reply has no score"), "{e}");
        assert!(err("").starts_with("reply has no score"));
        assert!(err(r#"{"verdict": "good"}"#).starts_with("reply has no score"));
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int(" 08 "), Some(8));
        assert_eq!(python_int("-3"), Some(-3));
        assert_eq!(python_int("1_000"), Some(1000));
        for bad in [
            "",
            "+",
            "_1",
            "1_",
            "1__0",
            "8.0",
            "0x8",
            "1e1",
            "99999999999999999999",
        ] {
            assert_eq!(python_int(bad), None, "{bad}");
        }
    }
}
