//! Atomic file writes, content hashes and the append-only JSONL cache, shared by every stage
//! that persists something.

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Unique per writer (process and call), so that threads writing the same file at once
    // never share a temporary file; the last rename wins with a whole file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
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
    value
        .serialize(&mut ser)
        .map_err(|e| Error::json("<output>", e))?;
    Ok(String::from_utf8(buf).expect("serde_json writes UTF-8"))
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::json(path.display().to_string(), e))
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

/// A line of a [`JsonlCache`]: a JSON object that carries its own key.
pub trait CacheLine: serde::Serialize + serde::de::DeserializeOwned {
    /// The key the entry is found by.
    fn key(&self) -> &str;

    /// Whether a parsed line holds a usable entry (a line that fails is skipped and counted,
    /// like a torn one).
    fn is_valid(&self) -> bool {
        true
    }
}

/// A cache kept as an append-only JSONL file, one entry per line, the one kind of file the
/// crate appends to instead of writing atomically (the generation cache and the judge's).
///
/// Every entry is written, flushed and synced as soon as it is inserted, so an interrupted
/// run loses nothing it finished, and the next run resumes. A crash can leave a torn last
/// line: opening skips (and counts) unreadable lines, and the next entry starts on a fresh
/// line. Floats read back bit for bit (serde_json's `float_roundtrip`).
///
/// ```
/// use mllmu::io::{CacheLine, JsonlCache};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Seen { key: String, x: f64 }
/// impl CacheLine for Seen {
///     fn key(&self) -> &str { &self.key }
/// }
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("c.jsonl");
/// std::fs::write(&p, "{\"key\":\"a\",\"x\":0.1}\n{\"key\":\"b\",\"x\"").unwrap(); // torn
/// let mut c = JsonlCache::<Seen>::open(&p)?;
/// assert_eq!((c.len(), c.skipped_lines()), (1, 1));
/// c.insert(Seen { key: "b".into(), x: -9.179413526739241 })?;
/// drop(c);
/// let c = JsonlCache::<Seen>::open(&p)?;
/// assert_eq!(c.get("b").unwrap().x, -9.179413526739241);
/// assert!(std::fs::read_to_string(&p).unwrap().ends_with("\n{\"key\":\"b\",\"x\":-9.179413526739241}\n"));
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug)]
pub struct JsonlCache<E> {
    path: Option<PathBuf>,
    entries: HashMap<String, E>,
    file: Option<std::fs::File>,
    skipped_lines: usize,
}

impl<E: CacheLine> JsonlCache<E> {
    /// A cache kept in memory only (nothing read, nothing written).
    pub fn in_memory() -> Self {
        JsonlCache {
            path: None,
            entries: HashMap::new(),
            file: None,
            skipped_lines: 0,
        }
    }

    /// Opens (or creates, with its folder) a cache file and reads its entries; lines that do
    /// not parse or are not [valid](CacheLine::is_valid) are skipped and counted. When the
    /// file does not end in a newline, one is written first.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let mut entries = HashMap::new();
        let mut skipped_lines = 0;
        let mut torn = false;
        match std::fs::read(path) {
            Ok(bytes) => {
                torn = bytes.last().is_some_and(|&b| b != b'\n');
                for line in bytes.split(|&b| b == b'\n') {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<E>(line) {
                        Ok(e) if e.is_valid() => {
                            entries.insert(e.key().to_string(), e);
                        }
                        _ => skipped_lines += 1,
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
        Ok(JsonlCache {
            path: Some(path.to_path_buf()),
            entries,
            file: Some(file),
            skipped_lines,
        })
    }

    /// The cache file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines that could not be read when the file was opened.
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    /// The entry for a key.
    pub fn get(&self, key: &str) -> Option<&E> {
        self.entries.get(key)
    }

    /// Adds an entry; with a file, appends it as one line, synced to disk before returning.
    pub fn insert(&mut self, entry: E) -> Result<()> {
        if let (Some(file), Some(path)) = (self.file.as_mut(), self.path.as_ref()) {
            let mut line = serde_json::to_string(&entry)
                .map_err(|e| Error::json(path.display().to_string(), e))?;
            line.push('\n');
            file.write_all(line.as_bytes())
                .and_then(|_| file.sync_data())
                .map_err(|e| Error::io("append to", path, e))?;
        }
        self.entries.insert(entry.key().to_string(), entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_writing_one_file_at_once_all_succeed_with_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("same.bin");
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| write_atomic(&path, &payload)))
                .collect();
            for w in writers {
                w.join().unwrap().unwrap();
            }
        });
        assert_eq!(std::fs::read(&path).unwrap(), payload);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
