//! RMU, representation misdirection for unlearning (Li et al. 2024, "The WMDP Benchmark:
//! Measuring and Reducing Malicious Use With Unlearning", arXiv 2403.03218).
//!
//! On the output of one decoder layer ℓ (the residual stream after block ℓ, i.e.
//! transformers' `hidden_states[ℓ + 1]`):
//!
//! ```text
//! u  ~ U[0, 1)^H, normalised to ‖u‖ = 1, fixed for the run (seeded)
//! L  = mean (h_θ(x_f) − c·u)²  +  α · mean (h_θ(x_r) − h_frozen(x_r))²
//! ```
//!
//! Means run over every element (`F.mse_loss`, reduction `mean`), padding included, as in
//! the authors' code; `masked = true` averages over attended positions only. Only the MLP
//! down-projections of layers `update_layers` are trained in the original.
//!
//! Defaults are the WMDP repository's Zephyr-7B settings (centerforaisafety/wmdp
//! `rmu/unlearn.py` arguments and README: `--layer_id 7 --layer_ids 5,6,7 --param_ids 6
//! --steering_coeffs 6.5 --alpha 1200 --lr 5e-5`); Zephyr-7B has the hidden size (4096) of
//! LLaVA-1.5-7B's Vicuna decoder, so they carry over as a starting point, untuned here.

use super::{required, Needs, Objective, Passes};
use crate::train::loss::{mse, Pass};
use crate::{Error, Result};
use candle_core::{Device, Tensor, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Hidden states of one layer on a batch, with the batch's padding mask.
#[derive(Debug, Clone, Copy)]
pub struct Hidden<'a> {
    /// `[B, L, H]`.
    pub states: &'a Tensor,
    /// `[B, L]`, non-zero for real tokens (used when `masked`).
    pub attention_mask: Option<&'a Tensor>,
}

impl<'a> From<Pass<'a>> for Hidden<'a> {
    /// A pass whose `logits` hold hidden states ([`Passes`]).
    fn from(p: Pass<'a>) -> Self {
        Hidden {
            states: p.logits,
            attention_mask: p.attention_mask,
        }
    }
}

/// RMU hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rmu {
    /// The decoder layer whose output is steered (7).
    pub layer: usize,
    /// Layers whose MLP `down_proj` is trained (5, 6, 7).
    pub update_layers: Vec<usize>,
    /// Steering coefficient c (6.5).
    pub steering_coeff: f64,
    /// Retain weight α (1200).
    pub alpha: f64,
    /// Seed of the random direction u.
    pub seed: u64,
    /// Average over attended positions only (false: all positions, as the original).
    pub masked: bool,
}

impl Default for Rmu {
    fn default() -> Self {
        Rmu {
            layer: 7,
            update_layers: vec![5, 6, 7],
            steering_coeff: 6.5,
            alpha: 1200.0,
            seed: 42,
            masked: false,
        }
    }
}

impl Rmu {
    /// The control vector `c·u`, `[hidden]` f32: u uniform in [0, 1) per component
    /// (ChaCha8 seeded with `seed`), normalised to unit length.
    ///
    /// ```
    /// use candle_core::Device;
    /// let c = mllmu::train::objectives::Rmu::default().control_vector(16, &Device::Cpu).unwrap();
    /// let norm = c.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
    /// assert!((norm - 6.5).abs() < 1e-4);
    /// ```
    pub fn control_vector(&self, hidden: usize, device: &Device) -> Result<Tensor> {
        if hidden == 0 {
            return Err(Error::param("hidden size", 0, "must be at least 1"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let u: Vec<f64> = (0..hidden).map(|_| rng.gen::<f64>()).collect();
        let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(Error::param(
                "rmu.seed",
                self.seed,
                "drew a zero direction; choose another seed",
            ));
        }
        let v: Vec<f32> = u
            .iter()
            .map(|x| (x / norm * self.steering_coeff) as f32)
            .collect();
        Ok(Tensor::from_vec(v, hidden, device)?)
    }

    /// `mean(h_f − control)² + α·mean(h_r − h_frozen)²`; the frozen states are detached.
    pub fn loss<'a>(
        &self,
        control: &Tensor,
        forget: &Hidden<'a>,
        retain: &Hidden<'a>,
        frozen_retain: &Tensor,
    ) -> Result<Tensor> {
        if frozen_retain.dims() != retain.states.dims() {
            return Err(Error::param(
                "frozen hidden states",
                format!("{:?}", frozen_retain.dims()),
                format!(
                    "expected {:?} like the retain hidden states",
                    retain.states.dims()
                ),
            ));
        }
        let masked = self.masked;
        let mask = |h: &Hidden<'a>| if masked { h.attention_mask } else { None };
        let forget_term = mse(forget.states, control, mask(forget))?;
        let retain_term = mse(retain.states, &frozen_retain.detach(), mask(retain))?;
        Ok((forget_term + retain_term.affine(self.alpha, 0.0)?)?)
    }
}

impl Objective for Rmu {
    fn name(&self) -> &'static str {
        "rmu"
    }

    /// Hidden states of `layer` on both sets, and the frozen model's on the retain set.
    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            retain: true,
            reference_retain: true,
            hidden_layer: Some(self.layer),
            ..Needs::default()
        }
    }

    fn check(&self, decoder_layers: usize) -> Result<()> {
        let n = decoder_layers;
        let mut layers = std::iter::once(&self.layer).chain(&self.update_layers);
        layers.find(|&&l| l >= n).map_or(Ok(()), |l| {
            let valid = format!("the model has {n} decoder layers (0..{n})");
            Err(Error::param("rmu.layer", l, valid))
        })
    }

    /// The MLP down-projections of `update_layers`.
    fn trains(&self, name: &str) -> bool {
        self.update_layers
            .iter()
            .any(|l| name.contains(&format!("language_model.model.layers.{l}.mlp.down_proj.")))
    }

    /// The control vector is drawn for the hidden size of the states (see
    /// [`Rmu::control_vector`]).
    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        let name = self.name();
        let (f, r) = (
            required(p.forget, "forget", name)?,
            required(p.retain, "retain", name)?,
        );
        let frozen = required(p.reference_retain, "reference", name)?;
        let control = self.control_vector(f.logits.dim(D::Minus1)?, f.logits.device())?;
        self.loss(&control, &f.into(), &r.into(), frozen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::scalar;

    #[test]
    fn control_vector_is_seeded_positive_and_scaled() {
        let draw = |r: &Rmu| {
            r.control_vector(32, &Device::Cpu)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let r = Rmu::default();
        let (a, b) = (draw(&r), draw(&r));
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| x >= 0.0));
        let c = draw(&Rmu {
            seed: 43,
            ..Default::default()
        });
        assert_ne!(a, c);
        let n: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 6.5).abs() < 1e-4);
    }

    #[test]
    fn loss_matches_hand_mse() {
        let d = Device::Cpu;
        let hf = Tensor::new(&[[[1f32, 0.0], [0.0, 2.0]]], &d).unwrap();
        let hr = Tensor::new(&[[[1f32, 1.0], [3.0, 3.0]]], &d).unwrap();
        let fr = Tensor::new(&[[[1f32, 0.0], [3.0, 5.0]]], &d).unwrap();
        let u = Tensor::new(&[2f32, 0.0], &d).unwrap();
        let mask = Tensor::new(&[[1u32, 0]], &d).unwrap();
        let r = Rmu {
            alpha: 10.0,
            ..Default::default()
        };
        let f = Hidden {
            states: &hf,
            attention_mask: Some(&mask),
        };
        let rt = Hidden {
            states: &hr,
            attention_mask: Some(&mask),
        };
        let got = scalar(&r.loss(&u, &f, &rt, &fr).unwrap());
        // forget: ((1-2)², 0², (0-2)², 2²)/4 = 9/4; retain: (0, 1, 0, 4)/4 = 5/4.
        assert!((got - (9.0 / 4.0 + 10.0 * 5.0 / 4.0)).abs() < 1e-5, "{got}");
        let masked = Rmu {
            alpha: 10.0,
            masked: true,
            ..Default::default()
        };
        let got = scalar(&masked.loss(&u, &f, &rt, &fr).unwrap());
        // position 0 only: forget (1 + 0)/2, retain (0 + 1)/2.
        assert!((got - (0.5 + 10.0 * 0.5)).abs() < 1e-5, "{got}");
        let e = r
            .loss(&u, &f, &rt, &hf.narrow(1, 0, 1).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("frozen hidden states"), "{e}");
    }
}
