//! Per-sample membership-inference scores from token log-probabilities, as open-unlearning
//! implements them for text models (`src/evals/metrics/mia/`). Every score is signed like a
//! loss: **higher means less likely a training member**, so [`super::auc::mia_auc`] reads them
//! all the same way.
//!
//! The inputs are plain slices the model side fills for one answer: the log-probability
//! `log p(x_t | x_<t)` of each answer token (natural log), and for Min-K%++ the first two
//! moments of the log-probability under the model's whole next-token distribution at each
//! position ([`NextTokenMoments`]).
//!
//! | attack | score |
//! |---|---|
//! | LOSS (Yeom et al. 2018) | `−mean_t log p(x_t)` |
//! | zlib (Carlini et al. 2021) | LOSS / (length in bytes of the zlib-compressed UTF-8 text) |
//! | Min-K% (Shi et al. 2024) | `−mean` of the `⌊k·T⌋` (at least 1) lowest `log p(x_t)` |
//! | Min-K%++ (Zhang et al. 2024) | `−mean` of the `⌊k·T⌋` lowest `(log p(x_t) − μ_t) / σ_t` |
//!
//! with `μ_t = E_{z~p(·|x_<t)}[log p(z)]` and `σ_t² = E[log p(z)²] − μ_t²`, floored at `1e-6`
//! as open-unlearning does (a one-hot distribution has `σ_t = 0`).
//!
//! The zlib length comes from `flate2` on its `zlib-rs` backend (pure Rust, already built for
//! polars) at level 6, the level of Python's `zlib.compress(text)`. DEFLATE encoders may
//! legitimately choose different blocks: on the fixture strings the length is within 2 bytes
//! of CPython's with zlib 1.2.13 (miniz_oxide was up to 7 off); the score is a ratio, so the
//! ranking an AUC sees barely moves.
//!
//! ```
//! use mllmu::eval::beyond::mia::{loss_score, min_k_score};
//! let lp = [-0.1, -2.0, -0.3, -4.0];
//! assert!((loss_score(&lp).unwrap() - 1.6).abs() < 1e-12);
//! assert_eq!(min_k_score(&lp, 0.5).unwrap(), 3.0); // mean of -4.0 and -2.0, negated
//! ```

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Mean and variance of `log p(z)` for `z` drawn from one next-token distribution `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NextTokenMoments {
    /// `μ = Σ_z p(z) log p(z)` (minus the entropy).
    pub mean: f64,
    /// `σ² = Σ_z p(z) (log p(z))² − μ²`.
    pub variance: f64,
}

impl NextTokenMoments {
    /// Moments from one row of log-probabilities over the vocabulary (a log-softmax output).
    /// Entries of `-∞` (probability 0) contribute nothing.
    ///
    /// ```
    /// use mllmu::eval::beyond::mia::NextTokenMoments;
    /// let half = 0.5f32.ln();
    /// let m = NextTokenMoments::from_log_probs(&[half, half]);
    /// assert!((m.mean - 0.5f64.ln()).abs() < 1e-6 && m.variance.abs() < 1e-6);
    /// ```
    pub fn from_log_probs(row: &[f32]) -> Self {
        let (mut mean, mut second) = (0.0f64, 0.0f64);
        for &lp in row {
            let lp = lp as f64;
            if lp.is_finite() {
                let p = lp.exp();
                mean += p * lp;
                second += p * lp * lp;
            }
        }
        NextTokenMoments {
            mean,
            variance: second - mean * mean,
        }
    }
}

fn check_tokens(token_logprobs: &[f64]) -> Result<()> {
    if token_logprobs.is_empty() {
        return Err(Error::param(
            "token log-probabilities",
            "[]",
            "a membership-inference score needs at least one answer token",
        ));
    }
    if let Some(i) = token_logprobs.iter().position(|v| v.is_nan()) {
        return Err(Error::param(
            "token log-probabilities",
            "NaN",
            format!("token {i} has a NaN log-probability"),
        ));
    }
    Ok(())
}

fn check_k(k: f64) -> Result<()> {
    if !(k > 0.0 && k <= 1.0) {
        return Err(Error::param(
            "--min-k",
            k,
            "the Min-K% fraction must lie in (0, 1], e.g. 0.2",
        ));
    }
    Ok(())
}

/// Number of tokens Min-K% averages: `max(1, ⌊k·T⌋)`.
fn k_count(len: usize, k: f64) -> usize {
    ((len as f64 * k) as usize).max(1)
}

/// LOSS attack: the mean negative log-likelihood of the answer tokens.
pub fn loss_score(token_logprobs: &[f64]) -> Result<f64> {
    check_tokens(token_logprobs)?;
    Ok(-token_logprobs.iter().sum::<f64>() / token_logprobs.len() as f64)
}

/// Length in bytes of `text` (UTF-8) compressed by zlib at level 6 (header and Adler-32
/// trailer included, like Python's `len(zlib.compress(text.encode()))`).
///
/// ```
/// assert!(mllmu::eval::beyond::mia::zlib_len("") > 0);
/// ```
pub fn zlib_len(text: &str) -> usize {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(text.as_bytes());
    enc.finish().map(|v| v.len()).unwrap_or(0)
}

/// zlib attack: [`loss_score`] divided by [`zlib_len`] of the answer's text.
///
/// ```
/// use mllmu::eval::beyond::mia::{zlib_len, zlib_score};
/// let s = zlib_score(&[-1.0, -3.0], "Paris").unwrap();
/// assert_eq!(s, 2.0 / zlib_len("Paris") as f64);
/// ```
pub fn zlib_score(token_logprobs: &[f64], text: &str) -> Result<f64> {
    Ok(loss_score(token_logprobs)? / zlib_len(text) as f64)
}

/// Min-K% attack: minus the mean of the `max(1, ⌊k·T⌋)` lowest token log-probabilities.
pub fn min_k_score(token_logprobs: &[f64], k: f64) -> Result<f64> {
    check_tokens(token_logprobs)?;
    check_k(k)?;
    Ok(-lowest_mean(token_logprobs.to_vec(), k))
}

/// Min-K%++ attack: each token's log-probability is standardised by its position's
/// [`NextTokenMoments`], `(log p(x_t) − μ_t) / σ_t` with `σ_t² ≥ 1e-6`; the score is minus the
/// mean of the `max(1, ⌊k·T⌋)` lowest.
///
/// ```
/// use mllmu::eval::beyond::mia::{min_k_pp_score, NextTokenMoments};
/// let m = NextTokenMoments { mean: -1.0, variance: 4.0 };
/// let s = min_k_pp_score(&[-3.0, 0.0], &[m, m], 0.5).unwrap();
/// assert_eq!(s, 1.0); // lowest standardised value is (-3 + 1) / 2 = -1
/// ```
pub fn min_k_pp_score(token_logprobs: &[f64], moments: &[NextTokenMoments], k: f64) -> Result<f64> {
    check_tokens(token_logprobs)?;
    check_k(k)?;
    if moments.len() != token_logprobs.len() {
        return Err(Error::param(
            "next-token moments",
            format!("{} for {} tokens", moments.len(), token_logprobs.len()),
            "Min-K%++ needs the moments of every answer position",
        ));
    }
    let z: Vec<f64> = token_logprobs
        .iter()
        .zip(moments)
        .map(|(&lp, m)| (lp - m.mean) / m.variance.max(1e-6).sqrt())
        .collect();
    Ok(-lowest_mean(z, k))
}

fn lowest_mean(mut v: Vec<f64>, k: f64) -> f64 {
    let n = k_count(v.len(), k);
    v.sort_by(f64::total_cmp);
    v[..n].iter().sum::<f64>() / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_bad_inputs_are_errors() {
        let e = loss_score(&[]).unwrap_err().to_string();
        assert!(e.contains("answer token"), "{e}");
        let e = min_k_score(&[-1.0], 0.0).unwrap_err().to_string();
        assert!(e.contains("--min-k"), "{e}");
        assert!(min_k_score(&[-1.0], 1.5).is_err());
        assert!(min_k_pp_score(&[-1.0, -2.0], &[], 0.2).is_err());
        assert!(loss_score(&[f64::NAN]).is_err());
    }

    #[test]
    fn min_k_takes_at_least_one_token() {
        // floor(3 * 0.2) = 0 -> 1 token, the lowest
        assert_eq!(min_k_score(&[-1.0, -5.0, -2.0], 0.2).unwrap(), 5.0);
        assert_eq!(min_k_score(&[-1.0, -5.0, -2.0], 1.0).unwrap(), 8.0 / 3.0);
    }

    #[test]
    fn min_k_pp_floors_the_variance() {
        let m = NextTokenMoments {
            mean: -0.5,
            variance: 0.0,
        };
        let s = min_k_pp_score(&[-1.5], &[m], 1.0).unwrap();
        assert!((s - 1.0 / 1e-3).abs() < 1e-9, "{s}");
    }

    // From tests/fixtures/beyond/make_expected.py (numpy on a fixed log-softmax row).
    #[test]
    fn moments_match_numpy() {
        let row: [f32; 4] = [-0.25, -1.75, -2.5, -3.0];
        let m = NextTokenMoments::from_log_probs(&row);
        assert!((m.mean - (-0.853378298469469)).abs() < 1e-9, "{}", m.mean);
        assert!(
            (m.variance - 0.8137180871704479).abs() < 1e-9,
            "{}",
            m.variance
        );
    }

    #[test]
    fn zlib_length_is_within_a_few_bytes_of_python() {
        // CPython 3.11 with zlib 1.2.13: `len(zlib.compress(s.encode()))` (fixture script).
        // zlib-rs and zlib 1.2.13 pick blocks differently on some inputs, so lengths may differ
        // by a few bytes.
        let long = "The quick brown fox jumps over the lazy dog. ".repeat(5);
        for (text, python) in [
            ("Paris", 13usize),
            ("She was born in Lyon and works as a baker in Paris.", 55),
            ("", 8),
            (long.as_str(), 55),
            (
                "Her favourite dish is ratatouille, which she learned to cook from her grandmother in Avignon.",
                85,
            ),
        ] {
            let ours = zlib_len(text);
            assert!(ours.abs_diff(python) <= 2, "{text:?}: {ours} vs {python}");
        }
    }
}
