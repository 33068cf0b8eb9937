//! JSON text as Python's `json.dump(obj, f, indent=4, ensure_ascii=...)` writes it, so the
//! reference output files are byte-identical to `eval.py`'s.
//!
//! serde_json's pretty printer already matches Python's layout (4-space indent, `": "`,
//! `","` at line ends, `[]`/`{}` for empty containers, the same escapes for `"`, `\`,
//! control characters in lowercase `\u00XX`). Two things differ and are handled here:
//! floats are written as Python's `repr` (`1e-05`, `1e+16` where serde_json writes `1e-5`,
//! `1e16`), and with `ensure_ascii=True` every character from U+007F up is escaped as
//! `\uXXXX` (UTF-16 surrogate pairs above U+FFFF).

use crate::{Error, Result};
use serde_json::ser::{Formatter, PrettyFormatter};
use std::io::{self, Write};

/// Python's `repr(float)`: shortest round-trip digits, fixed notation when the decimal
/// exponent lies in [-4, 16), scientific (`1e-05`, `2.5e+16`) otherwise; `NaN`, `Infinity`
/// and `-Infinity` as `json.dump` writes them.
///
/// ```
/// use mllmu::eval::pyjson::py_float_repr;
/// assert_eq!(py_float_repr(0.0), "0.0");
/// assert_eq!(py_float_repr(45.833333333333336), "45.833333333333336");
/// assert_eq!(py_float_repr(1e-5), "1e-05");
/// assert_eq!(py_float_repr(0.0001), "0.0001");
/// assert_eq!(py_float_repr(1e16), "1e+16");
/// assert_eq!(py_float_repr(100.0), "100.0");
/// ```
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like CPython's repr.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let n = digits.len() as i32;
    let body = if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let e = decpt - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        format!("{first}{frac}e{e_sign}{:02}", e.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt < n {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    } else {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    };
    format!("{sign}{body}")
}

/// `Formatter` methods that write layout, passed on to the inner `PrettyFormatter`.
macro_rules! delegate_to_pretty {
    ($($name:ident($($arg:ident: $ty:ty)?),)*) => {$(
        fn $name<W: ?Sized + Write>(&mut self, w: &mut W $(, $arg: $ty)?) -> io::Result<()> {
            self.pretty.$name(w $(, $arg)?)
        }
    )*};
}

/// A `PrettyFormatter` (4 spaces) with Python float repr and optional ASCII escaping.
struct PyFormatter<'a> {
    pretty: PrettyFormatter<'a>,
    ensure_ascii: bool,
}

impl Formatter for PyFormatter<'_> {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(py_float_repr(value).as_bytes())
    }
    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(py_float_repr(f64::from(value)).as_bytes())
    }
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !self.ensure_ascii {
            return w.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if (c as u32) < 0x7f {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{:04x}", u)?;
                }
            }
        }
        Ok(())
    }
    delegate_to_pretty! {
        begin_array(), end_array(), begin_array_value(first: bool), end_array_value(),
        begin_object(), end_object(), begin_object_key(first: bool), begin_object_value(),
        end_object_value(),
    }
}

/// Serializes `value` like `json.dumps(value, indent=4, ensure_ascii=ensure_ascii)`.
///
/// ```
/// use mllmu::eval::pyjson::to_python_json;
/// let v = serde_json::json!({"a": [1e-5, "Toruń"], "b": {}});
/// assert_eq!(to_python_json(&v, true).unwrap(), "{\n    \"a\": [\n        1e-05,\n        \"Toru\\u0144\"\n    ],\n    \"b\": {}\n}");
/// ```
pub fn to_python_json<T: serde::Serialize + ?Sized>(
    value: &T,
    ensure_ascii: bool,
) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = PyFormatter {
        pretty: PrettyFormatter::with_indent(b"    "),
        ensure_ascii,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value
        .serialize(&mut ser)
        .map_err(|e| Error::json("<output>", e))?;
    String::from_utf8(buf).map_err(|e| Error::json("<output>", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python_in_both_notations() {
        let cases = [
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (59.0 / 120.0 * 100.0, "49.166666666666664"),
            (0.00012, "0.00012"),
            (1.5e-5, "1.5e-05"),
            (1e-100, "1e-100"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1e15, "1000000000000000.0"),
            (0.1778279410038923, "0.1778279410038923"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (x, s) in cases {
            assert_eq!(py_float_repr(x), s, "{x:e}");
        }
    }

    #[test]
    fn ascii_escaping_uses_surrogate_pairs_and_escapes_del() {
        let v = serde_json::json!(["🪁\u{7f}é\n\u{1f}"]);
        assert_eq!(
            to_python_json(&v, true).unwrap(),
            "[\n    \"\\ud83e\\ude81\\u007f\\u00e9\\n\\u001f\"\n]"
        );
        assert_eq!(
            to_python_json(&v, false).unwrap(),
            "[\n    \"🪁\u{7f}é\\n\\u001f\"\n]"
        );
    }

    #[test]
    fn empty_containers_and_nesting_match_python_layout() {
        let v = serde_json::json!({"x": [], "y": {"z": 1}});
        assert_eq!(
            to_python_json(&v, false).unwrap(),
            "{\n    \"x\": [],\n    \"y\": {\n        \"z\": 1\n    }\n}"
        );
    }
}
