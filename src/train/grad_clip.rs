//! Global gradient-norm clipping and gradient accumulation over micro-batches.
//!
//! Clipping follows `torch.nn.utils.clip_grad_norm_(params, max_norm)` (norm type 2):
//!
//! ```text
//! total = √(Σ_params ‖g_p‖²)
//! coef  = max_norm / (total + 1e-6)
//! if coef < 1:  g_p ← coef · g_p   for every parameter
//! ```
//!
//! and returns the norm measured before clipping. A non-finite total is returned as is and
//! leaves the gradients untouched (the caller decides; torch would scale by NaN).
//!
//! Accumulation follows the reference's `--gradient_accumulation` path (loss/k, backward
//! k times, one step): the stored gradient is Σ_i g_i / k.

use crate::error::check_positive;
use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Var};

/// The global L2 norm of the gradients of `vars` (those without a gradient count as zero).
/// Squares are summed per tensor in f32 and across tensors in f64.
pub fn grad_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    let mut total = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            total += g
                .to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
        }
    }
    Ok(total.sqrt())
}

/// Scales the gradients of `vars` in place so that their global norm is at most `max_norm`
/// (torch semantics, see the module docs); returns the norm before clipping.
///
/// ```
/// use candle_core::{Device, Var};
/// use mllmu::train::grad_clip::{clip_grad_norm, grad_norm};
/// let w = Var::new(&[3f32, 4.0], &Device::Cpu).unwrap();
/// let loss = (w.as_tensor().sqr().unwrap() * 0.5).unwrap().sum_all().unwrap(); // grad = w
/// let mut g = loss.backward().unwrap();
/// let before = clip_grad_norm(&mut g, &[w.clone()], 1.0).unwrap();
/// assert!((before - 5.0).abs() < 1e-6);
/// assert!((grad_norm(&g, &[w]).unwrap() - 1.0).abs() < 1e-5);
/// ```
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    check_positive("max_grad_norm", max_norm)?;
    let total = grad_norm(grads, vars)?;
    let coef = max_norm / (total + 1e-6);
    if total.is_finite() && coef < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let scaled = g.affine(coef, 0.0)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(total)
}

/// Sums the gradients of `k` micro-batches, each scaled by `1/k`, keeping only the gradients
/// of the trainable tensors passed to [`GradAccumulator::add`].
///
/// ```
/// use candle_core::{Device, Var};
/// use mllmu::train::grad_clip::GradAccumulator;
/// let w = Var::new(&[1f32], &Device::Cpu).unwrap();
/// let mut acc = GradAccumulator::new(2).unwrap();
/// for scale in [2.0, 4.0] {
///     let loss = (w.as_tensor() * scale).unwrap().sum_all().unwrap();
///     acc.add(&loss.backward().unwrap(), &[w.clone()]).unwrap();
/// }
/// assert!(acc.is_ready());
/// let g = acc.take();
/// assert_eq!(g.get(w.as_tensor()).unwrap().to_vec1::<f32>().unwrap(), vec![3.0]);
/// ```
#[derive(Debug)]
pub struct GradAccumulator {
    micro_batches: usize,
    seen: usize,
    sum: GradStore,
}

impl GradAccumulator {
    /// An accumulator over `micro_batches >= 1` backward passes per optimizer step.
    pub fn new(micro_batches: usize) -> Result<Self> {
        if micro_batches == 0 {
            return Err(Error::param("grad_accum", 0, "must be at least 1"));
        }
        Ok(GradAccumulator {
            micro_batches,
            seen: 0,
            sum: GradStore::default(),
        })
    }

    /// Micro-batches per optimizer step.
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// Micro-batches added since the last [`GradAccumulator::take`].
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Whether `micro_batches` have been added.
    pub fn is_ready(&self) -> bool {
        self.seen >= self.micro_batches
    }

    /// Adds one micro-batch's gradients of `vars`, scaled by `1/k`.
    pub fn add(&mut self, grads: &GradStore, vars: &[Var]) -> Result<()> {
        let scale = 1.0 / self.micro_batches as f64;
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let g = g.detach().affine(scale, 0.0)?;
                let next = match self.sum.get(var.as_tensor()) {
                    Some(prev) => (prev + g)?,
                    None => g,
                };
                self.sum.insert(var.as_tensor(), next);
            }
        }
        self.seen += 1;
        Ok(())
    }

    /// The accumulated gradients; the accumulator starts over. When fewer than `k`
    /// micro-batches were added (the end of an epoch), the sum is still divided by `k`, as in
    /// the reference's `loss / k` path.
    pub fn take(&mut self) -> GradStore {
        self.seen = 0;
        std::mem::take(&mut self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn two_vars() -> (Var, Var) {
        (
            Var::new(&[1f32, 2.0], &Device::Cpu).unwrap(),
            Var::new(&[[2f32]], &Device::Cpu).unwrap(),
        )
    }

    #[test]
    fn clipping_scales_all_gradients_by_one_factor() {
        let (a, b) = two_vars();
        // grads: a → [3, 4] (constant), b → [[12]]; total = 13.
        let la = (a.as_tensor() * Tensor::new(&[3f32, 4.0], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let lb = (b.as_tensor() * 12.0).unwrap().sum_all().unwrap();
        let mut g = (la + lb).unwrap().backward().unwrap();
        let vars = [a.clone(), b.clone()];
        let total = clip_grad_norm(&mut g, &vars, 6.5).unwrap();
        assert!((total - 13.0).abs() < 1e-6);
        let coef = 6.5 / (13.0 + 1e-6);
        let ga = g.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        let gb = g.get(b.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        assert!(
            (ga[0] as f64 - 3.0 * coef).abs() < 1e-6 && (ga[1] as f64 - 4.0 * coef).abs() < 1e-6
        );
        assert!((gb[0][0] as f64 - 12.0 * coef).abs() < 1e-5);
    }

    #[test]
    fn small_gradients_are_left_alone() {
        let (a, _) = two_vars();
        let mut g = a.as_tensor().sum_all().unwrap().backward().unwrap();
        let total = clip_grad_norm(&mut g, std::slice::from_ref(&a), 10.0).unwrap();
        assert!((total - 2f64.sqrt()).abs() < 1e-6);
        assert_eq!(
            g.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap(),
            vec![1.0, 1.0]
        );
        let e = clip_grad_norm(&mut g, &[a], 0.0).unwrap_err().to_string();
        assert!(e.contains("invalid max_grad_norm = 0"), "{e}");
    }

    #[test]
    fn accumulation_averages_and_keeps_only_vars() {
        let (a, b) = two_vars();
        let vars = [a.clone(), b.clone()];
        let mut acc = GradAccumulator::new(3).unwrap();
        for k in 1..=3 {
            let loss = (a.as_tensor() * k as f64).unwrap().sum_all().unwrap();
            acc.add(&loss.backward().unwrap(), &vars).unwrap();
            assert_eq!(acc.is_ready(), k == 3);
        }
        let g = acc.take();
        assert_eq!(acc.seen(), 0);
        // (1 + 2 + 3) / 3 = 2 for each element of a; b never had a gradient.
        assert_eq!(
            g.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap(),
            vec![2.0, 2.0]
        );
        assert!(g.get(b.as_tensor()).is_none());
        assert_eq!(g.get_ids().count(), 1);
        assert!(GradAccumulator::new(0).is_err());
    }
}
