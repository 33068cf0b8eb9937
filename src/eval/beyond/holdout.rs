//! The membership non-members of `--holdout-from`: answers of profiles the evaluated model
//! never trained on.
//!
//! * A folder of the benchmark (`forget_15` when the model was fine-tuned with
//!   `finetune --exclude-forget 15`): the `ft_Data` rows of its profiles, less the evaluated
//!   forget profiles.
//! * Another benchmark folder (e.g. a mini benchmark written with another seed, whose people
//!   no model saw): its whole `ft_Data`.

use crate::bench::{Bench, ProfileId, Split};
use crate::train::data::SampleSet;
use crate::{Error, Result};
use std::path::Path;

/// Resolves `--holdout-from` (see the module docs).
///
/// ```
/// use mllmu::bench::{Bench, MiniConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let cfg = MiniConfig { profiles: 20, celebrities: 2, ..MiniConfig::default() };
/// let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg).unwrap()).unwrap();
/// let split = bench.split(5).unwrap();
/// let h = mllmu::eval::beyond::holdout::holdout_set(&bench, &split, "forget_10").unwrap();
/// assert!(!h.is_empty() && h.images.len() <= 2); // forget_10's two, less the forget_5 one
/// assert!(mllmu::eval::beyond::holdout::holdout_set(&bench, &split, "nowhere").is_err());
/// ```
pub fn holdout_set(bench: &Bench, split: &Split, spec: &str) -> Result<SampleSet> {
    if bench.folder_names().contains(&spec) {
        let forget = split.forget_ids();
        let ids: Vec<ProfileId> = match bench.train_set(spec) {
            Ok(t) => t.rows.iter().filter_map(|r| r.id.clone()).collect(),
            Err(_) => bench.set(spec)?.ids(),
        }
        .into_iter()
        .filter(|id| !forget.contains(id))
        .collect();
        let rows = bench.ft_data()?.rows_for(&ids);
        if rows.is_empty() {
            return Err(Error::param(
                "--holdout-from",
                spec,
                "none of its profiles outside the forget set has an ft_Data row",
            ));
        }
        return Ok(SampleSet::from_ft_rows(format!("{spec} (ft_Data)"), &rows));
    }
    let dir = Path::new(spec);
    if dir.is_dir() {
        let other = Bench::open(dir)?;
        let mut set = SampleSet::from_bench(&other, "ft")?;
        set.name = format!("{} (ft_Data)", dir.display());
        return Ok(set);
    }
    Err(Error::param(
        "--holdout-from",
        spec,
        format!(
            "neither a folder of {} ({}) nor a benchmark directory",
            bench.root().display(),
            bench.folder_names().join(", ")
        ),
    ))
}
