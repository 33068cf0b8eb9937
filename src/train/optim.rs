//! AdamW exactly as `transformers.AdamW` (the optimizer of the benchmark's scripts).
//!
//! For each trainable tensor `p` that received a gradient `g` this step, with its own step
//! counter `t` (parameters without a gradient are skipped and keep their counter):
//!
//! ```text
//! m ← β1·m + (1−β1)·g
//! v ← β2·v + (1−β2)·g²
//! step_size = lr·√(1−β2^t)/(1−β1^t)          (lr when correct_bias is off)
//! p ← p − step_size · m / (√v + eps)          eps added to the *uncorrected* √v
//! p ← p − lr·weight_decay·p                   decoupled decay, after the update
//! ```
//!
//! This differs from `torch.optim.AdamW`, which adds eps after bias correction and decays
//! before the update. Moments are kept in f32 whatever the parameter dtype (candle-nn's
//! AdamW allocates them in the parameter dtype), and the state saves to and loads from
//! safetensors bit for bit, so a resumed run continues exactly.
//!
//! Source: transformers 4.45.1 `optimization.py` `AdamW.step`; fixtures README §3.

use super::adamw_fused;
use crate::model::fused;
use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// AdamW hyper-parameters (transformers.AdamW defaults, README learning rate).
///
/// ```
/// let p = mllmu::train::AdamWParams::default();
/// assert_eq!((p.lr, p.beta1, p.beta2, p.eps, p.weight_decay), (2e-5, 0.9, 0.999, 1e-6, 0.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWParams {
    /// Learning rate. The scripts' CLI default is 5e-4; the README runs use 2e-5 (SPEC.md §4).
    pub lr: f64,
    /// First-moment decay β1 (0.9).
    pub beta1: f64,
    /// Second-moment decay β2 (0.999).
    pub beta2: f64,
    /// Added to √v before dividing (1e-6, transformers' default; torch's is 1e-8).
    pub eps: f64,
    /// Decoupled weight decay (0.0 in the benchmark).
    pub weight_decay: f64,
    /// Bias correction of the step size (on).
    pub correct_bias: bool,
}

impl Default for AdamWParams {
    fn default() -> Self {
        AdamWParams {
            lr: 2e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.0,
            correct_bias: true,
        }
    }
}

impl AdamWParams {
    /// Rejects values transformers.AdamW rejects (negative lr or eps, betas outside [0, 1)),
    /// and a negative or non-finite weight decay.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return Err(Error::param(
                "lr",
                self.lr,
                "the learning rate must be a finite number >= 0",
            ));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::param(name, b, "must lie in [0, 1)"));
            }
        }
        for (name, x) in [("eps", self.eps), ("weight_decay", self.weight_decay)] {
            if !(x >= 0.0 && x.is_finite()) {
                return Err(Error::param(name, x, "must be a finite number >= 0"));
            }
        }
        Ok(())
    }
}

/// The per-tensor state: step counter and the two moments (f32, the tensor's shape).
#[derive(Debug, Clone)]
pub struct Moments {
    /// How many updates this tensor received.
    pub step: u64,
    /// First moment `m` (`exp_avg`).
    pub exp_avg: Tensor,
    /// Second moment `v` (`exp_avg_sq`).
    pub exp_avg_sq: Tensor,
}

/// Everything AdamW needs to resume: one entry per trainable tensor, `None` for tensors
/// that never received a gradient (like PyTorch's lazily created state).
#[derive(Debug, Clone, Default)]
pub struct OptimizerState {
    /// Aligned with the optimizer's variable list.
    pub slots: Vec<Option<Moments>>,
}

const META_KEY: &str = "mllmu-adamw";
const STATE_VERSION: u64 = 1;

impl OptimizerState {
    /// Serialises to safetensors bytes (deterministic): tensors `"{i}.exp_avg"`,
    /// `"{i}.exp_avg_sq"` and, in the metadata key `"mllmu-adamw"`, the JSON
    /// `{"version": 1, "steps": [...]}` with one step counter per slot (`null` for empty
    /// slots).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        let mut steps: Vec<Option<u64>> = Vec::with_capacity(self.slots.len());
        for (i, slot) in self.slots.iter().enumerate() {
            steps.push(slot.as_ref().map(|m| m.step));
            if let Some(m) = slot {
                for (name, t) in [("exp_avg", &m.exp_avg), ("exp_avg_sq", &m.exp_avg_sq)] {
                    tensors.push((format!("{i}.{name}"), t.to_device(&Device::Cpu)?));
                }
            }
        }
        // One metadata key, so that the header (a JSON map) is written deterministically.
        let header = serde_json::json!({ "version": STATE_VERSION, "steps": steps });
        let meta = HashMap::from([(META_KEY.to_string(), header.to_string())]);
        safetensors::serialize(tensors.iter().map(|(k, t)| (k.as_str(), t)), Some(meta)).map_err(
            |e| Error::Weights {
                dir: "<optimizer state>".into(),
                details: e.to_string(),
            },
        )
    }

    /// Parses what [`OptimizerState::to_bytes`] wrote, placing tensors on `device`.
    /// `what` names the source in errors (a file path).
    pub fn from_bytes(bytes: &[u8], device: &Device, what: &str) -> Result<Self> {
        let bad = |details: String| Error::Weights {
            dir: what.to_string(),
            details,
        };
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let Some(header) = meta.get(META_KEY) else {
            return Err(bad(format!(
                "not an mllmu AdamW state (no `{META_KEY}` metadata)"
            )));
        };
        #[derive(Deserialize)]
        struct Header {
            version: u64,
            steps: Vec<Option<u64>>,
        }
        let header: Header =
            serde_json::from_str(header).map_err(|e| bad(format!("metadata `{META_KEY}`: {e}")))?;
        if header.version != STATE_VERSION {
            return Err(bad(format!(
                "state version {} is not supported (expected {STATE_VERSION})",
                header.version
            )));
        }
        let mut tensors = candle_core::safetensors::load_buffer(bytes, device)?;
        let mut slots = Vec::with_capacity(header.steps.len());
        for (i, step) in header.steps.into_iter().enumerate() {
            let Some(step) = step else {
                slots.push(None);
                continue;
            };
            let m = tensors.remove(&format!("{i}.exp_avg"));
            let v = tensors.remove(&format!("{i}.exp_avg_sq"));
            let (Some(exp_avg), Some(exp_avg_sq)) = (m, v) else {
                return Err(bad(format!("slot {i}: missing exp_avg or exp_avg_sq")));
            };
            slots.push(Some(Moments {
                step,
                exp_avg,
                exp_avg_sq,
            }));
        }
        if let Some(k) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor `{k}`")));
        }
        Ok(OptimizerState { slots })
    }

    /// Writes the state atomically to `path` (safetensors).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a state written by [`OptimizerState::save`].
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        Self::from_bytes(&bytes, device, &path.display().to_string())
    }
}

/// transformers.AdamW over a list of candle [`Var`]s (see the module docs).
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use mllmu::train::{AdamW, AdamWParams};
/// let w = Var::new(&[1f32, -1.0], &Device::Cpu).unwrap();
/// let mut opt = AdamW::new(vec![w.clone()], AdamWParams { lr: 0.1, ..Default::default() }).unwrap();
/// let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
/// opt.step(&loss.backward().unwrap()).unwrap();
/// // The first step moves each weight by about lr against the gradient's sign.
/// let w1 = w.as_tensor().to_vec1::<f32>().unwrap();
/// assert!((w1[0] - 0.9).abs() < 1e-5 && (w1[1] + 0.9).abs() < 1e-5);
/// ```
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<Var>,
    params: AdamWParams,
    slots: Vec<Option<Moments>>,
}

impl AdamW {
    /// An optimizer over `vars` (checked parameters, empty state).
    pub fn new(vars: Vec<Var>, params: AdamWParams) -> Result<Self> {
        params.validate()?;
        let slots = vec![None; vars.len()];
        Ok(AdamW {
            vars,
            params,
            slots,
        })
    }

    /// The hyper-parameters.
    pub fn params(&self) -> &AdamWParams {
        &self.params
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.params.lr
    }

    /// Sets the learning rate (what a scheduler does before each step).
    pub fn set_lr(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// The trainable tensors, in state order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// One update from `grads`; tensors without a gradient are skipped. Returns how many
    /// tensors were updated.
    pub fn step(&mut self, grads: &GradStore) -> Result<usize> {
        let device = self
            .vars
            .first()
            .map_or(Device::Cpu, |v| v.device().clone());
        crate::model::device::on_pool(&device, || self.step_here(grads))
    }

    fn step_here(&mut self, grads: &GradStore) -> Result<usize> {
        let AdamWParams {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            correct_bias,
        } = self.params;
        let mut updated = 0;
        for (var, slot) in self.vars.iter().zip(self.slots.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = g.detach().to_dtype(DType::F32)?;
            let state = match slot.take() {
                Some(s) => s,
                None => Moments {
                    step: 0,
                    exp_avg: Tensor::zeros(var.shape(), DType::F32, var.device())?,
                    exp_avg_sq: Tensor::zeros(var.shape(), DType::F32, var.device())?,
                },
            };
            let t = state.step + 1;
            let step_size = if correct_bias {
                lr * (1.0 - beta2.powf(t as f64)).sqrt() / (1.0 - beta1.powf(t as f64))
            } else {
                lr
            };
            let p = var.as_tensor();
            let (m, v) = (&state.exp_avg, &state.exp_avg_sq);
            if fused::applies(&[p, &g, m, v]) {
                let decay = if weight_decay > 0.0 {
                    lr * weight_decay
                } else {
                    0.0
                };
                let s = adamw_fused::Step {
                    beta1,
                    beta2,
                    eps,
                    step_size,
                    decay,
                };
                adamw_fused::update(p, m, v, &g, s)?;
                *slot = Some(Moments { step: t, ..state });
                updated += 1;
                continue;
            }
            let m = (state.exp_avg.affine(beta1, 0.0)? + g.affine(1.0 - beta1, 0.0)?)?;
            let v = (state.exp_avg_sq.affine(beta2, 0.0)? + g.sqr()?.affine(1.0 - beta2, 0.0)?)?;
            let denom = v.sqrt()?.affine(1.0, eps)?;
            let p = var.as_tensor().detach().to_dtype(DType::F32)?;
            let mut next = (p - m.div(&denom)?.affine(step_size, 0.0)?)?;
            if weight_decay > 0.0 {
                next = (&next - next.affine(lr * weight_decay, 0.0)?)?;
            }
            var.set(&next.to_dtype(var.dtype())?)?;
            *slot = Some(Moments {
                step: t,
                exp_avg: m,
                exp_avg_sq: v,
            });
            updated += 1;
        }
        Ok(updated)
    }

    /// A copy of the state (the moments are copied: the next step updates the optimizer's
    /// own in place).
    pub fn state(&self) -> OptimizerState {
        let copy = |m: &Moments| -> Moments {
            let deep = |t: &Tensor| t.copy().unwrap_or_else(|_| t.clone());
            Moments {
                step: m.step,
                exp_avg: deep(&m.exp_avg),
                exp_avg_sq: deep(&m.exp_avg_sq),
            }
        };
        OptimizerState {
            slots: self.slots.iter().map(|s| s.as_ref().map(copy)).collect(),
        }
    }

    /// Restores a state saved from an optimizer over the same tensors (same count, same
    /// shapes), moving the moments to each tensor's device.
    pub fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        let bad = |details: String| Error::Weights {
            dir: "<optimizer state>".into(),
            details,
        };
        if state.slots.len() != self.vars.len() {
            return Err(bad(format!(
                "the state has {} tensors but the optimizer trains {}\nhint: resume with the same trainable parameters (LoRA rank and targets)",
                state.slots.len(),
                self.vars.len()
            )));
        }
        let mut slots = Vec::with_capacity(state.slots.len());
        for (i, (slot, var)) in state.slots.into_iter().zip(&self.vars).enumerate() {
            let Some(m) = slot else {
                slots.push(None);
                continue;
            };
            for (name, t) in [("exp_avg", &m.exp_avg), ("exp_avg_sq", &m.exp_avg_sq)] {
                if t.dims() != var.dims() {
                    return Err(bad(format!(
                        "tensor {i} {name}: shape {:?}, parameter {:?}",
                        t.dims(),
                        var.dims()
                    )));
                }
            }
            // own copies: steps update them in place
            let own = |t: &Tensor| t.to_dtype(DType::F32)?.to_device(var.device())?.copy();
            slots.push(Some(Moments {
                step: m.step,
                exp_avg: own(&m.exp_avg)?,
                exp_avg_sq: own(&m.exp_avg_sq)?,
            }));
        }
        self.slots = slots;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_hyper_parameters() {
        let bad = |p: AdamWParams| p.validate().unwrap_err().to_string();
        let e = bad(AdamWParams {
            beta1: 1.0,
            ..Default::default()
        });
        assert!(
            e.contains("invalid beta1 = 1") && e.contains("[0, 1)"),
            "{e}"
        );
        let e = bad(AdamWParams {
            lr: -1.0,
            ..Default::default()
        });
        assert!(e.contains("invalid lr = -1"), "{e}");
        assert!(AdamWParams::default().validate().is_ok());
    }

    /// Weights, moments and a saved state after three steps on a 40,000-value tensor (several
    /// parallel blocks), with the fused kernel on or off.
    fn three_steps(fused_on: bool, weight_decay: f64) -> (Vec<u32>, Vec<u8>, Vec<u8>) {
        crate::model::fused::with_enabled(fused_on, || {
            let n = 40_000;
            let init: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let w = Var::from_vec(init, n, &Device::Cpu).unwrap();
            let params = AdamWParams {
                lr: 0.01,
                weight_decay,
                ..Default::default()
            };
            let mut opt = AdamW::new(vec![w.clone()], params).unwrap();
            let mut saved = Vec::new();
            for step in 0..3 {
                // a loss whose gradient changes with the weights: Σ w³/3 − w
                let t = w.as_tensor();
                let loss = ((t.powf(3.0).unwrap() / 3.0).unwrap() - t)
                    .unwrap()
                    .sum_all()
                    .unwrap();
                opt.step(&loss.backward().unwrap()).unwrap();
                if step == 1 {
                    saved = opt.state().to_bytes().unwrap();
                }
            }
            let bits = w
                .as_tensor()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            (bits, saved, opt.state().to_bytes().unwrap())
        })
    }

    #[test]
    fn the_fused_update_gives_the_composite_bits() {
        for wd in [0.0, 0.1] {
            let fused = three_steps(true, wd);
            let composite = three_steps(false, wd);
            assert!(fused.0 == composite.0, "weights differ (weight decay {wd})");
            assert!(fused.1 == composite.1, "state after two steps differs");
            assert!(fused.2 == composite.2, "final state differs");
            // a state taken earlier is a snapshot, not a view of the moments
            assert_ne!(fused.1, fused.2);
        }
    }

    #[test]
    fn skipped_parameters_keep_no_state() {
        let a = Var::new(&[1f32, 2.], &Device::Cpu).unwrap();
        let b = Var::new(&[3f32], &Device::Cpu).unwrap();
        let mut opt = AdamW::new(
            vec![a.clone(), b.clone()],
            AdamWParams {
                lr: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        let loss = a.as_tensor().sum_all().unwrap();
        assert_eq!(opt.step(&loss.backward().unwrap()).unwrap(), 1);
        let st = opt.state();
        assert_eq!(st.slots[0].as_ref().map(|m| m.step), Some(1));
        assert!(st.slots[1].is_none());
        assert_eq!(b.as_tensor().to_vec1::<f32>().unwrap(), vec![3.0]);
    }

    #[test]
    fn state_bytes_round_trip_and_reject_garbage() {
        let a = Var::new(&[1f32, 2.], &Device::Cpu).unwrap();
        let b = Var::new(&[3f32], &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![a.clone(), b], AdamWParams::default()).unwrap();
        let loss = a.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        let bytes = opt.state().to_bytes().unwrap();
        let back = OptimizerState::from_bytes(&bytes, &Device::Cpu, "x").unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let e = OptimizerState::from_bytes(b"nonsense", &Device::Cpu, "opt.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("opt.safetensors: checkpoint does not match"),
            "{e}"
        );
        let mut other = AdamW::new(
            vec![Var::new(&[1f32], &Device::Cpu).unwrap()],
            AdamWParams::default(),
        )
        .unwrap();
        let e = other.load_state(back).unwrap_err().to_string();
        assert!(
            e.contains("the state has 2 tensors but the optimizer trains 1"),
            "{e}"
        );
    }
}
