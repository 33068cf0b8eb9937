//! `y = x·Wᵀ` as one node whose backward writes the weight gradient in the weight's own
//! layout: `dx = g·W`, `dW = gᵀ·x`. Written as `x.matmul(W.t())`, candle adds a transpose
//! node whose backward turns `xᵀ·g` (`[in, out]`) around and adds it, strided, into a zeroed
//! `[out, in]` buffer: two extra passes over every weight per training step.

use super::{grad_for, values};
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// `x·Wᵀ` for float32 CPU tensors, `x` `[rows, in]` and `w` `[out, in]`.
pub(crate) fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, Linear)
}

struct Linear;

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "mllmu-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = values(s1, l1, self.name())?;
        let w = values(s2, l2, self.name())?;
        let (Ok((rows, k)), Ok((n, k2))) = (l1.shape().dims2(), l2.shape().dims2()) else {
            bail!("{}: expected 2-D input and weight", self.name())
        };
        if k != k2 {
            bail!("{}: input of {k} features, weight of {k2}", self.name())
        }
        let mut y = vec![0f32; rows * n];
        let threads = candle_core::utils::get_num_threads();
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: `y` holds rows × n values, `x` rows × k and `w` n × k, all contiguous, and
        // the strides below stay inside them: dst (rows × n, row stride n), lhs (rows × k,
        // row stride k), rhs = Wᵀ (k × n: element (kk, j) is w[j·k + kk]).
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                0f32,
                1f32,
                false,
                false,
                false,
                par,
            )
        };
        Ok((CpuStorage::F32(y), Shape::from((rows, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = grad_for(x, || g.matmul(w))?;
        let dw = grad_for(w, || g.t()?.matmul(x))?;
        Ok((dx, dw))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, both, var};
    use candle_core::{Device, Tensor};

    #[test]
    fn linear_matches_the_composite_version() {
        let x = var(&[37, 48], 1, 2.0);
        let w = var(&[29, 48], 2, 0.5);
        let out = both(&[&x, &w], || {
            let lin = crate::model::linear::Linear {
                name: "l".into(),
                weight: w.as_tensor().clone(),
                bias: None,
                lora: None,
            };
            candle_nn::Module::forward(&lin, x.as_tensor())
        });
        assert_close("linear", out, 1e-5);
    }

    #[test]
    fn a_frozen_weight_gets_no_gradient() {
        let x = var(&[3, 4], 1, 1.0);
        let w = Tensor::ones((2, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let y = super::linear(x.as_tensor(), &w).unwrap();
        assert_eq!(
            y.to_vec2::<f32>().unwrap()[1][0],
            y.to_vec2::<f32>().unwrap()[1][1]
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&w).is_none());
        // d Σ x·Wᵀ / dx = column sums of W = 2 everywhere
        let dx = g
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(dx.iter().all(|v| *v == 2.0), "{dx:?}");
    }
}
