//! Atomic file writes and content hashes, shared by every stage that persists something.

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
///
/// A reader never sees a half-written file, and a crash leaves the old file intact.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("a.json");
/// mllmu::io::write_atomic(&p, b"{}").unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"{}");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", &tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into", path, e))
}

/// Serialises `value` as pretty JSON (4-space indent, like Python's `indent=4`) and writes it
/// atomically.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("r.json");
/// mllmu::io::write_json(&p, &serde_json::json!({"a": 1})).unwrap();
/// assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\n    \"a\": 1\n}");
/// ```
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, to_json_indent4(value)?.as_bytes())
}

/// Pretty JSON with a 4-space indent, as Python's `json.dump(..., indent=4)`.
pub fn to_json_indent4<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value.serialize(&mut ser).map_err(|e| Error::Json {
        file: "<output>".into(),
        reason: e.to_string(),
    })?;
    Ok(String::from_utf8(buf).expect("serde_json writes UTF-8"))
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Hex SHA-256 of some bytes.
///
/// ```
/// assert_eq!(&mllmu::io::sha256_hex(b"")[..8], "e3b0c442");
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Incremental SHA-256 over several parts (each part length-prefixed, so `("ab","c")` and
/// `("a","bc")` differ). Used for cache keys.
///
/// ```
/// let a = mllmu::io::hash_parts(&[b"ab", b"c"]);
/// let b = mllmu::io::hash_parts(&[b"a", b"bc"]);
/// assert_ne!(a, b);
/// ```
pub fn hash_parts(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Opens an append-only JSONL file: creates its folder, hands every non-blank line of the
/// existing file to `accept` (which returns whether it understood the line), and returns the
/// file opened for appending plus the number of lines not accepted (a torn last line after a
/// crash, say). When the file does not end in a newline, one is written first, so the next
/// entry never glues onto a torn line.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("log.jsonl");
/// std::fs::write(&p, "{\"a\":1}\n{\"a\":").unwrap(); // the second line was torn
/// let mut seen = vec![];
/// let (mut f, skipped) = mllmu::io::open_jsonl(&p, |line| {
///     serde_json::from_str::<serde_json::Value>(line).map(|v| seen.push(v)).is_ok()
/// })?;
/// assert_eq!((seen.len(), skipped), (1, 1));
/// writeln!(f, "{{\"a\":2}}").unwrap();
/// assert!(std::fs::read_to_string(&p).unwrap().ends_with("\n{\"a\":2}\n"));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn open_jsonl(
    path: &Path,
    mut accept: impl FnMut(&str) -> bool,
) -> Result<(std::fs::File, usize)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    let mut skipped = 0;
    let mut torn = false;
    match std::fs::read(path) {
        Ok(bytes) => {
            torn = bytes.last().is_some_and(|&b| b != b'\n');
            for line in bytes.split(|&b| b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if !std::str::from_utf8(line).is_ok_and(&mut accept) {
                    skipped += 1;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", path, e)),
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    if torn {
        file.write_all(b"\n")
            .map_err(|e| Error::io("write", path, e))?;
    }
    Ok((file, skipped))
}
