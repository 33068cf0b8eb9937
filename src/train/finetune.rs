//! [`Finetune`]: the vanilla model of the benchmark (`finetune.py`, SPEC.md §4), or any
//! fine-tuning on one set (e.g. the NPO reference model on `retain_95`).

use crate::bench::Bench;
use crate::model::Model;
use crate::train::data::SampleSet;
use crate::train::objectives::{Nll, ObjectiveSpec};
use crate::train::options::TrainOptions;
use crate::train::run_log::Trained;
use crate::train::trainer::{TrainData, Trainer};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Fine-tuning with the token-mean NLL ([`Nll`]) on one set of the benchmark.
///
/// ```no_run
/// use candle_core::Device;
/// use mllmu::{bench::Bench, model::Model, train::Finetune};
/// let bench = Bench::open("data/MLLMU-Bench")?;
/// let base = Model::load("llava-1.5-7b-hf", &mllmu::model::device::auto()?)?;
/// let mut ft = Finetune::paper();
/// ft.options.out_dir = Some("runs/vanilla".into());
/// ft.options.max_steps = Some(200); // run again later to continue from the checkpoint
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

impl Finetune {
    /// The reference recipe on `ft_Data`: LoRA r 16, α 16, dropout 0.05, lr 2e-5, batch 4,
    /// 5 epochs, seed 0, linear schedule stepped per batch, labels on every non-pad token.
    ///
    /// ```
    /// let ft = mllmu::train::Finetune::paper();
    /// let o = &ft.options;
    /// assert_eq!((ft.set.as_str(), o.lr, o.batch_size, o.epochs), ("ft_Data", 2e-5, 4, 5));
    /// ```
    pub fn paper() -> Self {
        Finetune {
            set: "ft_Data".into(),
            options: TrainOptions::default(),
        }
    }

    /// The same recipe at the scale of the embedded `mini-llava` (a few million weights
    /// trained from scratch): every weight trained (no LoRA), lr 1e-3, batch 8, 5 epochs. The
    /// paper's recipe, [`Finetune::paper`], is unchanged.
    ///
    /// ```
    /// let ft = mllmu::train::Finetune::mini();
    /// assert!(ft.options.lora.is_none());
    /// assert_eq!((ft.set.as_str(), ft.options.lr, ft.options.batch_size), ("ft_Data", 1e-3, 8));
    /// ```
    pub fn mini() -> Self {
        let mut ft = Finetune::paper();
        ft.options.lora = None;
        ft.options.lr = 1e-3;
        ft.options.batch_size = 8;
        ft.options.epochs = 5;
        ft
    }

    /// The retain-only model of a forget ratio: this recipe on `ft_Data` without the forget
    /// profiles (the `retain_{100-ratio}` rows of `ft_Data`), as the reference's
    /// `reference_model_FT.py` trains NPO's reference. A model that truly forgot should look
    /// like it.
    ///
    /// ```
    /// let ft = mllmu::train::Finetune::mini().retain_only(10);
    /// assert_eq!(ft.set, "retain_90");
    /// ```
    pub fn retain_only(mut self, forget_ratio: u8) -> Self {
        self.set = format!("retain_{}", 100 - u32::from(forget_ratio.min(100)));
        self
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
        let mut trainer = self.trainer(base, data)?;
        trainer.run()?;
        trainer.finish()
    }

    /// The trainer of this run, for step-by-step use.
    pub fn trainer(&self, base: &Model, data: TrainData) -> Result<Trainer> {
        let objective = ObjectiveSpec::Finetune(Nll::default());
        Trainer::new(base, objective, data, self.options.clone(), None)
    }
}
