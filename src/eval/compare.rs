//! Paired comparison of two reports on the same questions (e.g. a model before and after
//! unlearning): per set × task × modality, the mean difference of the headline score
//! (B − A) with a profile-level bootstrap interval and a sign-flip permutation p-value
//! ([`paired_test`]).

use crate::display::Table;
use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::metrics::bootstrap::{paired_test, BootstrapOptions, KeyedScore};
use crate::eval::report::Report;
use crate::Result;
use serde::{Deserialize, Serialize};

/// One compared cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Evaluation set.
    pub set: EvalMode,
    /// Task.
    pub task: Task,
    /// Modality.
    pub modality: Modality,
    /// Questions paired.
    pub n: usize,
    /// Mean score of report A (accuracy % or ROUGE-L).
    pub a: f64,
    /// Mean score of report B.
    pub b: f64,
    /// Mean of B − A.
    pub difference: f64,
    /// Lower bound of the 95 % interval of the difference.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Two-sided p-value (sign-flip permutation over profiles).
    pub p_value: f64,
}

/// The comparison of two reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// One row per cell with questions in both reports.
    pub rows: Vec<ComparisonRow>,
}

fn keyed(r: &Report, set: EvalMode, task: Task, m: Modality) -> Vec<KeyedScore> {
    r.questions
        .iter()
        .filter(|q| q.set == set && q.task == task && q.modality == m)
        .map(|q| KeyedScore {
            profile: q.profile.clone(),
            key: format!("{}/{}/{}", task.as_str(), m.as_str(), q.index),
            score: q.score,
        })
        .collect()
}

/// Compares B against A on every set × task × modality both evaluated. Errors when a cell
/// holds different questions in the two reports (different seeds, sets or options that
/// change the skip rule).
///
/// The bootstrap uses A's seed and settings.
pub fn compare(a: &Report, b: &Report) -> Result<Comparison> {
    let opts = BootstrapOptions {
        seed: a.manifest.options.seed,
        ..a.manifest.options.bootstrap
    };
    let mut rows = Vec::new();
    let both = |s: &EvalMode| a.manifest.sets.contains(s) && b.manifest.sets.contains(s);
    for set in EvalMode::ALL.into_iter().filter(both) {
        for task in [Task::Classification, Task::Cloze, Task::Generation] {
            for m in Modality::ALL {
                let (ka, kb) = (keyed(a, set, task, m), keyed(b, set, task, m));
                if ka.is_empty() && kb.is_empty() {
                    continue;
                }
                let r = paired_test(&ka, &kb, &opts)?;
                let mean =
                    |v: &[KeyedScore]| v.iter().map(|k| k.score).sum::<f64>() / v.len() as f64;
                rows.push(ComparisonRow {
                    set,
                    task,
                    modality: m,
                    n: ka.len(),
                    a: mean(&ka),
                    b: mean(&kb),
                    difference: r.mean_difference,
                    low: r.interval.low,
                    high: r.interval.high,
                    p_value: r.p_value,
                });
            }
        }
    }
    Ok(Comparison { rows })
}

impl Report {
    /// [`compare`] with `self` as A and `other` as B.
    pub fn compare(&self, other: &Report) -> Result<Comparison> {
        compare(self, other)
    }
}

impl Comparison {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(
            "paired comparison B - A (accuracy %, ROUGE-L F; 95% CI over profiles)",
            [
                "set", "task", "modality", "n", "A", "B", "B - A", "95% CI", "p",
            ],
        );
        for r in &self.rows {
            t.push([
                r.set.as_str().to_string(),
                r.task.as_str().to_string(),
                r.modality.as_str().to_string(),
                r.n.to_string(),
                format!("{:.4}", r.a),
                format!("{:.4}", r.b),
                format!("{:+.4}", r.difference),
                format!("[{:.4}, {:.4}]", r.low, r.high),
                format!("{:.4}", r.p_value),
            ]);
        }
        vec![t]
    }
}

table_views!(Comparison, "An HTML table.");
