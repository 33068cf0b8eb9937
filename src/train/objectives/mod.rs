//! Fine-tuning and unlearning objectives as small, tested formulas.
//!
//! Each objective is a plain struct of hyper-parameters (`Default` = the reference or paper
//! setting, documented per field with its source) with a `loss(...)` on tensors: the
//! logits of the current model on a batch ([`Pass`]), a reference model's logits, or
//! hidden states. Its [`Objective`] impl tells the trainer which forward passes to run
//! and picks its inputs from their [`Passes`].
//!
//! | objective | loss (NLL = token-mean NLL of [`token_mean_nll`] unless noted) | source |
//! |---|---|---|
//! | [`Nll`] (fine-tuning) | NLL | `finetune.py` |
//! | [`GradAscent`] | −NLL_forget | `GA.py` |
//! | [`GradDiff`] | −w_f·NLL_forget + w_r·NLL_retain (passes in sequence or paired) | `GA_Difference.py` |
//! | [`KlMin`] | −NLL_forget; NLL_retain + KL(vanilla ‖ current) on retain | `KL_Min.py` |
//! | [`Npo`] | −(2/β)·logσ(β(L_cur − L_ref)) batch-level, or the NPO paper's per-sequence form | `NPO.py`, Zhang et al. 2024 |
//! | [`SimNpo`] | −(2/β)·mean logσ(−(β/\|y\|)·log π(y\|x) − γ) (+ retain NLL) | Fan et al. 2024 |
//! | [`IdkNll`] | NLL on refusal answers (+ retain NLL) | TOFU "idk" |
//! | [`IdkDpo`] | DPO, refusal preferred over the original answer | TOFU "dpo" |
//! | [`Rmu`] | mean‖h(x_f) − c·u‖² + α·mean‖h(x_r) − h_frozen(x_r)‖² | Li et al. 2024 (WMDP) |

mod grad_ascent;
mod grad_diff;
mod idk;
mod idk_dpo;
mod kl_min;
mod nll;
mod npo;
mod rmu;
mod simnpo;

pub use grad_ascent::GradAscent;
pub use grad_diff::GradDiff;
pub use idk::{IdkAnswers, IdkNll, IDK_TEMPLATES};
pub use idk_dpo::IdkDpo;
pub use kl_min::{KlMin, KlReduction};
pub use nll::Nll;
pub use npo::{Npo, NpoForm};
pub use rmu::{Hidden, Rmu};
pub use simnpo::SimNpo;

use crate::train::loss::{token_mean_nll, zero, Pass};
use crate::train::schedule::Stepping;
use crate::{Error, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// What a training objective is to the trainer: the forward passes it needs on a
/// micro-batch, how it visits the forget and retain sets, and its loss on those passes.
///
/// The trainer runs the passes [`Objective::needs`] lists, in one fixed order (current
/// model on the refusal batch, on the forget batch, reference model on those two, current
/// then reference model on the retain batch), and hands them to [`Objective::loss_on`].
/// Each objective's own `loss` method is the formula on plain tensors.
///
/// ```
/// use mllmu::train::objectives::{GradAscent, Objective, Passes};
/// use mllmu::train::Pass;
/// use candle_core::{DType, Device, Tensor};
/// let logits = Tensor::zeros((1, 2, 8), DType::F32, &Device::Cpu).unwrap();
/// let labels = Tensor::new(&[[1i64, 5]], &Device::Cpu).unwrap();
/// let passes = Passes { forget: Some(Pass::new(&logits, &labels, None)), ..Passes::default() };
/// let ga = GradAscent::default();
/// assert!(ga.needs().forget && !ga.needs().retain);
/// let l = ga.loss_on(&passes).unwrap().to_scalar::<f32>().unwrap();
/// assert!((l + 8f32.ln()).abs() < 1e-6);
/// ```
pub trait Objective {
    /// The objective's name (`"npo"`, `"grad_diff"`, ...), as in the JSON tag.
    fn name(&self) -> &'static str;

    /// The forward passes one micro-batch needs. For [`Pairing::Sequential`] objectives
    /// this lists both sets' passes; a micro-batch then carries one of the two.
    fn needs(&self) -> Needs;

    /// How the forget and retain sets are visited.
    fn pairing(&self) -> Pairing {
        Pairing::Paired
    }

    /// Checks the hyper-parameters against a model with `decoder_layers` layers.
    fn check(&self, _decoder_layers: usize) -> Result<()> {
        Ok(())
    }

    /// Whether the trainable tensor `name` is trained (RMU trains a few only).
    fn trains(&self, _name: &str) -> bool {
        true
    }

    /// The loss on the passes of one micro-batch.
    fn loss_on(&self, passes: &Passes) -> Result<Tensor>;
}

/// How the forget and retain sets are visited by two-set objectives (GradDiff, KL_Min).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pairing {
    /// The reference: each epoch runs a full pass over the forget batches (one optimizer
    /// step per batch, forget term only), then a full pass over the retain batches
    /// (retain terms only).
    Sequential,
    /// One step per (forget batch, retain batch) pair with both terms in one loss (the
    /// default).
    #[default]
    Paired,
}

/// The forward passes an objective needs for one optimizer step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// The current model on a forget batch.
    pub forget: bool,
    /// The current model on a retain batch.
    pub retain: bool,
    /// The current model on the forget questions with refusal answers.
    pub idk: bool,
    /// The reference model on the forget batch (no gradient).
    pub reference_forget: bool,
    /// The reference model on the retain batch (no gradient).
    pub reference_retain: bool,
    /// The reference model on the refusal batch (no gradient).
    pub reference_idk: bool,
    /// Hidden states of this decoder layer instead of logits (RMU).
    pub hidden_layer: Option<usize>,
}

impl Needs {
    /// Whether a frozen reference model runs.
    pub fn reference(&self) -> bool {
        self.reference_forget || self.reference_retain || self.reference_idk
    }
}

/// The outputs of one micro-batch's forward passes, as [`Objective::needs`] listed them
/// (`None` where not needed or where the micro-batch has no such batch).
///
/// A current-model pass holds the logits, or the hidden states of
/// [`Needs::hidden_layer`] in `logits` (`[B, L, H]`), with its batch's labels and mask. A
/// reference output is the frozen model's on the same batch, detached.
#[derive(Debug, Clone, Copy, Default)]
pub struct Passes<'a> {
    /// The current model on the forget (or fine-tuning) batch.
    pub forget: Option<Pass<'a>>,
    /// The current model on the retain batch.
    pub retain: Option<Pass<'a>>,
    /// The current model on the refusal batch.
    pub idk: Option<Pass<'a>>,
    /// The reference model on the forget batch.
    pub reference_forget: Option<&'a Tensor>,
    /// The reference model on the retain batch.
    pub reference_retain: Option<&'a Tensor>,
    /// The reference model on the refusal batch.
    pub reference_idk: Option<&'a Tensor>,
}

/// `x`, or an error naming the `what` batch that `objective` needs and lacks.
pub(crate) fn required<T>(x: Option<T>, what: &str, objective: &str) -> Result<T> {
    x.ok_or_else(|| {
        Error::param(
            "unit",
            what,
            format!("the {objective} objective needs a {what} batch here"),
        )
    })
}

/// The enum of every objective, with [`ObjectiveSpec::objective`] and
/// [`ObjectiveSpec::all_defaults`] over its variants.
macro_rules! objective_spec {
    ($($(#[$meta:meta])* $variant:ident($ty:ident),)*) => {
        /// Any objective, tagged by name: what the run manifest records.
        ///
        /// ```
        /// use mllmu::train::objectives::{Npo, ObjectiveSpec};
        /// let spec = ObjectiveSpec::Npo(Npo::default());
        /// let json = serde_json::to_string(&spec).unwrap();
        /// assert!(json.starts_with("{\"objective\":\"npo\",\"beta\":0.4"));
        /// assert_eq!(serde_json::from_str::<ObjectiveSpec>(&json).unwrap(), spec);
        /// assert!(spec.needs().reference_forget && !spec.needs().retain);
        /// ```
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "objective", rename_all = "snake_case")]
        pub enum ObjectiveSpec {
            $($(#[$meta])* $variant($ty),)*
        }

        impl ObjectiveSpec {
            /// The objective inside.
            pub fn objective(&self) -> &dyn Objective {
                match self {
                    $(ObjectiveSpec::$variant(o) => o,)*
                }
            }

            /// Every objective's default, in the order of the table above.
            pub fn all_defaults() -> Vec<ObjectiveSpec> {
                vec![$(ObjectiveSpec::$variant($ty::default()),)*]
            }
        }
    };
}

objective_spec! {
    /// Fine-tuning (the vanilla model, the NPO reference model).
    Finetune(Nll),
    /// Gradient ascent on the forget set.
    GradAscent(GradAscent),
    /// Gradient difference.
    GradDiff(GradDiff),
    /// KL minimisation.
    KlMin(KlMin),
    /// Negative preference optimisation.
    Npo(Npo),
    /// Reference-free, length-normalised NPO.
    #[serde(rename = "simnpo")]
    SimNpo(SimNpo),
    /// Fine-tuning on refusals.
    IdkNll(IdkNll),
    /// DPO towards refusals.
    IdkDpo(IdkDpo),
    /// Representation misdirection.
    Rmu(Rmu),
}

impl ObjectiveSpec {
    /// The objective's name (`"npo"`, `"grad_diff"`, ...), as in the JSON tag.
    pub fn name(&self) -> &'static str {
        self.objective().name()
    }

    /// The forward passes one micro-batch needs ([`Objective::needs`]).
    pub fn needs(&self) -> Needs {
        self.objective().needs()
    }

    /// How the forget and retain sets are visited (`Paired` for one-set objectives).
    pub fn pairing(&self) -> Pairing {
        self.objective().pairing()
    }

    /// The default objective called `name`.
    pub fn from_name(name: &str) -> Result<ObjectiveSpec> {
        Self::all_defaults()
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::all_defaults().iter().map(|o| o.name()).collect();
                Error::param(
                    "objective",
                    name,
                    format!(
                        "unknown objective\nhint: choose one of {}",
                        names.join(", ")
                    ),
                )
            })
    }

    /// When the reference script steps its learning-rate scheduler: once per epoch for
    /// GradDiff and KL_Min run in sequence (SPEC.md Q21), per batch otherwise.
    pub fn reference_stepping(&self) -> Stepping {
        match self.pairing() {
            Pairing::Sequential => Stepping::PerEpoch,
            Pairing::Paired => Stepping::PerBatch,
        }
    }
}

/// Rejects a missing retain batch when the retain weight asks for one.
pub(crate) fn check_retain<T>(
    objective: &str,
    weight: f64,
    retain: Option<T>,
) -> Result<Option<T>> {
    if weight > 0.0 && retain.is_none() {
        return Err(Error::param(
            format!("{objective}.retain_weight"),
            weight,
            "a retain batch is required when the retain weight is > 0\nhint: pass the retain pass, or set retain_weight to 0",
        ));
    }
    Ok(if weight > 0.0 { retain } else { None })
}

/// `loss + weight·NLL(retain)` when there is a retain pass.
pub(crate) fn plus_retain(loss: Tensor, weight: f64, retain: Option<&Pass>) -> Result<Tensor> {
    match retain {
        Some(r) => Ok((loss + token_mean_nll(r)?.affine(weight, 0.0)?)?),
        None => Ok(loss),
    }
}

/// A zero loss on the device of `pass`; an error when `objective` got no batch at all.
pub(crate) fn zero_on(objective: &str, pass: Option<&Pass>) -> Result<Tensor> {
    match pass {
        Some(p) => zero(p.logits.device()),
        None => Err(Error::param(
            objective,
            "no batch",
            "needs a forget batch, a retain batch or both",
        )),
    }
}

#[cfg(test)]
pub(crate) use crate::train::loss::testutil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let all = ObjectiveSpec::all_defaults();
        let names: Vec<&str> = all.iter().map(|o| o.name()).collect();
        assert_eq!(
            names,
            [
                "finetune",
                "grad_ascent",
                "grad_diff",
                "kl_min",
                "npo",
                "simnpo",
                "idk_nll",
                "idk_dpo",
                "rmu"
            ]
        );
        for o in &all {
            let json = serde_json::to_string(o).unwrap();
            assert!(
                json.contains(&format!("\"objective\":\"{}\"", o.name())),
                "{json}"
            );
            assert_eq!(&serde_json::from_str::<ObjectiveSpec>(&json).unwrap(), o);
            assert_eq!(&ObjectiveSpec::from_name(o.name()).unwrap(), o);
        }
        let e = ObjectiveSpec::from_name("ga").unwrap_err().to_string();
        assert!(
            e.contains("invalid objective = ga") && e.contains("grad_ascent"),
            "{e}"
        );
    }

    #[test]
    fn reference_stepping_follows_the_scripts() {
        assert_eq!(
            ObjectiveSpec::GradDiff(GradDiff::default()).reference_stepping(),
            Stepping::PerEpoch
        );
        assert_eq!(
            ObjectiveSpec::KlMin(KlMin::default()).reference_stepping(),
            Stepping::PerEpoch
        );
        assert_eq!(
            ObjectiveSpec::Npo(Npo::default()).reference_stepping(),
            Stepping::PerBatch
        );
        let paired = GradDiff {
            pairing: Pairing::Paired,
            ..Default::default()
        };
        assert_eq!(
            ObjectiveSpec::GradDiff(paired).reference_stepping(),
            Stepping::PerBatch
        );
        let rmu = ObjectiveSpec::Rmu(Rmu::default()).needs();
        assert_eq!(rmu.hidden_layer, Some(7));
        let simnpo = ObjectiveSpec::SimNpo(SimNpo {
            retain_weight: 0.0,
            ..Default::default()
        })
        .needs();
        assert!(simnpo.forget && !simnpo.retain && !simnpo.reference_forget);
    }
}
