//! ROUGE-1, ROUGE-2 and ROUGE-L exactly as `rouge_score` 0.1.2 computes them with
//! `RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=True)`.
//!
//! Tokenizer: Python `str.lower()`, every run of characters outside `[a-z0-9]` becomes a
//! separator (so non-ASCII letters split words: `"Toruń"` gives `toru`), tokens longer than
//! 3 characters go through the nltk Porter stemmer ([`super::porter`]). ROUGE-N counts
//! clipped n-gram overlap; ROUGE-L is the token-level longest common subsequence
//! (sentence-level, not `rougeLsum`). F = 2PR/(P+R), and 0 when P + R = 0.

use super::porter;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;

/// Precision, recall and F-measure of one ROUGE type.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RougeScore {
    /// Matches over prediction units.
    pub precision: f64,
    /// Matches over target units.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fmeasure: f64,
}

impl RougeScore {
    fn from_pr(precision: f64, recall: f64) -> Self {
        RougeScore {
            precision,
            recall,
            fmeasure: fmeasure(precision, recall),
        }
    }
}

/// The three ROUGE types the benchmark reports.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RougeScores {
    /// Unigram overlap.
    pub rouge1: RougeScore,
    /// Bigram overlap.
    pub rouge2: RougeScore,
    /// Longest common subsequence.
    #[serde(rename = "rougeL")]
    pub rouge_l: RougeScore,
}

/// `rouge_score.scoring.fmeasure`: `2 * p * r / (p + r)`, or 0 when `p + r` is not positive.
///
/// ```
/// assert_eq!(mllmu::eval::metrics::rouge::fmeasure(0.5, 1.0), 2.0 / 3.0);
/// assert_eq!(mllmu::eval::metrics::rouge::fmeasure(0.0, 0.0), 0.0);
/// ```
pub fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// The `rouge_score` tokenizer with the Porter stemmer on.
///
/// ```
/// use mllmu::eval::metrics::rouge::tokenize;
/// assert_eq!(tokenize("He was born in TORUŃ, 1982!"), vec!["he", "was", "born", "in", "toru", "1982"]);
/// assert_eq!(tokenize("İzmir"), vec!["i", "zmir"]);
/// ```
pub fn tokenize(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    lowered
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.len() > 3 {
                porter::stem(t)
            } else {
                t.to_string()
            }
        })
        // rouge_score's final filter (`^[a-z0-9]+$`): drops tokens the stemmer emptied.
        .filter(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        .collect()
}

fn ngram_counts<T: Eq + Hash>(tokens: &[T], n: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    if n > 0 && tokens.len() >= n {
        for g in tokens.windows(n) {
            *counts.entry(g).or_insert(0) += 1;
        }
    }
    counts
}

/// Clipped n-gram overlap `Σ_g min(count_a(g), count_b(g))` of two token lists, and the
/// number of n-grams of each (ROUGE-N here, BLEU's modified precision in [`super::bleu`]).
pub(crate) fn ngram_overlap<T: Eq + Hash>(a: &[T], b: &[T], n: usize) -> (usize, usize, usize) {
    let (ca, cb) = (ngram_counts(a, n), ngram_counts(b, n));
    let overlap = ca
        .iter()
        .map(|(g, &c)| c.min(cb.get(g).copied().unwrap_or(0)));
    (overlap.sum(), ca.values().sum(), cb.values().sum())
}

/// ROUGE-N on token lists (target first, as `rouge_score` orders them).
///
/// ```
/// use mllmu::eval::metrics::rouge::rouge_n;
/// let t: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
/// let p: Vec<String> = ["a", "b"].map(String::from).to_vec();
/// let s = rouge_n(&t, &p, 2);
/// assert_eq!((s.precision, s.recall), (1.0, 0.5));
/// ```
pub fn rouge_n(target: &[String], prediction: &[String], n: usize) -> RougeScore {
    let (overlap, t_total, p_total) = ngram_overlap(target, prediction, n);
    RougeScore::from_pr(
        overlap as f64 / p_total.max(1) as f64,
        overlap as f64 / t_total.max(1) as f64,
    )
}

/// Length of the longest common subsequence of two token lists.
///
/// ```
/// use mllmu::eval::metrics::rouge::lcs_len;
/// let a: Vec<String> = "x y x y".split(' ').map(String::from).collect();
/// let b: Vec<String> = "y x y x".split(' ').map(String::from).collect();
/// assert_eq!(lcs_len(&a, &b), 3);
/// ```
pub fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-L on token lists: all zeros when either list is empty.
pub fn rouge_l(target: &[String], prediction: &[String]) -> RougeScore {
    if target.is_empty() || prediction.is_empty() {
        return RougeScore::default();
    }
    let lcs = lcs_len(target, prediction) as f64;
    RougeScore::from_pr(lcs / prediction.len() as f64, lcs / target.len() as f64)
}

/// `RougeScorer(['rouge1','rouge2','rougeL'], use_stemmer=True).score(target, prediction)`.
///
/// ```
/// use mllmu::eval::metrics::rouge::rouge;
/// let s = rouge("He was born in Puno.", "He was born in Lima.");
/// assert!((s.rouge1.fmeasure - 0.8).abs() < 1e-12);
/// assert_eq!(s.rouge2.fmeasure, 0.75);
/// assert!((s.rouge_l.fmeasure - 0.8).abs() < 1e-12);
/// ```
pub fn rouge(target: &str, prediction: &str) -> RougeScores {
    let t = tokenize(target);
    let p = tokenize(prediction);
    RougeScores {
        rouge1: rouge_n(&t, &p, 1),
        rouge2: rouge_n(&t, &p, 2),
        rouge_l: rouge_l(&t, &p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn tokenizer_separates_on_non_ascii_and_punctuation() {
        assert_eq!(tokenize("snow-plough"), vec!["snow", "plough"]);
        assert_eq!(tokenize("Ísafjörður"), vec!["safj", "r", "ur"]);
        assert_eq!(tokenize("\u{212a}elvin"), vec!["kelvin"]);
        assert_eq!(tokenize(";;; ,,,"), Vec::<String>::new());
        assert_eq!(tokenize("ＡＢＣ"), Vec::<String>::new());
    }

    #[test]
    fn tokenizer_stems_only_long_tokens() {
        assert_eq!(tokenize("was dies flies"), vec!["was", "die", "fli"]);
    }

    #[test]
    fn rouge_n_clips_repeated_ngrams() {
        let s = rouge_n(&toks("the the the"), &toks("the"), 1);
        assert_eq!((s.precision, s.recall), (1.0, 1.0 / 3.0));
        let s = rouge_n(&toks("geo"), &toks("geo geo geo geo"), 1);
        assert_eq!((s.precision, s.recall), (0.25, 1.0));
    }

    #[test]
    fn empty_inputs_score_zero() {
        let z = RougeScore::default();
        assert_eq!(
            rouge("", "x"),
            RougeScores {
                rouge1: z,
                rouge2: z,
                rouge_l: z
            }
        );
        assert_eq!(rouge("x", "").rouge_l, z);
        assert_eq!(rouge("x y", "x y").rouge2.fmeasure, 1.0);
        assert_eq!(rouge("x", "x").rouge2.fmeasure, 0.0);
    }

    #[test]
    fn lcs_handles_reordering() {
        assert_eq!(lcs_len(&toks("a a b b c c"), &toks("a b c a b c")), 4);
        assert_eq!(lcs_len(&toks("a"), &toks("")), 0);
    }
}
