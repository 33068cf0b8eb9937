//! Fine-tuning and unlearning objectives as small, tested formulas.
//!
//! Each objective is a plain struct of hyper-parameters (`Default` = the reference or paper
//! setting, documented per field with its source) with a `loss(...)` on tensors: the
//! logits of the current model on a batch ([`Pass`](crate::train::Pass)), a reference
//! model's logits, or hidden states. The training loop runs the forward passes listed by
//! [`ObjectiveSpec::needs`] and hands the results over.
//!
//! | objective | loss (NLL = token-mean NLL of [`token_mean_nll`](crate::train::loss::token_mean_nll) unless noted) | source |
//! |---|---|---|
//! | [`Finetune`] | NLL | `finetune.py` |
//! | [`GradAscent`] | −NLL_forget | `GA.py` |
//! | [`GradDiff`] | −w_f·NLL_forget + w_r·NLL_retain (passes in sequence or paired) | `GA_Difference.py` |
//! | [`KlMin`] | −NLL_forget; NLL_retain + KL(vanilla ‖ current) on retain | `KL_Min.py` |
//! | [`Npo`] | −(2/β)·logσ(β(L_cur − L_ref)) batch-level, or the NPO paper's per-sequence form | `NPO.py`, Zhang et al. 2024 |
//! | [`SimNpo`] | −(2/β)·mean logσ(−(β/\|y\|)·log π(y\|x) − γ) (+ retain NLL) | Fan et al. 2024 |
//! | [`IdkNll`] | NLL on refusal answers (+ retain NLL) | TOFU "idk" |
//! | [`IdkDpo`] | DPO, refusal preferred over the original answer | TOFU "dpo" |
//! | [`Rmu`] | mean‖h(x_f) − c·u‖² + α·mean‖h(x_r) − h_frozen(x_r)‖² | Li et al. 2024 (WMDP) |

mod finetune;
mod grad_ascent;
mod grad_diff;
mod idk;
mod idk_dpo;
mod kl_min;
mod npo;
mod rmu;
mod simnpo;

pub use finetune::Finetune;
pub use grad_ascent::GradAscent;
pub use grad_diff::GradDiff;
pub use idk::{IdkAnswers, IdkNll, IDK_TEMPLATES};
pub use idk_dpo::IdkDpo;
pub use kl_min::{KlMin, KlReduction};
pub use npo::{Npo, NpoForm};
pub use rmu::{Hidden, Rmu};
pub use simnpo::SimNpo;

use crate::train::schedule::Stepping;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the forget and retain sets are visited by two-set objectives (GradDiff, KL_Min).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pairing {
    /// The reference: each epoch runs a full pass over the forget batches (one optimizer
    /// step per batch, forget term only), then a full pass over the retain batches
    /// (retain terms only).
    Sequential,
    /// One step per (forget batch, retain batch) pair with both terms in one loss.
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
    /// Fine-tuning (the vanilla model, the NPO reference model).
    Finetune(Finetune),
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
        match self {
            ObjectiveSpec::Finetune(o) => o.name(),
            ObjectiveSpec::GradAscent(o) => o.name(),
            ObjectiveSpec::GradDiff(o) => o.name(),
            ObjectiveSpec::KlMin(o) => o.name(),
            ObjectiveSpec::Npo(o) => o.name(),
            ObjectiveSpec::SimNpo(o) => o.name(),
            ObjectiveSpec::IdkNll(o) => o.name(),
            ObjectiveSpec::IdkDpo(o) => o.name(),
            ObjectiveSpec::Rmu(o) => o.name(),
        }
    }

    /// Every objective's default, in the order of the table above.
    pub fn all_defaults() -> Vec<ObjectiveSpec> {
        vec![
            ObjectiveSpec::Finetune(Finetune::default()),
            ObjectiveSpec::GradAscent(GradAscent::default()),
            ObjectiveSpec::GradDiff(GradDiff::default()),
            ObjectiveSpec::KlMin(KlMin::default()),
            ObjectiveSpec::Npo(Npo::default()),
            ObjectiveSpec::SimNpo(SimNpo::default()),
            ObjectiveSpec::IdkNll(IdkNll::default()),
            ObjectiveSpec::IdkDpo(IdkDpo::default()),
            ObjectiveSpec::Rmu(Rmu::default()),
        ]
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

    /// The forward passes one optimizer step needs. For [`Pairing::Sequential`] objectives
    /// this lists both passes; the loop runs them in separate steps.
    pub fn needs(&self) -> Needs {
        let none = Needs::default();
        match self {
            ObjectiveSpec::Finetune(_) => Needs {
                forget: true,
                ..none
            },
            ObjectiveSpec::GradAscent(_) => Needs {
                forget: true,
                ..none
            },
            ObjectiveSpec::GradDiff(_) => Needs {
                forget: true,
                retain: true,
                ..none
            },
            ObjectiveSpec::KlMin(_) => Needs {
                forget: true,
                retain: true,
                reference_retain: true,
                ..none
            },
            ObjectiveSpec::Npo(o) => Needs {
                forget: true,
                reference_forget: true,
                retain: o.retain_weight > 0.0,
                ..none
            },
            ObjectiveSpec::SimNpo(o) => Needs {
                forget: true,
                retain: o.retain_weight > 0.0,
                ..none
            },
            ObjectiveSpec::IdkNll(o) => Needs {
                idk: true,
                retain: o.retain_weight > 0.0,
                ..none
            },
            ObjectiveSpec::IdkDpo(o) => Needs {
                forget: true,
                idk: true,
                reference_forget: true,
                reference_idk: true,
                retain: o.retain_weight > 0.0,
                ..none
            },
            ObjectiveSpec::Rmu(o) => Needs {
                forget: true,
                retain: true,
                hidden_layer: Some(o.layer),
                ..none
            },
        }
    }

    /// How the forget and retain sets are visited (`Paired` for one-set objectives).
    pub fn pairing(&self) -> Pairing {
        match self {
            ObjectiveSpec::GradDiff(o) => o.pairing,
            ObjectiveSpec::KlMin(o) => o.pairing,
            _ => Pairing::Paired,
        }
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

/// Rejects non-finite or negative weights and non-positive temperatures.
pub(crate) fn check_positive(name: &str, value: f64) -> Result<()> {
    if !(value > 0.0 && value.is_finite()) {
        return Err(Error::param(name, value, "must be a finite number > 0"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A fixed tiny batch and f64 hand computations shared by the objective tests.
    use candle_core::{Device, Tensor};

    /// Logits `[2, 4, 5]`, a deterministic pattern offset by `shift`.
    pub fn logits_data(shift: f64) -> Vec<Vec<Vec<f64>>> {
        (0..2)
            .map(|b| {
                (0..4)
                    .map(|t| {
                        (0..5)
                            .map(|v| {
                                ((b * 31 + t * 7 + v * 3) % 11) as f64 * 0.37 - 1.5
                                    + shift * (v as f64 - 2.0)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    pub fn tensor(d: &[Vec<Vec<f64>>]) -> Tensor {
        let flat: Vec<f32> = d.iter().flatten().flatten().map(|&x| x as f32).collect();
        Tensor::from_vec(flat, (d.len(), d[0].len(), d[0][0].len()), &Device::Cpu).unwrap()
    }

    /// Labels: row 0 scores positions 1..3, row 1 scores positions 2..3.
    pub fn labels() -> Tensor {
        Tensor::new(&[[-100i64, 3, 4, 1], [-100i64, -100, 2, 0]], &Device::Cpu).unwrap()
    }

    /// The (row, logit position, target) triples the labels keep.
    pub const KEPT: [(usize, usize, usize); 5] =
        [(0, 0, 3), (0, 1, 4), (0, 2, 1), (1, 1, 2), (1, 2, 0)];

    pub fn lsm(row: &[f64]) -> Vec<f64> {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|x| (x - m).exp()).sum();
        row.iter().map(|x| x - m - s.ln()).collect()
    }

    /// Token-mean NLL over KEPT.
    pub fn mean_nll(d: &[Vec<Vec<f64>>]) -> f64 {
        -KEPT.iter().map(|&(b, t, y)| lsm(&d[b][t])[y]).sum::<f64>() / KEPT.len() as f64
    }

    /// Per-row summed NLL and token counts over KEPT.
    pub fn seq_nll(d: &[Vec<Vec<f64>>]) -> (Vec<f64>, Vec<f64>) {
        let mut s = vec![0.0; 2];
        let mut n = vec![0.0; 2];
        for &(b, t, y) in &KEPT {
            s[b] -= lsm(&d[b][t])[y];
            n[b] += 1.0;
        }
        (s, n)
    }

    pub fn logsig(x: f64) -> f64 {
        -(1.0 + (-x).exp()).ln()
    }

    pub fn scalar(t: &Tensor) -> f64 {
        t.to_scalar::<f32>().unwrap() as f64
    }
}

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
