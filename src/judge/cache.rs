//! The judge's disk cache: an append-only JSONL file, one line per scored item.
//!
//! A line is written and flushed as soon as an item is scored, so an interrupted run loses
//! at most the items in flight, and the next run resumes. Failures are never cached: they
//! are retried on the next run. It is a [`JsonlCache`], like the generation cache: a crash
//! can leave a torn last line, which opening skips (and counts) instead of failing.

use super::item::JudgeItem;
use super::options::JudgeOptions;
use super::rubric::RUBRIC_VERSION;
use crate::io::{CacheLine, JsonlCache};
use serde::{Deserialize, Serialize};

/// The cache key of an item: a hash of the model, rubric version, sampling, task type,
/// profile ID, question, answer and ground truth (everything that changes the request).
/// The base URL is not part of it: the same model behind a proxy or another host reuses
/// the scores, and the set/mode label is not either (one answer graded once).
///
/// ```
/// use mllmu::judge::{cache_key, JudgeItem, JudgeOptions};
/// let o = JudgeOptions::default();
/// let a = JudgeItem::generation("forget", "1", "Q", "A", "GT");
/// let mut b = a.clone();
/// b.label = "test".into(); // the label is not part of the request
/// assert_eq!(cache_key(&o, &a), cache_key(&o, &b));
/// b.answer = "B".into();
/// assert_ne!(cache_key(&o, &a), cache_key(&o, &b));
/// ```
pub fn cache_key(opts: &JudgeOptions, item: &JudgeItem) -> String {
    crate::io::hash_parts(&[
        opts.model.as_bytes(),
        RUBRIC_VERSION.as_bytes(),
        opts.sampling.tag().as_bytes(),
        item.task_type.as_str().as_bytes(),
        item.profile_id.as_bytes(),
        item.question.as_bytes(),
        item.answer.as_bytes(),
        item.ground_truth.as_bytes(),
    ])
}

/// One cached verdict (one JSONL line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// [`cache_key`] of the item.
    pub key: String,
    /// The score, 1..=10.
    pub score: u8,
    /// The justification.
    pub justification: Option<String>,
    /// The model that gave it (for people reading the file).
    pub model: String,
    /// The rubric version (for people reading the file).
    pub rubric: String,
}

impl CacheLine for CacheEntry {
    fn key(&self) -> &str {
        &self.key
    }

    /// A score outside 1..=10 is not a verdict (an edited or foreign line).
    fn is_valid(&self) -> bool {
        (1..=10).contains(&self.score)
    }
}

/// The judge's open cache.
pub type JudgeCache = JsonlCache<CacheEntry>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(key: &str, score: u8) -> CacheEntry {
        CacheEntry {
            key: key.into(),
            score,
            justification: Some("j".into()),
            model: "m".into(),
            rubric: "r".into(),
        }
    }

    #[test]
    fn entries_survive_reopen_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        {
            let mut c = JudgeCache::open(&p).unwrap();
            c.insert(entry("a", 7)).unwrap();
        }
        // Simulate a crash in the middle of a line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"key\":\"b\",\"sco").unwrap();
        drop(f);
        let mut c = JudgeCache::open(&p).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c.skipped_lines(), 1);
        assert_eq!(c.get("a").unwrap().score, 7);
        c.insert(entry("b", 3)).unwrap();
        drop(c);
        let c = JudgeCache::open(&p).unwrap();
        assert_eq!((c.len(), c.skipped_lines()), (2, 1));
        assert_eq!(c.get("b").unwrap().score, 3);
    }

    #[test]
    fn out_of_range_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(
            &p,
            format!("{}\n", serde_json::to_string(&entry("x", 42)).unwrap()),
        )
        .unwrap();
        let c = JudgeCache::open(&p).unwrap();
        assert!(c.get("x").is_none());
        assert_eq!(c.skipped_lines(), 1);
    }
}
