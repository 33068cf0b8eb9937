//! Reading JSON with correctly rounded floats.
//!
//! serde_json (without its `float_roundtrip` feature, which the crate graph does not enable)
//! parses some 17-digit floats one unit in the last place off, so a report written and read
//! back would not compare equal. This reader builds a [`serde_json::Value`] whose floats are
//! parsed by the standard library (correctly rounded, so every `f64` serde_json writes reads
//! back bit for bit); typed values then come from [`serde_json::from_value`], which passes
//! floats through unchanged.

use crate::{Error, Result};
use serde_json::{Map, Number, Value};

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn expect(&mut self, lit: &str) -> std::result::Result<(), String> {
        if self.text[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.err(&format!("expected `{lit}`")))
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return serde_json::from_str(&self.text[start..=i])
                        .map_err(|e| self.err(&e.to_string()));
                }
                _ => i += 1,
            }
        }
        Err(self.err("unterminated string"))
    }

    fn number(&mut self) -> std::result::Result<Value, String> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let s = &self.text[start..self.pos];
        if !s.contains(['.', 'e', 'E']) {
            if let Ok(u) = s.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
            if let Ok(i) = s.parse::<i64>() {
                return Ok(Value::Number(i.into()));
            }
        }
        let f: f64 = s
            .parse()
            .map_err(|_| self.err(&format!("bad number `{s}`")))?;
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| self.err("non-finite number"))
    }

    fn value(&mut self) -> std::result::Result<Value, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut map = Map::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a key"));
                    }
                    let k = self.string()?;
                    self.skip_ws();
                    self.expect(":")?;
                    let v = self.value()?;
                    map.insert(k, v);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Object(map));
                        }
                        _ => return Err(self.err("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut v = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Array(v));
                }
                loop {
                    v.push(self.value()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(v));
                        }
                        _ => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.expect("true").map(|_| Value::Bool(true)),
            Some(b'f') => self.expect("false").map(|_| Value::Bool(false)),
            Some(b'n') => self.expect("null").map(|_| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("unexpected character")),
        }
    }
}

/// Parses JSON text into a value with correctly rounded floats; `file` names the input in
/// errors.
///
/// ```
/// let v = mllmu::eval::exactjson::parse("[-9.17941352673924, 1, {\"a\": \"\\u00e9\"}]", "x")?;
/// assert_eq!(v[0].as_f64(), Some(-9.17941352673924));
/// assert_eq!(v[2]["a"], "é");
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn parse(text: &str, file: &str) -> Result<Value> {
    let mut r = Reader { text, pos: 0 };
    let v = r.value().map_err(|reason| Error::Json {
        file: file.into(),
        reason,
    })?;
    r.skip_ws();
    if r.pos != text.len() {
        return Err(Error::Json {
            file: file.into(),
            reason: r.err("trailing characters"),
        });
    }
    Ok(v)
}

/// Reads a JSON file into `T` with correctly rounded floats.
pub fn read<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    let shown = path.display().to_string();
    serde_json::from_value(parse(&text, &shown)?).map_err(|e| Error::Json {
        file: shown,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let xs = [
            -9.179413526739241f64,
            -7.3762778604047385,
            0.1 + 0.2,
            1e-300,
            33.33333333333333,
            5e-324,
            -0.0,
        ];
        let text = serde_json::to_string(&xs).unwrap();
        let v = parse(&text, "t").unwrap();
        let back: Vec<f64> = serde_json::from_value(v).unwrap();
        for (a, b) in xs.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a}");
        }
    }

    #[test]
    fn structure_and_errors() {
        let v = parse(
            " {\"a\": [true, false, null, -3, 18446744073709551615], \"b\\\"\": {}} ",
            "t",
        )
        .unwrap();
        assert_eq!(v["a"][3], -3);
        assert_eq!(v["a"][4].as_u64(), Some(u64::MAX));
        assert!(v["b\""].as_object().unwrap().is_empty());
        let e = parse("{\"a\": 1,}", "f.json").unwrap_err().to_string();
        assert!(e.contains("f.json") && e.contains("expected a key"), "{e}");
        assert!(parse("[1] x", "t").is_err());
        assert!(parse("\"abc", "t").is_err());
    }
}
