//! The model side put together: [`BeyondOptions::measure`] takes one model's numbers
//! ([`Measured`]: per-question truth ratios, membership-inference scores), and
//! [`BeyondRun::new`] turns them, with the retain-only model's when there is one, into the
//! report's [`Beyond`] block.
//!
//! * **Truth ratio** on the forget, test and a seeded sample of the retain profiles, every
//!   multiple-choice question in both modalities ([`super::questions`]).
//! * **Forget quality**: KS p-value between the forget-set truth ratios of the model and of
//!   the retain-only model.
//! * **Membership inference**: the forget profiles' `ft_Data` answers (candidates) against
//!   non-members: a holdout of never-trained profiles when given, else the sampled retain
//!   profiles' answers (MUSE's setting needs the holdout; against the retain set a model
//!   trained on both sits near ½). **PrivLeak** from the Min-K%++ AUCs of the model and the
//!   retain-only model.
//! * **Cross-modal consistency**: a fact is a forget profile's multiple-choice question `i`
//!   asked with the portrait and with the name (image question `i` and pure-text question
//!   `i`); it counts as *forgotten* in a modality when the model does not give the correct
//!   option the strictly highest likelihood ([`QuestionTruth::known`]) — simply wrong, not
//!   relative to the vanilla model. The score is the fraction of facts whose two modalities
//!   agree (forgotten both ways or neither), with a profile-bootstrap interval.

use crate::bench::{Profile, Split};
use crate::eval::beyond::cross_modal::{cross_modal, CrossModal, FactForgetting};
use crate::eval::beyond::membership::{MiaScores, MIN_K};
use crate::eval::beyond::privleak::privleak;
use crate::eval::beyond::questions::{score_questions, QuestionTruth};
use crate::eval::beyond::report::{cross_modal_ci, truth_ratio_ci, PerSet};
use crate::eval::beyond::truth_ratio::TruthRatioAggregate;
use crate::eval::beyond::{forget_quality, Beyond, BeyondCi95};
use crate::eval::items::{EvalMode, Modality};
use crate::eval::metrics::bootstrap::{BootstrapOptions, ProfileScore};
use crate::model::Model;
use crate::train::data::SampleSet;
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Settings of the model-side measurements.
///
/// ```
/// let o = mllmu::eval::beyond::measure::BeyondOptions::default();
/// assert_eq!((o.min_k, o.retain_profiles), (0.2, 20));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeyondOptions {
    /// Samples per forward pass.
    pub batch_size: usize,
    /// Min-K% fraction.
    pub min_k: f64,
    /// Retain profiles scored (a seeded sample; all when there are fewer).
    pub retain_profiles: usize,
    /// Seed of the retain sample and of the bootstrap.
    pub seed: u64,
    /// Bootstrap settings of the intervals (its seed is [`BeyondOptions::seed`]).
    pub bootstrap: BootstrapOptions,
}

impl Default for BeyondOptions {
    fn default() -> Self {
        BeyondOptions {
            batch_size: crate::eval::options::DEFAULT_BATCH_SIZE,
            min_k: MIN_K,
            retain_profiles: 20,
            seed: 0,
            bootstrap: BootstrapOptions::default(),
        }
    }
}

/// One model's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Every multiple-choice question of the forget, test and sampled retain profiles.
    pub questions: Vec<QuestionTruth>,
    /// Attack scores of the forget profiles' `ft_Data` answers.
    pub mia_forget: MiaScores,
    /// Attack scores of the non-members' answers.
    pub mia_non_members: MiaScores,
    /// What the non-members are: `holdout: NAME` or `retain sample`.
    pub non_members: String,
}

impl Measured {
    /// The truth ratios of one set, tagged with their profiles.
    pub fn truth_ratios(&self, set: EvalMode) -> Vec<ProfileScore> {
        self.questions
            .iter()
            .filter(|q| q.set == set)
            .map(|q| ProfileScore::new(q.profile.clone(), q.truth_ratio))
            .collect()
    }

    /// The forget profiles' facts, image question `i` paired with pure-text question `i`.
    pub fn facts(&self) -> Vec<FactForgetting> {
        let forget = |m: Modality| {
            self.questions
                .iter()
                .filter(move |q| q.set == EvalMode::Forget && q.modality == m)
        };
        forget(Modality::ImageTextual)
            .filter_map(|img| {
                forget(Modality::PureText)
                    .find(|t| t.profile == img.profile && t.index == img.index)
                    .map(|txt| FactForgetting {
                        profile: img.profile.clone(),
                        forgotten_with_image: !img.known(),
                        forgotten_with_name: !txt.known(),
                    })
            })
            .collect()
    }
}

impl BeyondOptions {
    /// The retain profiles scored: a seeded sample of [`BeyondOptions::retain_profiles`].
    pub fn retain_sample<'a>(&self, split: &'a Split) -> Vec<&'a Profile> {
        let mut all: Vec<&Profile> = split.retain().iter().collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        all.shuffle(&mut rng);
        all.truncate(self.retain_profiles);
        all
    }

    /// Measures `model` on `split`; `holdout` (never-trained answers, named) are the
    /// membership non-members when given.
    pub fn measure(
        &self,
        model: &Model,
        split: &Split,
        holdout: Option<&SampleSet>,
    ) -> Result<Measured> {
        if self.retain_profiles == 0 {
            return Err(Error::param(
                "--beyond-retain-profiles",
                0,
                "must be at least 1",
            ));
        }
        let retain: Vec<Profile> = self.retain_sample(split).into_iter().cloned().collect();
        let mut questions = Vec::new();
        let sets = [
            (EvalMode::Forget, split.forget()),
            (EvalMode::Test, split.test()),
            (EvalMode::RetainShared, &retain[..]),
        ];
        for (set, profiles) in sets {
            questions.extend(score_questions(model, set, profiles, self.batch_size)?);
        }
        let forget = SampleSet::forget(split)?;
        let mia_forget = MiaScores::measure(model, &forget, self.batch_size, self.min_k)?;
        let (non_members, name) = match holdout {
            Some(h) => (h.clone(), format!("holdout: {}", h.name)),
            None => {
                let ids: Vec<_> = retain.iter().map(|p| p.id.clone()).collect();
                let rows: Vec<_> = split
                    .ft_retain()
                    .iter()
                    .filter(|r| r.id.as_ref().is_some_and(|id| ids.contains(id)))
                    .cloned()
                    .collect();
                let set = if rows.len() == retain.len() {
                    SampleSet::from_ft_rows("retain sample", &rows)
                } else {
                    SampleSet::from_profiles("retain sample", &retain)
                };
                (set, "retain sample".to_string())
            }
        };
        let mia_non_members = MiaScores::measure(model, &non_members, self.batch_size, self.min_k)?;
        Ok(Measured {
            questions,
            mia_forget,
            mia_non_members,
            non_members: name,
        })
    }

    /// Measures `model` and, when given, the retain-only model (`retain`: the model and a
    /// name for it), and combines them ([`BeyondRun::new`]).
    ///
    /// ```
    /// use mllmu::{bench::{Bench, MiniConfig}, eval::beyond::BeyondOptions, model::Model};
    /// let dir = tempfile::tempdir().unwrap();
    /// let cfg = MiniConfig { profiles: 20, celebrities: 1, ..MiniConfig::default() };
    /// let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg)?)?;
    /// let split = bench.split(10)?;
    /// let model = Model::load(mllmu::model::embedded::write_mini_llava(dir.path().join("m"))?, &candle_core::Device::Cpu)?;
    /// let opts = BeyondOptions { retain_profiles: 2, ..BeyondOptions::default() };
    /// let run = opts.run(&model, Some((&model, "itself")), &split, None)?;
    /// assert_eq!(run.beyond.forget_quality, Some(1.0));
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn run(
        &self,
        model: &Model,
        retain: Option<(&Model, &str)>,
        split: &Split,
        holdout: Option<&SampleSet>,
    ) -> Result<BeyondRun> {
        let boot = BootstrapOptions {
            seed: self.seed,
            ..self.bootstrap
        };
        let ours = self.measure(model, split, holdout)?;
        match retain {
            Some((m, name)) => {
                let theirs = self.measure(m, split, holdout)?;
                BeyondRun::new(ours, Some((&theirs, name)), &boot)
            }
            None => BeyondRun::new(ours, None, &boot),
        }
    }
}

/// The `"beyond"` numbers of one model, their intervals, and what they came from (saved in
/// `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeyondRun {
    /// The `"beyond"` block.
    pub beyond: Beyond,
    /// The `"beyond_ci95"` block.
    pub ci95: BeyondCi95,
    /// The four classes of the forget profiles' facts.
    pub cross_modal: Option<CrossModal>,
    /// The retain-only model's folder, when one was compared against.
    pub retain_model: Option<String>,
    /// The retain-only model's MIA AUCs (the PrivLeak baseline).
    pub retain_mia_auc: Option<crate::eval::beyond::report::MiaAucs>,
    /// This model's measurements.
    pub measured: Measured,
}

impl BeyondRun {
    /// Combines a model's measurements with the retain-only model's (`retain`: its
    /// measurements and a name for it). Numbers whose input is missing stay `None`:
    /// forget quality and PrivLeak without a retain model, a truth ratio of a set with no
    /// question, PrivLeak when the retain model's AUC is 0.
    ///
    /// ```no_run
    /// # fn demo(m: mllmu::eval::beyond::measure::Measured) -> mllmu::Result<()> {
    /// use mllmu::eval::beyond::measure::BeyondRun;
    /// let own = BeyondRun::new(m.clone(), Some((&m, "itself")), &Default::default())?;
    /// assert_eq!(own.beyond.forget_quality, Some(1.0));
    /// assert_eq!(own.beyond.privleak, Some(0.0));
    /// # Ok(()) }
    /// ```
    pub fn new(
        measured: Measured,
        retain: Option<(&Measured, &str)>,
        boot: &BootstrapOptions,
    ) -> Result<BeyondRun> {
        let mut beyond = Beyond::default();
        let mut ci95 = BeyondCi95::default();
        for (set, key) in [
            (EvalMode::Forget, "forget"),
            (EvalMode::Test, "test"),
            (EvalMode::RetainShared, "retain"),
        ] {
            let ratios = measured.truth_ratios(set);
            if ratios.is_empty() {
                continue;
            }
            let value = TruthRatioAggregate::for_set(key).aggregate(&values(&ratios))?;
            let ci = truth_ratio_ci(key, &ratios, boot)?;
            match set {
                EvalMode::Forget => {
                    (beyond.truth_ratio.forget, ci95.truth_ratio.forget) = (Some(value), Some(ci))
                }
                EvalMode::Test => {
                    (beyond.truth_ratio.test, ci95.truth_ratio.test) = (Some(value), Some(ci))
                }
                _ => (beyond.truth_ratio.retain, ci95.truth_ratio.retain) = (Some(value), Some(ci)),
            }
        }
        let aucs =
            if measured.mia_forget.loss.is_empty() || measured.mia_non_members.loss.is_empty() {
                None
            } else {
                Some(measured.mia_forget.aucs(&measured.mia_non_members)?)
            };
        beyond.mia_auc = aucs;
        let facts = measured.facts();
        let classes = if facts.is_empty() {
            None
        } else {
            ci95.cross_modal_consistency = Some(cross_modal_ci(&facts, boot)?);
            Some(cross_modal(&facts)?)
        };
        beyond.cross_modal_consistency = classes.map(|c| c.consistency);
        let mut retain_mia_auc = None;
        if let Some((r, _)) = retain {
            let ours = values(&measured.truth_ratios(EvalMode::Forget));
            let theirs = values(&r.truth_ratios(EvalMode::Forget));
            if !ours.is_empty() && !theirs.is_empty() {
                beyond.forget_quality = Some(forget_quality(&ours, &theirs)?);
            }
            if !r.mia_forget.loss.is_empty() && !r.mia_non_members.loss.is_empty() {
                let theirs = r.mia_forget.aucs(&r.mia_non_members)?;
                retain_mia_auc = Some(theirs);
                if let Some(ours) = aucs {
                    if theirs.min_k_pp > 0.0 {
                        beyond.privleak = Some(privleak(ours.min_k_pp, theirs.min_k_pp)?);
                    }
                }
            }
        }
        Ok(BeyondRun {
            beyond,
            ci95,
            cross_modal: classes,
            retain_model: retain.map(|(_, n)| n.to_string()),
            retain_mia_auc,
            measured,
        })
    }

    /// The `"beyond"` and `"beyond_ci95"` JSON values.
    pub fn json(&self) -> (serde_json::Value, serde_json::Value) {
        let to = |r: serde_json::Result<serde_json::Value>| r.unwrap_or_default();
        (
            to(serde_json::to_value(self.beyond)),
            to(serde_json::to_value(self.ci95)),
        )
    }
}

fn values(r: &[ProfileScore]) -> Vec<f64> {
    r.iter().map(|p| p.score).collect()
}

/// Per-set values for a table row: `forget`, `test`, `retain`.
pub(crate) fn per_set<T: Copy>(p: &PerSet<T>) -> [(&'static str, Option<T>); 3] {
    [("forget", p.forget), ("test", p.test), ("retain", p.retain)]
}
