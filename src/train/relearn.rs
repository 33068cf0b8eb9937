//! [`Relearn`]: does forgetting survive a little fine-tuning? A seeded fraction of the
//! forget profiles is fine-tuned for a few steps on its `ft_Data` answers; the rest of the
//! forget set (the held-back profiles, never trained on here) is measured before and after:
//! multiple-choice accuracy by option likelihood (both modalities, [`QuestionTruth::known`]),
//! the forget-set truth-ratio aggregate, and the mean NLL of their `ft_Data` answers. Knowledge
//! that was only hidden comes back on profiles the relearning never showed.

use crate::bench::{Profile, Split};
use crate::eval::beyond::membership::{MiaScores, MIN_K};
use crate::eval::beyond::questions::{score_questions, QuestionTruth};
use crate::eval::beyond::truth_ratio::TruthRatioAggregate;
use crate::eval::items::EvalMode;
use crate::model::Model;
use crate::train::data::SampleSet;
use crate::train::finetune::Finetune;
use crate::train::trainer::TrainData;
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// A relearning attack: `fraction` of the forget profiles, `steps` optimizer steps of
/// `finetune`'s recipe (its set is ignored; its seed also draws the profiles).
///
/// ```
/// let r = mllmu::train::Relearn::mini(0.2, 10);
/// assert_eq!((r.fraction, r.steps), (0.2, 10));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relearn {
    /// Fraction of the forget profiles relearned, in (0, 1); at least one profile is
    /// relearned and one held back.
    pub fraction: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// The fine-tuning recipe (learning rate, batch, LoRA or full, seed).
    pub finetune: Finetune,
    /// Samples per scoring forward pass.
    pub batch_size: usize,
}

/// The held-back profiles' numbers at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RelearnScores {
    /// Multiple-choice accuracy (%) by option likelihood, both modalities.
    pub mc_accuracy: f64,
    /// Truth-ratio aggregate `mean(min(R, 1/R))` of their questions.
    pub truth_ratio: f64,
    /// Mean NLL per answer token of their `ft_Data` answers (mean of the LOSS scores).
    pub answer_nll: f64,
}

/// What a relearning run did and found (`mllmu relearn` prints it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelearnResult {
    /// Profiles fine-tuned on.
    pub relearned: Vec<String>,
    /// Profiles measured.
    pub held_back: Vec<String>,
    /// Optimizer steps run.
    pub steps: usize,
    /// Training loss of the first and last step.
    pub loss: [f64; 2],
    /// Before relearning.
    pub before: RelearnScores,
    /// After relearning.
    pub after: RelearnScores,
}

impl Relearn {
    /// The attack with the mini-llava fine-tuning recipe ([`Finetune::mini`]).
    pub fn mini(fraction: f64, steps: usize) -> Self {
        Relearn {
            fraction,
            steps,
            finetune: Finetune::mini(),
            batch_size: crate::eval::options::DEFAULT_BATCH_SIZE,
        }
    }

    /// The forget profiles relearned and held back (a seeded draw).
    pub fn draw<'a>(&self, split: &'a Split) -> Result<(Vec<&'a Profile>, Vec<&'a Profile>)> {
        let n = split.forget().len();
        if !(self.fraction > 0.0 && self.fraction < 1.0) {
            return Err(Error::param(
                "--fraction",
                self.fraction,
                "must lie strictly between 0 and 1",
            ));
        }
        if n < 2 {
            return Err(Error::param(
                "--forget",
                split.ratio(),
                format!("the forget set has {n} profile(s); relearning needs one to train on and one to hold back"),
            ));
        }
        let k = ((self.fraction * n as f64).round() as usize).clamp(1, n - 1);
        let mut all: Vec<&Profile> = split.forget().iter().collect();
        all.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            self.finetune.options.seed,
        ));
        let held = all.split_off(k);
        Ok((all, held))
    }

    fn scores(
        &self,
        model: &Model,
        held: &[Profile],
        answers: &SampleSet,
    ) -> Result<RelearnScores> {
        let qs: Vec<QuestionTruth> =
            score_questions(model, EvalMode::Forget, held, self.batch_size)?;
        let ratios: Vec<f64> = qs.iter().map(|q| q.truth_ratio).collect();
        let known = qs.iter().filter(|q| q.known()).count();
        Ok(RelearnScores {
            mc_accuracy: 100.0 * known as f64 / qs.len().max(1) as f64,
            truth_ratio: TruthRatioAggregate::CloserToOne.aggregate(&ratios)?,
            answer_nll: MiaScores::measure(model, answers, self.batch_size, MIN_K)?.mean_loss(),
        })
    }

    /// Runs the attack on `model` (an unlearned model) for the forget set of `split`.
    ///
    /// ```
    /// use mllmu::{bench::{Bench, MiniConfig}, model::Model, train::Relearn};
    /// let dir = tempfile::tempdir().unwrap();
    /// let cfg = MiniConfig { profiles: 20, celebrities: 1, ..MiniConfig::default() };
    /// let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg)?)?;
    /// let model = Model::load(mllmu::model::embedded::write_mini_llava(dir.path().join("m"))?, &candle_core::Device::Cpu)?;
    /// let r = Relearn::mini(0.5, 1).run(&model, &bench.split(10)?)?;
    /// assert_eq!((r.relearned.len(), r.held_back.len(), r.steps), (1, 1, 1));
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn run(&self, model: &Model, split: &Split) -> Result<RelearnResult> {
        if self.steps == 0 {
            return Err(Error::param("--steps", 0, "must be at least 1"));
        }
        let (train, held) = self.draw(split)?;
        // The profiles' `ft_Data` rows when it has them all, else their generation questions.
        let as_set = |name: &str, ps: &[&Profile]| {
            let rows: Vec<crate::bench::FtRow> = (split.ft_forget().iter())
                .filter(|r| (r.id.as_ref()).is_some_and(|id| ps.iter().any(|p| &p.id == id)))
                .cloned()
                .collect();
            let owned: Vec<Profile> = ps.iter().map(|p| (*p).clone()).collect();
            let set = if rows.len() == ps.len() {
                SampleSet::from_ft_rows(name, &rows)
            } else {
                SampleSet::from_profiles(name, &owned)
            };
            (set, owned)
        };
        let (train_set, _) = as_set("relearn", &train);
        let (held_set, held_profiles) = as_set("held back", &held);
        let before = self.scores(model, &held_profiles, &held_set)?;

        let mut ft = self.finetune.clone();
        let batches = train_set.len().div_ceil(ft.options.batch_size.max(1));
        ft.options.epochs = self.steps.div_ceil(batches.max(1));
        ft.options.max_steps = Some(self.steps);
        ft.options.out_dir = None;
        let trained = ft.run_on(
            model,
            TrainData {
                primary: train_set,
                retain: None,
            },
        )?;
        let after = self.scores(&trained.model, &held_profiles, &held_set)?;
        let h = &trained.history.records;
        Ok(RelearnResult {
            relearned: train.iter().map(|p| p.id.as_str().to_string()).collect(),
            held_back: held.iter().map(|p| p.id.as_str().to_string()).collect(),
            steps: h.len(),
            loss: [
                h.first().map_or(f64::NAN, |r| r.loss),
                h.last().map_or(f64::NAN, |r| r.loss),
            ],
            before,
            after,
        })
    }
}
