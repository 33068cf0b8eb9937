//! The evaluation choices of each run side by side (`mllmu compare` prints them under the
//! scores): a difference in shots, shot pool, extraction or decoding changes the numbers as
//! much as a method does (the reference's vanilla model scores 0 % on image multiple choice
//! with its default few-shot prompt and recovers with one shot), so a comparison shows them.

use crate::display::Table;
use crate::eval::fewshot::ShotPool;
use crate::eval::report::task_key;
use crate::eval::{Evaluate, Methods, Report};

/// The serde name of a unit enum value (`"Disjoint"`, `"NewTokens"`), as the manifest spells it.
fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// Few-shot profile IDs per task: `reference` (the family's counts), one number, or the
/// per-task overrides (`classification=1`).
fn shots(o: &Evaluate) -> String {
    if o.shot_pool == ShotPool::ZeroShot {
        return "0".into();
    }
    let mut parts: Vec<String> = o.shots.iter().map(usize::to_string).collect();
    parts.extend(
        o.task_shots
            .iter()
            .map(|(t, n)| format!("{}={n}", task_key(*t))),
    );
    join_or(parts, "reference")
}

/// The samples of retain / celebrity profiles (`retain=20`), or `whole`.
fn samples(o: &Evaluate) -> String {
    let mut parts: Vec<String> = o.samples.iter().map(|(s, n)| format!("{s}={n}")).collect();
    parts.extend(o.max_profiles.map(|n| format!("first {n}")));
    join_or(parts, "whole")
}

/// `parts` joined with `", "`, or `empty` when there are none.
fn join_or(parts: Vec<String>, empty: &str) -> String {
    if parts.is_empty() {
        empty.into()
    } else {
        parts.join(", ")
    }
}

fn row(name: &str, r: &Report) -> Vec<String> {
    let m = &r.manifest;
    let o = &m.options;
    vec![
        name.to_string(),
        serde_name(&m.family),
        shots(o),
        serde_name(&o.shot_pool),
        serde_name(&o.extraction),
        o.max_new_tokens
            .map_or_else(|| "reference".into(), |n| n.to_string()),
        if o.option_likelihood { "yes" } else { "no" }.into(),
        samples(o),
        o.seed.to_string(),
        m.corrections.len().to_string(),
    ]
}

impl Methods {
    /// The evaluation choices of every run, one row each: model family, few-shot IDs
    /// (`reference` = the family's counts), shot pool, answer extraction, new tokens,
    /// option-likelihood scoring, profile samples, seed and the number of SPEC §8 flaws
    /// corrected. Read from each run's manifest.
    ///
    /// ```no_run
    /// let m = mllmu::eval::Methods::load(&["mllmu-demo/eval/vanilla".into(), "mllmu-demo/eval/ga".into()])?;
    /// println!("{}", m.choices()); // shots, shot pool, extraction, ... per run
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn choices(&self) -> Table {
        let mut t = Table::new(
            "Evaluation choices (from each run's manifest)",
            [
                "run",
                "family",
                "shots",
                "shot pool",
                "extraction",
                "new tokens",
                "option likelihood",
                "profiles",
                "seed",
                "corrections",
            ],
        );
        for (name, r) in &self.reports {
            t.push(row(name, r));
        }
        t
    }

    /// Whether every run was evaluated with the same choices (seed aside): when not,
    /// differences between runs mix method and protocol.
    pub fn same_choices(&self) -> bool {
        let key = |r: &Report| row("", r)[1..8].to_vec();
        self.reports
            .windows(2)
            .all(|w| key(&w[0].1) == key(&w[1].1))
    }
}
