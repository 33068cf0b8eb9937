//! Accuracy and averages the way `eval.py` computes them.
//!
//! - accuracy: `(correct / total) * 100`, and `0` when there were no questions;
//! - averages: a running Python float sum (`total += score`, left to right) divided by the
//!   count; the benchmark omits an average when there were no questions.

use serde::{Deserialize, Serialize};

/// `(correct / total) * 100` as `eval.py` computes it, 0 when `total` is 0.
///
/// ```
/// use mllmu::eval::metrics::accuracy::accuracy_percent;
/// assert_eq!(accuracy_percent(59, 120), 59.0 / 120.0 * 100.0);
/// assert_eq!(accuracy_percent(0, 0), 0.0);
/// ```
pub fn accuracy_percent(correct: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        correct as f64 / total as f64 * 100.0
    }
}

/// Arithmetic mean with left-to-right summation (as the reference accumulates), `None` when
/// empty.
///
/// ```
/// use mllmu::eval::metrics::accuracy::mean;
/// assert_eq!(mean(&[0.5, 1.0]), Some(0.75));
/// assert_eq!(mean(&[]), None);
/// ```
pub fn mean(values: &[f64]) -> Option<f64> {
    let total = values.iter().fold(0.0, |total, v| total + v);
    (!values.is_empty()).then(|| total / values.len() as f64)
}

/// Counts of one multiple-choice or cloze evaluation of one modality.
///
/// Format failures (a classification reply that does not start with a letter A–D) are
/// counted as wrong **and** counted apart, so a collapsed model is told from a wrong one.
///
/// ```
/// use mllmu::eval::metrics::accuracy::Tally;
/// let mut t = Tally::default();
/// t.record(true, false);
/// t.record(false, true);
/// assert_eq!((t.correct, t.total, t.format_failures), (1, 2, 1));
/// assert_eq!(t.accuracy(), 50.0);
/// assert_eq!(t.format_failure_rate(), 50.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Questions answered correctly.
    pub correct: usize,
    /// Questions asked (format failures included, as in the reference).
    pub total: usize,
    /// Replies whose answer could not be parsed.
    pub format_failures: usize,
}

impl Tally {
    /// Adds one question.
    pub fn record(&mut self, correct: bool, format_failure: bool) {
        self.total += 1;
        self.correct += usize::from(correct);
        self.format_failures += usize::from(format_failure);
    }

    /// Accuracy in percent as the reference reports it ([`accuracy_percent`]).
    pub fn accuracy(&self) -> f64 {
        accuracy_percent(self.correct, self.total)
    }

    /// Share of format failures in percent (0 when empty).
    pub fn format_failure_rate(&self) -> f64 {
        accuracy_percent(self.format_failures, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_uses_the_reference_operation_order() {
        // (c / t) * 100 and (100 * c) / t differ in the last bit for some inputs; the
        // reference divides first.
        let (c, t) = (13usize, 46usize);
        assert_eq!(accuracy_percent(c, t), (13.0f64 / 46.0) * 100.0);
        assert_eq!(accuracy_percent(46, 46), 100.0);
    }

    #[test]
    fn mean_sums_left_to_right() {
        let v = [0.1, 0.2, 0.3];
        assert_eq!(mean(&v), Some((0.1 + 0.2 + 0.3) / 3.0));
    }

    #[test]
    fn empty_tally_reports_zero() {
        let t = Tally::default();
        assert_eq!((t.accuracy(), t.format_failure_rate()), (0.0, 0.0));
    }
}
