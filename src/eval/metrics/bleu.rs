//! Sentence BLEU exactly as the benchmark calls nltk 3.9.1:
//! `sentence_bleu([ground_truth.split()], prediction.split(),
//! smoothing_function=SmoothingFunction().method1)`.
//!
//! - tokens: Python `str.split()` ([`crate::eval::pytext::py_split`]), case-sensitive;
//! - modified precision p_n = clipped matches / max(1, #hypothesis n-grams), n = 1..4;
//! - BLEU is 0 when no unigram matches (which includes an empty hypothesis);
//! - method1: a zero count becomes `(0 + 0.1) / den` (a float), other p_n stay exact
//!   fractions until `math.log` converts them (`num / den`, correctly rounded);
//! - brevity penalty: 1 if c > r, 0 if c = 0, else `exp(1 - r / c)`;
//! - BLEU = `bp * exp(fsum(0.25 * log(p_n)))`, with `math.fsum`'s exactly rounded sum
//!   ([`fsum`]).

use super::rouge::ngram_overlap;
use crate::eval::pytext::py_split;

/// method1's epsilon.
const EPSILON: f64 = 0.1;
/// Uniform 4-gram weights.
const WEIGHTS: [f64; 4] = [0.25; 4];

/// Sentence BLEU of `hypothesis` against one `reference`, both split like Python `str.split()`.
///
/// ```
/// use mllmu::eval::metrics::bleu::bleu;
/// assert_eq!(bleu("She is a baker.", "She is a baker."), 1.0);
/// assert_eq!(bleu("He was born in Puno.", ""), 0.0);
/// // One matching token: p1 = 1, p2..p4 = 0.1 (method1), so BLEU = 0.1^(3/4).
/// assert!((bleu("B", "B") - 0.1f64.powf(0.75)).abs() < 1e-15);
/// ```
pub fn bleu(reference: &str, hypothesis: &str) -> f64 {
    bleu_tokens(&py_split(reference), &py_split(hypothesis))
}

/// Clipped n-gram matches and the (unreduced, at least 1) number of hypothesis n-grams.
fn modified_precision(reference: &[&str], hypothesis: &[&str], n: usize) -> (usize, usize) {
    let (numerator, _, hypothesis_ngrams) = ngram_overlap(reference, hypothesis, n);
    (numerator, hypothesis_ngrams.max(1))
}

/// nltk's `brevity_penalty(r, c)`.
fn brevity_penalty(ref_len: usize, hyp_len: usize) -> f64 {
    if hyp_len > ref_len {
        1.0
    } else if hyp_len == 0 {
        0.0
    } else {
        (1.0 - ref_len as f64 / hyp_len as f64).exp()
    }
}

/// Sentence BLEU on pre-split tokens (one reference).
///
/// ```
/// use mllmu::eval::metrics::bleu::bleu_tokens;
/// assert_eq!(bleu_tokens(&["a", "b"], &["c"]), 0.0);
/// ```
pub fn bleu_tokens(reference: &[&str], hypothesis: &[&str]) -> f64 {
    let counts: Vec<(usize, usize)> = (1..=WEIGHTS.len())
        .map(|n| modified_precision(reference, hypothesis, n))
        .collect();
    if counts[0].0 == 0 {
        return 0.0;
    }
    let terms: Vec<f64> = counts
        .iter()
        .zip(WEIGHTS)
        .map(|(&(num, den), w)| {
            let p = if num == 0 {
                EPSILON / den as f64
            } else {
                num as f64 / den as f64
            };
            w * p.ln()
        })
        .collect();
    brevity_penalty(reference.len(), hypothesis.len()) * fsum(&terms).exp()
}

/// Python's `math.fsum`: the correctly rounded sum of finite floats (Shewchuk's exact partial
/// sums, then round-half-even of the exact total).
///
/// ```
/// use mllmu::eval::metrics::bleu::fsum;
/// assert_eq!(fsum(&[0.1; 10]), 1.0);
/// assert_eq!(fsum(&[1e100, 1.0, -1e100]), 1.0);
/// ```
pub fn fsum(values: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for &v in values {
        let mut x = v;
        let mut kept = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Sum the partials from the top, stopping once the sum is inexact; then correct the
    // half-way case the way CPython does.
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        let yr = x - hi;
        if y == yr {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_precision_clips_and_floors_the_denominator() {
        assert_eq!(
            modified_precision(&["the", "cat"], &["the", "the", "the"], 1),
            (1, 3)
        );
        assert_eq!(modified_precision(&["a", "b"], &["a"], 2), (0, 1));
        assert_eq!(
            modified_precision(&["a", "b", "c"], &["a", "b", "c"], 3),
            (1, 1)
        );
    }

    #[test]
    fn brevity_penalty_cases() {
        assert_eq!(brevity_penalty(3, 4), 1.0);
        assert_eq!(brevity_penalty(3, 0), 0.0);
        assert_eq!(brevity_penalty(4, 4), 1.0);
        assert_eq!(brevity_penalty(4, 2), (-1.0f64).exp());
    }

    #[test]
    fn bleu_is_case_sensitive_and_keeps_punctuation() {
        assert_eq!(bleu("c", "C"), 0.0);
        assert_eq!(bleu("Tartu.", "Tartu"), 0.0);
        assert!(bleu("x y", "x y") > 0.3);
    }

    #[test]
    fn bleu_splits_like_python() {
        // U+001D separates tokens in Python, so this is a perfect 3-token match.
        let a = bleu("one\u{1d}two three", "one two three");
        let b = bleu("one two three", "one two three");
        assert_eq!(a, b);
        // U+200B does not separate tokens.
        assert_eq!(bleu("geo\u{200b}caching", "geocaching"), 0.0);
    }

    #[test]
    fn smoothing_uses_the_unreduced_denominator() {
        // hyp of 5 tokens with 1 unigram match: p1 = 1/5, p2..4 = 0.1/4, 0.1/3, 0.1/2.
        let r = ["z", "q", "r", "s", "t", "u"];
        let h = ["z", "a", "b", "c", "d"];
        let expected = (1.0 - 6.0 / 5.0f64).exp()
            * (0.25 * (0.2f64).ln()
                + 0.25 * (0.025f64).ln()
                + 0.25 * (0.1f64 / 3.0).ln()
                + 0.25 * (0.05f64).ln())
            .exp();
        assert!((bleu_tokens(&r, &h) - expected).abs() < 1e-15);
    }

    #[test]
    fn fsum_is_exactly_rounded() {
        assert_eq!(fsum(&[]), 0.0);
        assert_eq!(fsum(&[1.0, 1e-16, 1e-16]), 1.0000000000000002);
        assert_eq!(fsum(&[0.1, 0.2, 0.3]), 0.6);
        // Naive left-to-right summation gives 0.6000000000000001 here.
        assert_ne!(0.1 + 0.2 + 0.3, 0.6);
    }
}
