//! Weight gradients handed over whole instead of summed into a zeroed buffer.
//!
//! candle's backward pass accumulates every gradient the same way: the first time a tensor
//! receives one, a zeroed buffer of its size is made and the gradient added to it, each a
//! pass over memory on one thread. For the weights of the linear layers (nearly all the
//! parameters) that is a memset and an add of the whole model per step, serial work that
//! held the training step behind PyTorch's at two threads. During [`backward`], a matrix
//! product whose weight is a variable gives the weight's gradient to this sink instead, and
//! [`backward`] puts it into the gradient store afterwards: the same values (a second use of
//! a weight in one graph is added as candle adds it), with no zeroed buffer and no copy.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, TensorId};
use std::cell::RefCell;
use std::collections::HashMap;

/// Gradients of one backward pass, by weight: the weight and its gradient so far.
type Sunk = HashMap<TensorId, (Tensor, Tensor)>;

thread_local! {
    /// Open while [`backward`] runs on this thread (candle's backward pass calls every
    /// kernel's gradient on the thread that started it).
    static SINK: RefCell<Option<Sunk>> = const { RefCell::new(None) };
}

/// `loss.backward()`, run on the CPU's thread pool (see [`crate::model::device::on_pool`]),
/// with the weight gradients of the fused matrix products handed over whole. The gradient
/// store holds the same gradients as `loss.backward()`'s.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use candle_nn::Module;
/// use mllmu::model::{fused, linear::Linear};
/// let dev = Device::Cpu;
/// let w = Var::new(&[[1f32, 2.], [3., 4.]], &dev)?;
/// let layer = Linear { name: "l".into(), weight: w.as_tensor().clone(), bias: None, lora: None };
/// let x = Tensor::new(&[[1f32, -1.]], &dev)?;
/// let loss = layer.forward(&x)?.sum_all()?;
/// let grads = fused::backward(&loss)?;
/// let expected = loss.backward()?;
/// assert_eq!(
///     grads.get(&w).unwrap().to_vec2::<f32>()?,
///     expected.get(&w).unwrap().to_vec2::<f32>()?,
/// );
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn backward(loss: &Tensor) -> Result<GradStore> {
    super::super::device::on_pool(loss.device(), || {
        let open = Open::new();
        let mut grads = loss.backward()?;
        for (_, (weight, grad)) in open.take() {
            let total = match grads.remove(&weight) {
                Some(other) => other.add(&grad)?,
                None => grad,
            };
            grads.insert(&weight, total);
        }
        Ok(grads)
    })
}

/// A kernel's gradient for `weight` (computed by `grad` only when `weight` takes part in
/// backpropagation, as [`super::grad_for`]), handed to the open sink: `None` for candle when
/// the sink took it.
pub(crate) fn weight_grad_for(
    weight: &Tensor,
    grad: impl FnOnce() -> Result<Tensor>,
) -> Result<Option<Tensor>> {
    match super::grad_for(weight, grad)? {
        Some(g) => hand_over(weight, g),
        None => Ok(None),
    }
}

/// Gives `grad`, the gradient of `weight` from one product, to the open sink; returns it
/// back when none is open or `weight` is not a variable (candle then accumulates it).
fn hand_over(weight: &Tensor, grad: Tensor) -> Result<Option<Tensor>> {
    if !weight.is_variable() {
        return Ok(Some(grad));
    }
    SINK.with(|sink| {
        let mut sink = sink.borrow_mut();
        let Some(sunk) = sink.as_mut() else {
            return Ok(Some(grad));
        };
        match sunk.get_mut(&weight.id()) {
            Some((_, sum)) => *sum = sum.add(&grad)?,
            None => {
                sunk.insert(weight.id(), (weight.clone(), grad));
            }
        }
        Ok(None)
    })
}

/// The sink of one backward pass; the previous one (if any) comes back when it is dropped,
/// also when the pass fails.
struct Open(Option<Sunk>);

impl Open {
    fn new() -> Open {
        Open(SINK.with(|s| s.replace(Some(HashMap::new()))))
    }

    /// What this pass handed over.
    fn take(&self) -> Sunk {
        SINK.with(|s| s.borrow_mut().as_mut().map(std::mem::take))
            .unwrap_or_default()
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let previous = self.0.take();
        SINK.with(|s| s.replace(previous));
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{bits, var};
    use candle_core::{Device, Tensor};

    /// A weight used twice (both uses summed), one used once, a product with no variable
    /// weight, and a variable that only candle's own ops reach: every gradient is the one
    /// `loss.backward()` gives, to the bit.
    #[test]
    fn gradients_equal_candles_to_the_bit() {
        let w1 = var(&[24, 16], 1, 0.5);
        let w2 = var(&[16, 24], 2, 0.5);
        let bias = var(&[16], 3, 1.0);
        let x = Tensor::from_vec(
            super::super::check::data(9 * 16, 4, 1.0),
            (9, 16),
            &Device::Cpu,
        )
        .unwrap();
        let loss = {
            let h = super::super::linear(&x, w1.as_tensor()).unwrap();
            let y = super::super::linear(&h, w2.as_tensor()).unwrap();
            let y = y.broadcast_add(bias.as_tensor()).unwrap();
            let z = super::super::linear(&y, w1.as_tensor()).unwrap();
            let attn = super::super::matmul(&z, &z, false, true).unwrap();
            (attn.sqr().unwrap().mean_all().unwrap() + z.sum_all().unwrap()).unwrap()
        };
        let expected = loss.backward().unwrap();
        let got = super::backward(&loss).unwrap();
        let ids = |g: &candle_core::backprop::GradStore| -> std::collections::HashSet<_> {
            g.get_ids().copied().collect()
        };
        assert_eq!(ids(&got), ids(&expected));
        for v in [&w1, &w2, &bias] {
            let grad = |g: &candle_core::backprop::GradStore| bits(g.get(v.as_tensor()).unwrap());
            assert_eq!(grad(&got), grad(&expected));
        }
        // the sink closed with the pass: a plain backward keeps every weight's gradient
        let again = on_pool(|| loss.backward().unwrap());
        assert!(again.get(w1.as_tensor()).is_some());
        assert!(on_pool(|| super::SINK.with(|s| s.borrow().is_none())));
        // inside an open sink, candle's store lacks the products' weights: they were handed
        // over (the bias, reached only by candle's ops, stays with candle)
        on_pool(|| {
            let open = super::Open::new();
            let plain = loss.backward().unwrap();
            assert!(plain.get(w1.as_tensor()).is_none() && plain.get(w2.as_tensor()).is_none());
            assert!(plain.get(bias.as_tensor()).is_some());
            let sunk = open.take();
            assert_eq!(sunk.len(), 2);
            assert!(sunk.contains_key(&w1.id()) && sunk.contains_key(&w2.id()));
        });
    }

    /// A pass started while another is open (on the same thread) fills its own sink and
    /// reopens the outer one, empty, when it ends.
    #[test]
    fn nested_passes_restore_the_outer_sink() {
        let w = var(&[8, 8], 5, 0.5);
        let x = Tensor::ones((3, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
        let loss = super::super::linear(&x, w.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap();
        on_pool(|| {
            let outer = super::Open::new();
            let inner = super::backward(&loss).unwrap();
            assert!(inner.get(w.as_tensor()).is_some());
            assert!(super::SINK.with(|s| s.borrow().is_some()));
            assert!(outer.take().is_empty());
            drop(outer);
            assert!(super::SINK.with(|s| s.borrow().is_none()));
        });
    }

    fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        crate::model::device::on_pool(&Device::Cpu, f)
    }
}
