//! Reading the JSON files of a model folder (`config.json`, `tokenizer_config.json`,
//! `preprocessor_config.json`, ...) into serde structs whose defaults are written out.
//!
//! transformers writes `null` for "not set", so nulls are dropped before deserialising:
//! an absent and a `null` field both take the struct's default. A value of the wrong type
//! is an [`Error::Config`] naming the field (dotted for nested objects).

use crate::{Error, Result};
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An [`Error::Config`] for `field` of `file`.
pub(crate) fn config_err(file: &str, field: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        file: file.to_string(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// The path of `name` in the model folder `dir`; [`Error::MissingFile`] when it is absent.
pub(crate) fn model_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        return Err(Error::MissingFile {
            path,
            hint: format!(
                "a llava-hf model folder holds {name}; copy it from the base model (llava-hf/llava-1.5-7b-hf)"
            ),
        });
    }
    Ok(path)
}

/// Writes `value` to `path` as pretty JSON (2-space indent); `file` names it in an error.
pub(crate) fn write_pretty(path: &Path, file: impl Into<String>, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::json(file, e))?;
    crate::io::write_atomic(path, text.as_bytes())
}

/// `v` without the `null`s of its objects.
pub(crate) fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Deserialises the JSON object `value` (nulls dropped) read from `file`; a field that does
/// not deserialise is named in the [`Error::Config`].
pub(crate) fn fields<T: DeserializeOwned>(value: &Value, file: &str) -> Result<T> {
    let v = without_nulls(value);
    if !v.is_object() {
        return Err(Error::Json {
            file: file.to_string(),
            reason: "expected a JSON object".into(),
            source: None,
        });
    }
    T::deserialize(&v).map_err(|e| match culprit::<T>(&v) {
        Some((field, reason)) => config_err(file, &field, reason),
        None => Error::json(file.to_string(), e),
    })
}

/// [`fields`] of the file `path`.
pub(crate) fn read_fields<T: DeserializeOwned>(path: &Path) -> Result<T> {
    fields(&crate::io::read_json(path)?, &path.display().to_string())
}

/// [`read_fields`] of `dir/name`, or `T::default()` when the file is absent.
pub(crate) fn read_optional<T: DeserializeOwned + Default>(dir: &Path, name: &str) -> Result<T> {
    let path = dir.join(name);
    if path.is_file() {
        read_fields(&path)
    } else {
        Ok(T::default())
    }
}

/// The dotted name of the first field of `v` that fails on its own, and its error. A
/// nested object is searched further when the field accepts `{}` (a struct of defaults).
fn culprit<T: DeserializeOwned>(v: &Value) -> Option<(String, String)> {
    let alone = |path: &[&str], leaf: Value| {
        let v = path.iter().rev().fold(leaf, |acc, k| {
            Value::Object([(k.to_string(), acc)].into_iter().collect())
        });
        T::deserialize(&v).err().map(|e| e.to_string())
    };
    let mut path: Vec<&str> = Vec::new();
    let mut node = v;
    let mut found = None;
    while let Some(obj) = node.as_object() {
        let Some((key, child, reason)) = obj.iter().find_map(|(k, c)| {
            let p = [path.as_slice(), &[k.as_str()]].concat();
            alone(&p, c.clone()).map(|r| (k, c, r))
        }) else {
            break;
        };
        path.push(key);
        found = Some((path.join("."), reason));
        if !child.is_object() || alone(&path, Value::Object(Default::default())).is_some() {
            break;
        }
        node = child;
    }
    found
}

/// Deserialises a field from its JSON value with `parse`, whose message becomes the error.
pub(crate) fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&Value) -> std::result::Result<T, String>,
) -> std::result::Result<T, D::Error> {
    parse(&Value::deserialize(d)?).map_err(D::Error::custom)
}

/// `got`, or the message "expected `what`, found `v`".
fn expect<T>(what: &str, v: &Value, got: Option<T>) -> std::result::Result<T, String> {
    got.ok_or_else(|| format!("expected {what}, found {v}"))
}

/// What a `deserialize_with` function returns.
pub(crate) type De<'de, D, T> = std::result::Result<T, <D as Deserializer<'de>>::Error>;

/// `true` or `false` (for `bool` or `Option<bool>` fields).
pub(crate) fn flag<'de, D: Deserializer<'de>, T: From<bool>>(d: D) -> De<'de, D, T> {
    parsed(d, |v| expect("true or false", v, v.as_bool().map(T::from)))
}

/// A non-negative integer (for `u64` or `Option<u64>` fields).
pub(crate) fn uint<'de, D: Deserializer<'de>, T: From<u64>>(d: D) -> De<'de, D, T> {
    parsed(d, |v| {
        expect("a non-negative integer", v, v.as_u64().map(T::from))
    })
}

/// A string (for `String` or `Option<String>` fields).
pub(crate) fn string<'de, D: Deserializer<'de>, T: From<String>>(d: D) -> De<'de, D, T> {
    parsed(d, |v| {
        expect("a string", v, v.as_str().map(|s| T::from(s.into())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Inner {
        #[serde(deserialize_with = "uint")]
        patch_size: Option<u64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Outer {
        vision_config: Inner,
        #[serde(deserialize_with = "flag")]
        flag: bool,
    }

    #[test]
    fn nested_fields_and_type_errors() {
        let v = serde_json::json!({"vision_config": {"patch_size": 14, "name": "x"}, "other": 1});
        let o: Outer = fields(&v, "config.json").unwrap();
        assert_eq!(o.vision_config.patch_size, Some(14));
        let v = serde_json::json!({"vision_config": {"image_size": null}, "flag": null});
        let o: Outer = fields(&v, "config.json").unwrap();
        assert_eq!((o.vision_config.patch_size, o.flag), (None, false));
        let err = fields::<Outer>(&serde_json::json!({"flag": 1}), "config.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: field `flag`: expected true or false, found 1"
        );
        let v = serde_json::json!({"vision_config": {"patch_size": "7"}});
        let err = fields::<Outer>(&v, "config.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: field `vision_config.patch_size`: expected a non-negative integer, found \"7\""
        );
    }
}
