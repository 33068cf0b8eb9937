//! Confidence intervals and paired tests that respect the benchmark's clustering: the
//! questions of one profile are correlated (same person, same image), so resampling is by
//! **profile**, not by question (a cluster bootstrap).
//!
//! - [`bootstrap_ci`]: draw as many profiles as there are, with replacement, `resamples`
//!   times; each draw's statistic is the mean over all questions of the drawn profiles; the
//!   interval is the percentile interval (linear interpolation between order statistics).
//! - [`paired_test`]: two reports scored on the same questions. The per-question
//!   differences are grouped by profile; the p-value comes from a sign-flip permutation test
//!   over profiles (under "no difference" each profile's difference is equally likely to
//!   have either sign), and the interval for the mean difference from the cluster bootstrap.
//!
//! Every draw comes from a ChaCha8 generator seeded with [`BootstrapOptions::seed`], so results
//! are reproducible and independent of any other randomness in a run.

use crate::{Error, Result};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One scored question: the profile it belongs to and its score (a 0/1 correctness, a
/// percentage, a ROUGE value...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileScore {
    /// Profile ID (`"001"`, `"celeb_01"`).
    pub profile: String,
    /// The question's score.
    pub score: f64,
}

impl ProfileScore {
    /// A scored question.
    pub fn new(profile: impl Into<String>, score: f64) -> Self {
        ProfileScore {
            profile: profile.into(),
            score,
        }
    }
}

/// Settings of the bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapOptions {
    /// Number of resamples (default 1000).
    pub resamples: usize,
    /// Coverage of the interval (default 0.95).
    pub level: f64,
    /// Seed of the resampling generator (default 0).
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            resamples: 1000,
            level: 0.95,
            seed: 0,
        }
    }
}

impl BootstrapOptions {
    fn check(&self) -> Result<()> {
        if self.resamples == 0 {
            return Err(Error::param(
                "resamples",
                self.resamples,
                "must be at least 1",
            ));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::param(
                "level",
                self.level,
                "must lie strictly between 0 and 1, e.g. 0.95",
            ));
        }
        Ok(())
    }
}

/// A mean with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// Mean over all questions (the point estimate).
    pub mean: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Coverage (e.g. 0.95).
    pub level: f64,
    /// Number of questions.
    pub questions: usize,
    /// Number of profiles (clusters) resampled.
    pub profiles: usize,
}

/// Per-profile (sum of scores, number of questions), in first-appearance order.
fn clusters(items: &[ProfileScore]) -> Result<Vec<(f64, usize)>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(f64, usize)> = Vec::new();
    for it in items {
        if !it.score.is_finite() {
            return Err(Error::BadData {
                file: "scores".into(),
                profile: it.profile.clone(),
                message: format!("non-finite score {}", it.score),
            });
        }
        let k = *index.entry(it.profile.as_str()).or_insert_with(|| {
            out.push((0.0, 0));
            out.len() - 1
        });
        out[k].0 += it.score;
        out[k].1 += 1;
    }
    Ok(out)
}

/// Percentile with linear interpolation between order statistics (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Cluster-bootstrap means: each resample draws `clusters.len()` profiles with replacement.
fn resample_means(
    clusters: &[(f64, usize)],
    opts: &BootstrapOptions,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut means = Vec::with_capacity(opts.resamples);
    for _ in 0..opts.resamples {
        let (mut sum, mut n) = (0.0, 0usize);
        for _ in 0..clusters.len() {
            let (s, c) = clusters[rng.gen_range(0..clusters.len())];
            sum += s;
            n += c;
        }
        means.push(if n == 0 { 0.0 } else { sum / n as f64 });
    }
    means.sort_by(f64::total_cmp);
    means
}

fn interval(
    items: &[ProfileScore],
    opts: &BootstrapOptions,
    rng: &mut ChaCha8Rng,
) -> Result<ConfidenceInterval> {
    let cl = clusters(items)?;
    if cl.is_empty() {
        return Err(Error::BadData {
            file: "scores".into(),
            profile: "-".into(),
            message: "no questions to resample".into(),
        });
    }
    let questions = items.len();
    let mean = cl.iter().map(|c| c.0).sum::<f64>() / questions as f64;
    let means = resample_means(&cl, opts, rng);
    let alpha = 1.0 - opts.level;
    Ok(ConfidenceInterval {
        mean,
        low: percentile(&means, alpha / 2.0),
        high: percentile(&means, 1.0 - alpha / 2.0),
        level: opts.level,
        questions,
        profiles: cl.len(),
    })
}

/// Bootstrap percentile interval of the mean score, resampling profiles.
///
/// ```
/// use mllmu::eval::metrics::bootstrap::{bootstrap_ci, BootstrapOptions, ProfileScore};
/// let items: Vec<_> = (0..20).map(|i| ProfileScore::new(format!("{:03}", i / 2), (i % 3) as f64)).collect();
/// let ci = bootstrap_ci(&items, &BootstrapOptions::default()).unwrap();
/// assert_eq!(ci.profiles, 10);
/// assert!(ci.low <= ci.mean && ci.mean <= ci.high);
/// ```
pub fn bootstrap_ci(items: &[ProfileScore], opts: &BootstrapOptions) -> Result<ConfidenceInterval> {
    opts.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    interval(items, opts, &mut rng)
}

/// One question of a paired comparison: its profile, a key identifying it within the run
/// (e.g. `"generation/Pure_Text/3"`), and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyedScore {
    /// Profile ID.
    pub profile: String,
    /// Question key, unique within a report.
    pub key: String,
    /// Score.
    pub score: f64,
}

/// Result of [`paired_test`]: B − A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Mean over questions of `b - a`.
    pub mean_difference: f64,
    /// Bootstrap interval of the mean difference (profiles resampled).
    pub interval: ConfidenceInterval,
    /// Two-sided p-value of the sign-flip permutation test over profiles
    /// (`(1 + #{|stat| >= |observed|}) / (1 + resamples)`).
    pub p_value: f64,
}

/// Compares two reports on the same questions (B − A), pairing them by `(profile, key)`.
///
/// Errors when a question of one report is missing from the other, or a key repeats.
///
/// ```
/// use mllmu::eval::metrics::bootstrap::{paired_test, BootstrapOptions, KeyedScore};
/// let q = |p: usize, s: f64| KeyedScore { profile: format!("{p:03}"), key: "q".into(), score: s };
/// let a: Vec<_> = (0..30).map(|p| q(p, 0.2)).collect();
/// let b: Vec<_> = (0..30).map(|p| q(p, 0.6)).collect();
/// let r = paired_test(&a, &b, &BootstrapOptions::default()).unwrap();
/// assert!((r.mean_difference - 0.4).abs() < 1e-12);
/// assert!(r.p_value < 0.01);
/// ```
pub fn paired_test(
    a: &[KeyedScore],
    b: &[KeyedScore],
    opts: &BootstrapOptions,
) -> Result<PairedComparison> {
    opts.check()?;
    let mut b_index: HashMap<(&str, &str), f64> = HashMap::new();
    for it in b {
        if b_index
            .insert((it.profile.as_str(), it.key.as_str()), it.score)
            .is_some()
        {
            return Err(Error::BadData {
                file: "report B".into(),
                profile: it.profile.clone(),
                message: format!("question {}/{} appears twice", it.profile, it.key),
            });
        }
    }
    if a.len() != b.len() {
        return Err(Error::BadData {
            file: "reports A and B".into(),
            profile: "-".into(),
            message: format!(
                "{} vs {} questions; a paired comparison needs the same questions in both reports",
                a.len(),
                b.len()
            ),
        });
    }
    let mut diffs = Vec::with_capacity(a.len());
    for it in a {
        let Some(&sb) = b_index.get(&(it.profile.as_str(), it.key.as_str())) else {
            return Err(Error::BadData {
                file: "report A".into(),
                profile: it.profile.clone(),
                message: format!(
                    "question {}/{} is not in report B (or repeats in A)",
                    it.profile, it.key
                ),
            });
        };
        diffs.push(ProfileScore::new(it.profile.clone(), sb - it.score));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let interval = interval(&diffs, opts, &mut rng)?;
    let cl = clusters(&diffs)?;
    let n = diffs.len() as f64;
    let observed = cl.iter().map(|c| c.0).sum::<f64>() / n;
    // A tiny tolerance keeps exact ties (e.g. the identity permutation) counted despite
    // rounding in the sums.
    let tol = 1e-12 * (1.0 + observed.abs());
    let extreme = (0..opts.resamples)
        .filter(|_| {
            let flipped = cl
                .iter()
                .map(|c| if rng.gen::<bool>() { c.0 } else { -c.0 });
            (flipped.sum::<f64>() / n).abs() >= observed.abs() - tol
        })
        .count();
    let p_value = (1 + extreme) as f64 / (1 + opts.resamples) as f64;
    Ok(PairedComparison {
        mean_difference: observed,
        interval,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default options with `f` applied.
    fn opts(f: impl FnOnce(&mut BootstrapOptions)) -> BootstrapOptions {
        let mut o = BootstrapOptions::default();
        f(&mut o);
        o
    }

    fn items(scores: &[(&str, f64)]) -> Vec<ProfileScore> {
        scores
            .iter()
            .map(|(p, s)| ProfileScore::new(*p, *s))
            .collect()
    }

    #[test]
    fn constant_scores_give_a_degenerate_interval() {
        let ci = bootstrap_ci(
            &items(&[("a", 0.5), ("b", 0.5), ("b", 0.5)]),
            &BootstrapOptions::default(),
        )
        .unwrap();
        assert_eq!((ci.mean, ci.low, ci.high), (0.5, 0.5, 0.5));
        assert_eq!((ci.questions, ci.profiles), (3, 2));
    }

    #[test]
    fn resampling_is_by_profile() {
        // Profile "a" has 9 questions scoring 1, profile "b" one question scoring 0. Any
        // resample of profiles gives a mean of 1 (aa), 0.9 (ab) or 0 (bb): nothing in between.
        let mut v = vec![("a", 1.0); 9];
        v.push(("b", 0.0));
        let ci = bootstrap_ci(&items(&v), &opts(|o| o.resamples = 200)).unwrap();
        assert_eq!(ci.mean, 0.9);
        assert_eq!(ci.low, 0.0);
        assert_eq!(ci.high, 1.0);
    }

    #[test]
    fn seeded_results_repeat_and_seeds_differ() {
        let v: Vec<_> = (0..40)
            .map(|i| ProfileScore::new(format!("{}", i / 4), ((i * 7) % 5) as f64))
            .collect();
        let (o1, o2) = (opts(|o| o.seed = 1), opts(|o| o.seed = 2));
        assert_eq!(
            bootstrap_ci(&v, &o1).unwrap(),
            bootstrap_ci(&v, &o1).unwrap()
        );
        assert_ne!(
            bootstrap_ci(&v, &o1).unwrap(),
            bootstrap_ci(&v, &o2).unwrap()
        );
    }

    #[test]
    fn percentile_interpolates() {
        assert_eq!(percentile(&[0.0, 10.0], 0.25), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), 2.0);
    }

    #[test]
    fn invalid_options_and_inputs_are_rejected() {
        let v = items(&[("a", 1.0)]);
        let bad = opts(|o| o.level = 1.0);
        let e = bootstrap_ci(&v, &bad).unwrap_err().to_string();
        assert!(e.contains("level"), "{e}");
        assert!(bootstrap_ci(&[], &BootstrapOptions::default()).is_err());
        assert!(bootstrap_ci(&items(&[("a", f64::NAN)]), &BootstrapOptions::default()).is_err());
    }

    fn keyed(p: &str, k: &str, s: f64) -> KeyedScore {
        KeyedScore {
            profile: p.into(),
            key: k.into(),
            score: s,
        }
    }

    #[test]
    fn identical_reports_are_not_significant() {
        let a: Vec<_> = (0..20)
            .map(|i| keyed(&format!("{}", i / 2), &format!("{i}"), (i % 3) as f64))
            .collect();
        let r = paired_test(&a, &a, &BootstrapOptions::default()).unwrap();
        assert_eq!(r.mean_difference, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn mixed_sign_differences_are_not_significant() {
        let a: Vec<_> = (0..20).map(|i| keyed(&format!("{i}"), "q", 0.5)).collect();
        let b: Vec<_> = (0..20)
            .map(|i| keyed(&format!("{i}"), "q", if i % 2 == 0 { 0.6 } else { 0.4 }))
            .collect();
        let r = paired_test(&a, &b, &BootstrapOptions::default()).unwrap();
        assert!(r.mean_difference.abs() < 1e-12);
        assert!(r.p_value > 0.5, "p = {}", r.p_value);
    }

    #[test]
    fn unmatched_questions_are_errors() {
        let a = vec![keyed("1", "x", 0.0)];
        let b = vec![keyed("1", "y", 0.0)];
        let e = paired_test(&a, &b, &BootstrapOptions::default()).unwrap_err();
        assert!(e.to_string().contains("1/x"), "{e}");
        let dup = vec![keyed("1", "y", 0.0), keyed("1", "y", 1.0)];
        let e = paired_test(&dup, &dup, &BootstrapOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
