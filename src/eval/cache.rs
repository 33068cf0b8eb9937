//! The generation cache: an append-only JSONL file, one line per generation, keyed by what
//! decides the output (see [`generation_key`]).
//!
//! A line is flushed as soon as its batch is decoded, so a killed evaluation loses at most
//! one batch and the next run resumes; a rerun with nothing changed generates nothing. It is
//! a [`JsonlCache`], like the judge's: a torn last line (a crash mid-write) is skipped and
//! counted when the file is opened.

use crate::io::{CacheLine, JsonlCache};
use serde::{Deserialize, Serialize};

/// The key of one generation: SHA-256 over the weights hash, the full prompt token ids
/// (image tokens expanded), the SHA-256 of every image shown (in order) and the decoding
/// settings. Nothing else (set, task, profile) is part of it: the same prompt and images
/// give the same output wherever they occur.
///
/// ```
/// use mllmu::eval::cache::generation_key;
/// let a = generation_key("w", &[1, 2, 3], &["img"], "greedy;50");
/// assert_eq!(a, generation_key("w", &[1, 2, 3], &["img"], "greedy;50"));
/// assert_ne!(a, generation_key("w", &[1, 2, 3], &["img2"], "greedy;50"));
/// assert_ne!(a, generation_key("w", &[1, 2], &["img"], "greedy;50"));
/// assert_ne!(a, generation_key("w", &[1, 2, 3], &["img"], "greedy;5"));
/// ```
pub fn generation_key(
    weights_hash: &str,
    prompt_ids: &[u32],
    image_hashes: &[&str],
    decoding: &str,
) -> String {
    let ids: Vec<u8> = prompt_ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    let mut parts: Vec<&[u8]> = vec![
        b"mllmu-generation-v1",
        weights_hash.as_bytes(),
        &ids,
        decoding.as_bytes(),
    ];
    let n = (image_hashes.len() as u64).to_le_bytes();
    parts.push(&n);
    parts.extend(image_hashes.iter().map(|h| h.as_bytes()));
    crate::io::hash_parts(&parts)
}

/// One cached generation (one JSONL line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedGeneration {
    /// [`generation_key`].
    pub key: String,
    /// The new token ids (prompt excluded; ends with the end-of-sequence id if produced).
    pub new_ids: Vec<u32>,
    /// Whether generation stopped on an end-of-sequence id.
    pub stopped_on_eos: bool,
    /// Log-probabilities of the option letters `A`–`D` at the first new position
    /// (classification only; `None` when not computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_logprobs: Option<[f64; 4]>,
}

impl CacheLine for CachedGeneration {
    fn key(&self) -> &str {
        &self.key
    }
}

/// The open generation cache (in memory with [`JsonlCache::in_memory`]).
///
/// ```
/// use mllmu::eval::cache::{CachedGeneration, GenerationCache};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("c.jsonl");
/// let mut c = GenerationCache::open(&p)?;
/// c.insert(CachedGeneration { key: "k".into(), new_ids: vec![5, 2], stopped_on_eos: true, option_logprobs: None })?;
/// drop(c);
/// assert_eq!(GenerationCache::open(&p)?.get("k").unwrap().new_ids, vec![5, 2]);
/// # Ok::<(), mllmu::Error>(())
/// ```
pub type GenerationCache = JsonlCache<CachedGeneration>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(key: &str, ids: Vec<u32>) -> CachedGeneration {
        CachedGeneration {
            key: key.into(),
            new_ids: ids,
            stopped_on_eos: false,
            option_logprobs: Some([-0.5, -9.179413526739241, -7.3762778604047385, -3.25]),
        }
    }

    #[test]
    fn torn_lines_are_skipped_and_new_entries_start_on_a_fresh_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        {
            let mut c = GenerationCache::open(&p).unwrap();
            c.insert(entry("a", vec![1, 2])).unwrap();
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"key\":\"b\",\"new_").unwrap();
        drop(f);
        let mut c = GenerationCache::open(&p).unwrap();
        assert_eq!((c.len(), c.skipped_lines()), (1, 1));
        c.insert(entry("b", vec![3])).unwrap();
        drop(c);
        let c = GenerationCache::open(&p).unwrap();
        assert_eq!((c.len(), c.skipped_lines()), (2, 1));
        assert_eq!(c.get("b").unwrap().new_ids, vec![3]);
        assert_eq!(
            c.get("a").unwrap().option_logprobs,
            Some([-0.5, -9.179413526739241, -7.3762778604047385, -3.25])
        );
    }

    #[test]
    fn in_memory_cache_writes_nothing() {
        let mut c = GenerationCache::in_memory();
        c.insert(entry("x", vec![9])).unwrap();
        assert_eq!(c.get("x").unwrap().new_ids, vec![9]);
        assert!(c.path().is_none());
    }

    #[test]
    fn keys_separate_images_and_their_order() {
        let k1 = generation_key("w", &[1], &["a", "b"], "d");
        let k2 = generation_key("w", &[1], &["b", "a"], "d");
        let k3 = generation_key("w2", &[1], &["a", "b"], "d");
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
        assert_eq!(k1.len(), 64);
    }
}
