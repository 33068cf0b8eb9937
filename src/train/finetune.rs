//! [`Finetune`]: the vanilla model of the benchmark (`finetune.py`, SPEC.md §4), or any
//! fine-tuning on one set (e.g. the NPO reference model on `retain_95`).

use crate::bench::Bench;
use crate::model::Model;
use crate::train::data::SampleSet;
use crate::train::objectives::{self, ObjectiveSpec};
use crate::train::options::TrainOptions;
use crate::train::run_log::Trained;
use crate::train::trainer::{TrainData, Trainer};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Fine-tuning with the token-mean NLL on one set of the benchmark.
///
/// Every [`TrainOptions`] field is reachable directly (`ft.lr`, `ft.epochs`, ...).
///
/// ```no_run
/// use candle_core::Device;
/// use mllmu::{bench::Bench, model::Model, train::Finetune};
/// let bench = Bench::open("data/MLLMU-Bench")?;
/// let base = Model::load("llava-1.5-7b-hf", &mllmu::model::device::auto()?)?;
/// let mut ft = Finetune::paper();
/// ft.out_dir = Some("runs/vanilla".into());
/// ft.max_steps = Some(200); // run again later to continue from the checkpoint
/// let vanilla = ft.run(&base, &bench)?;
/// vanilla.history.evcxr_display();
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finetune {
    /// The set to train on: `"ft_Data"` (or `"ft"`), a training-format folder, or an
    /// evaluation-format folder such as `"retain_95"` (see [`SampleSet::from_bench`]).
    pub set: String,
    /// Training settings.
    pub options: TrainOptions,
}

impl Default for Finetune {
    fn default() -> Self {
        Finetune::paper()
    }
}

impl std::ops::Deref for Finetune {
    type Target = TrainOptions;
    fn deref(&self) -> &TrainOptions {
        &self.options
    }
}

impl std::ops::DerefMut for Finetune {
    fn deref_mut(&mut self) -> &mut TrainOptions {
        &mut self.options
    }
}

impl Finetune {
    /// The reference recipe on `ft_Data`: LoRA r 16, α 16, dropout 0.05, lr 2e-5, batch 4,
    /// 5 epochs, seed 0, linear schedule stepped per batch, labels on every non-pad token.
    ///
    /// ```
    /// let ft = mllmu::train::Finetune::paper();
    /// assert_eq!((ft.set.as_str(), ft.lr, ft.batch_size, ft.epochs), ("ft_Data", 2e-5, 4, 5));
    /// ```
    pub fn paper() -> Self {
        Finetune {
            set: "ft_Data".into(),
            options: TrainOptions::default(),
        }
    }

    /// Fine-tunes `base` on `self.set` of `bench`.
    pub fn run(&self, base: &Model, bench: &Bench) -> Result<Trained> {
        let data = TrainData {
            primary: SampleSet::from_bench(bench, &self.set)?,
            retain: None,
        };
        self.run_on(base, data)
    }

    /// Fine-tunes `base` on samples built by the caller (`data.retain` is ignored).
    pub fn run_on(&self, base: &Model, data: TrainData) -> Result<Trained> {
        let objective = ObjectiveSpec::Finetune(objectives::Finetune::default());
        let mut trainer = Trainer::new(base, objective, data, self.options.clone(), None)?;
        trainer.run()?;
        trainer.finish()
    }
}
