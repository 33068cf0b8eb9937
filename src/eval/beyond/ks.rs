//! Two-sample Kolmogorov-Smirnov test, as `scipy.stats.ks_2samp(a, b)` computes it with its
//! defaults (`alternative='two-sided'`, `method='auto'`; scipy 1.17, `scipy/stats/_stats_py.py`).
//!
//! **Statistic.** Both samples are sorted; at every value `v` of either sample the empirical
//! CDFs are `F_a(v) = #{a_i <= v} / n_a` and `F_b(v) = #{b_j <= v} / n_b` (ties count fully,
//! as `searchsorted(side='right')` does) and `D = max_v |F_a(v) - F_b(v)|`.
//!
//! **Switch rule.** With `method='auto'` scipy tries the exact null distribution when
//! `max(n_a, n_b) <= 10000` and the asymptotic one otherwise. The exact attempt rounds `D` to
//! `h / lcm(n_a, n_b)` (the only values it can take) and computes `P(D >= h / lcm)`:
//! - `n_a == n_b = n`: the alternating sum `2 Σ_k (-1)^(k-1) C(2n, n-kh) / C(2n, n)`, evaluated
//!   by scipy's Horner-like product (no cancellation);
//! - `n_a != n_b`: Hodges' lattice-path count of paths leaving the band `|x/m - y/n| < h/lcm`,
//!   with Viehmann's recursion for `1 - P` (arXiv:2102.08037).
//!
//! If the exact value is not a probability (non-finite, outside `[0, 1]`) scipy falls back to
//! the asymptotic method, and so does this code. The asymptotic p-value is
//! `kstwo.sf(D, round(m n / (m + n)))`, the one-sample two-sided distribution of
//! [`super::kolmogorov`] at the effective sample size.
//!
//! ```
//! use mllmu::eval::beyond::ks::{ks_2samp, KsMethod};
//! let r = ks_2samp(&[0.1, 0.2, 0.3], &[0.4, 0.5, 0.6, 0.7]).unwrap();
//! assert_eq!(r.statistic, 1.0);
//! assert!((r.p_value - 2.0 / 35.0).abs() < 1e-15); // 2 of C(7, 3) orderings are as extreme
//! assert_eq!(r.method, KsMethod::Exact);
//! ```

use super::kolmogorov::kstwo_sf;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Largest sample size for which `method='auto'` tries the exact distribution (scipy's
/// `MAX_AUTO_N`).
pub const MAX_EXACT_N: usize = 10_000;

/// Which null distribution produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    /// The exact distribution of the two-sample statistic.
    Exact,
    /// `kstwo` at the effective sample size `round(m n / (m + n))`.
    Asymptotic,
}

/// Result of [`ks_2samp`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KsTest {
    /// `D`, the largest distance between the two empirical CDFs (rounded to a multiple of
    /// `1 / lcm(n_a, n_b)` when the exact method ran, as scipy reports it).
    pub statistic: f64,
    /// Two-sided p-value of "both samples come from one continuous distribution".
    pub p_value: f64,
    /// The method used.
    pub method: KsMethod,
}

/// Two-sided two-sample KS test; see the [module docs](self) for the formulas.
///
/// Errors on an empty sample (scipy raises `ValueError`) or a NaN (scipy would propagate it);
/// infinities are ordinary values.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Result<KsTest> {
    let a = sorted_sample(a, "first sample")?;
    let b = sorted_sample(b, "second sample")?;
    let d = statistic(&a, &b);
    let (n1, n2) = (a.len() as u64, b.len() as u64);
    if n1.max(n2) as usize <= MAX_EXACT_N {
        if let Some((d_exact, p)) = exact(n1, n2, d) {
            return Ok(KsTest {
                statistic: d_exact,
                p_value: p.clamp(0.0, 1.0),
                method: KsMethod::Exact,
            });
        }
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round_ties_even();
    Ok(KsTest {
        statistic: d,
        p_value: kstwo_sf(en as u64, d).clamp(0.0, 1.0),
        method: KsMethod::Asymptotic,
    })
}

fn sorted_sample(x: &[f64], what: &str) -> Result<Vec<f64>> {
    if x.is_empty() {
        return Err(Error::param(
            "truth ratios",
            "[]",
            format!("the {what} of the Kolmogorov-Smirnov test is empty"),
        ));
    }
    if let Some(i) = x.iter().position(|v| v.is_nan()) {
        return Err(Error::param(
            "truth ratios",
            "NaN",
            format!("value {i} of the {what} of the Kolmogorov-Smirnov test is NaN"),
        ));
    }
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// `max(max_v (F_a - F_b), max_v (F_b - F_a))` over all sample values, with scipy's float
/// operations (`count / n` for each CDF, then the difference).
fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut max_diff, mut min_diff) = (f64::NEG_INFINITY, f64::INFINITY);
    for &v in a.iter().chain(b) {
        let c1 = a.partition_point(|&x| x <= v) as f64 / n1;
        let c2 = b.partition_point(|&x| x <= v) as f64 / n2;
        let diff = c1 - c2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff {
        min_s
    } else {
        max_diff
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy's `_attempt_exact_2kssamp` (two-sided): `Some((rounded D, p))`, or `None` when the
/// computed value is not a probability.
fn exact(n1: u64, n2: u64, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Some((d, 1.0));
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside(n1, n2, g, h)
    };
    (0.0..=1.0).contains(&p).then_some((d, p))
}

/// `P(D_{n,n} >= h/n) = 2 (A0 (1 - A1 (1 - A2 (1 - ...))))` with
/// `A_k = Π_{j<h} (n - kh - j) / (n + kh + j + 1)`, evaluated from the innermost term out.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// Proportion of the lattice paths from `(0, 0)` to `(m, n)` that leave the band
/// `|n x / g - m y / g| < h` (Hodges' inside method, recursion on `1 - p` after Viehmann),
/// keeping one sliding column window as scipy's `_compute_outer_prob_inside_method` does.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let (mg, ng) = (m / g, n / g);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h as f64 / mg as f64).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (((ng * i - h) as f64 / mg as f64).floor() as i64 + 1).max(0);
        minj = minj.min(n);
        maxj = (((ng * i + h) as f64 / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            val = (a[(jj + minj - lastminj) as usize] * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(len_a);
            for v in a.iter_mut().take(end).skip(start) {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gen(n, mult, modulus, scale, offset)` of tests/fixtures/beyond/make_expected.py.
    pub(crate) fn gen(n: usize, mult: usize, modulus: usize, scale: f64, offset: f64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * mult) % modulus) as f64 / modulus as f64 * scale + offset)
            .collect()
    }

    type Gen = (usize, usize, usize, f64, f64);

    /// (a, b, statistic, p-value) from `scipy.stats.ks_2samp(a, b)` (scipy 1.17.1).
    const CASES: [(Gen, Gen, f64, f64); 17] = [
        (
            (3, 1, 1, 0.3, 0.1),
            (4, 1, 1, 0.0, 0.4),
            1.0,
            0.05714285714285715,
        ),
        ((10, 7, 10, 1.0, 0.0), (10, 3, 10, 1.0, 0.05), 0.1, 1.0),
        (
            (10, 7, 10, 1.0, 0.0),
            (10, 3, 10, 1.0, 0.35),
            0.4,
            0.41752365281777043,
        ),
        (
            (8, 3, 5, 1.0, 0.0),
            (12, 2, 5, 1.0, 0.0),
            0.08333333333333333,
            1.0,
        ),
        (
            (8, 3, 5, 1.0, 0.0),
            (12, 2, 5, 1.0, 0.4),
            0.625,
            0.031991744066047476,
        ),
        (
            (60, 7, 61, 1.0, 0.0),
            (45, 11, 47, 1.0, 0.25),
            0.2722222222222222,
            0.03721242907069057,
        ),
        ((5, 1, 1, 0.0, 2.0), (7, 1, 1, 0.0, 2.0), 0.0, 1.0),
        ((1, 1, 1, 0.0, 0.5), (1, 1, 1, 0.0, 0.7), 1.0, 1.0),
        (
            (500, 7919, 1000, 1.0, 0.0),
            (700, 104729, 997, 1.0, 0.03),
            0.034,
            0.8766075625631352,
        ),
        (
            (900, 7919, 1000, 1.0, 0.0),
            (900, 104729, 997, 1.0, 0.02),
            0.022222222222222223,
            0.9794779082193835,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (50, 31, 101, 1.0, 0.05),
            0.08272172782721732,
            0.8555980272022969,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (50, 31, 101, 1.0, 0.2),
            0.23270672932706737,
            0.007285839070064415,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (50, 31, 101, 0.5, 0.3),
            0.2999700029997,
            0.00017386091349134585,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (12000, 104729, 11003, 1.0, 0.0),
            0.0005333300003332875,
            1.0,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (12000, 104729, 11003, 1.0, 0.03),
            0.030101789821017966,
            9.960886781747951e-05,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (300, 17, 293, 1.0, 0.0),
            0.018601473186014683,
            0.999928236128735,
        ),
        (
            (10001, 7919, 10007, 1.0, 0.0),
            (3, 1, 3, 0.1, 2.0),
            1.0,
            0.0,
        ),
    ];

    pub(crate) fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-9 * want.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn matches_scipy_exact_and_asymptotic() {
        for (a, b, stat, p) in CASES {
            let (xa, xb) = (gen(a.0, a.1, a.2, a.3, a.4), gen(b.0, b.1, b.2, b.3, b.4));
            let r = ks_2samp(&xa, &xb).unwrap();
            assert!(
                close(r.statistic, stat),
                "{a:?} {b:?}: D {} vs {stat}",
                r.statistic
            );
            assert!(close(r.p_value, p), "{a:?} {b:?}: p {} vs {p}", r.p_value);
            let want = if a.0.max(b.0) <= MAX_EXACT_N {
                KsMethod::Exact
            } else {
                KsMethod::Asymptotic
            };
            assert_eq!(r.method, want, "{a:?} {b:?}");
            // the test is symmetric
            let s = ks_2samp(&xb, &xa).unwrap();
            assert_eq!((s.statistic, s.p_value), (r.statistic, r.p_value));
        }
    }

    #[test]
    fn identical_samples_have_p_one() {
        let x = gen(40, 7, 13, 1.0, 0.0);
        let r = ks_2samp(&x, &x).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
    }

    #[test]
    fn empty_or_nan_samples_are_errors() {
        let e = ks_2samp(&[], &[1.0]).unwrap_err().to_string();
        assert!(e.contains("first sample") && e.contains("empty"), "{e}");
        let e = ks_2samp(&[1.0], &[]).unwrap_err().to_string();
        assert!(e.contains("second sample"), "{e}");
        let e = ks_2samp(&[1.0, f64::NAN], &[1.0]).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
    }
}
