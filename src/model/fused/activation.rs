//! The gated SiLU of Llama's MLP, `silu(a)·b`, and CLIP's QuickGELU, `x·σ(1.702x)`, one
//! node each, with their backward:
//! `d silu(a)·b / da = b·σ(a)·(1 + a·(1 − σ(a)))`, `/ db = silu(a)`;
//! `d x·σ(kx) / dx = σ(kx) + k·x·σ(kx)·(1 − σ(kx))`.

use super::{for_rows, grad_for, values};
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor,
};

/// QuickGELU's constant.
const K: f32 = 1.702;

/// `silu(a) · b` for float32 CPU tensors of one shape.
pub(crate) fn silu_mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        candle_core::bail!("silu_mul: shapes {:?} and {:?} differ", a.dims(), b.dims())
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, SiluMul)
}

/// `x · σ(1.702 x)` for a float32 CPU tensor.
pub(crate) fn quick_gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(QuickGelu)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Element-wise over equal-length slices, in parallel blocks.
fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    let block = 4096.min(a.len().max(1));
    for_rows(&mut out, block, |r, o| {
        let s = r * block;
        for (i, o) in o.iter_mut().enumerate() {
            *o = f(a[s + i], b[s + i]);
        }
    });
    out
}

struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "mllmu-silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = values(s1, l1, self.name())?;
        let b = values(s2, l2, self.name())?;
        let out = map2(a, b, |a, b| a / (1.0 + (-a).exp()) * b);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = a.apply_op3_no_bwd(b, &g.contiguous()?, &SiluMulBackward)?;
        let da = grad_for(a, || both.get(0)?.reshape(a.shape()))?;
        let db = grad_for(b, || both.get(1)?.reshape(b.shape()))?;
        Ok((da, db))
    }
}

/// `(a, b, g)` → `[2, n]`: the gradients of `a` and of `b`.
struct SiluMulBackward;

impl CustomOp3 for SiluMulBackward {
    fn name(&self) -> &'static str {
        "mllmu-silu-mul-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = values(s1, l1, self.name())?;
        let b = values(s2, l2, self.name())?;
        let g = values(s3, l3, self.name())?;
        let n = a.len();
        if b.len() != n || g.len() != n {
            bail!("{}: inputs of different lengths", self.name())
        }
        let mut out = vec![0f32; 2 * n];
        let (da, db) = out.split_at_mut(n);
        let block = 4096.min(n.max(1));
        for_rows(da, block, |r, o| {
            let s = r * block;
            for (i, o) in o.iter_mut().enumerate() {
                let (a, b, g) = (a[s + i], b[s + i], g[s + i]);
                let sg = sigmoid(a);
                *o = g * b * sg * (1.0 + a * (1.0 - sg));
            }
        });
        for_rows(db, block, |r, o| {
            let s = r * block;
            for (i, o) in o.iter_mut().enumerate() {
                let a = a[s + i];
                *o = g[s + i] * (a / (1.0 + (-a).exp()));
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((2, n))))
    }
}

struct QuickGelu;

impl CustomOp1 for QuickGelu {
    fn name(&self) -> &'static str {
        "mllmu-quick-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l, self.name())?;
        let out = map2(x, x, |x, _| x * sigmoid(x * K));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            x.apply_op2_no_bwd(&g.contiguous()?, &QuickGeluBackward)?,
        ))
    }
}

/// `(x, g)` → the gradient of `x`.
struct QuickGeluBackward;

impl CustomOp2 for QuickGeluBackward {
    fn name(&self) -> &'static str {
        "mllmu-quick-gelu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = values(s1, l1, self.name())?;
        let g = values(s2, l2, self.name())?;
        if x.len() != g.len() {
            bail!("{}: inputs of different lengths", self.name())
        }
        let out = map2(x, g, |x, g| {
            let s = sigmoid(K * x);
            g * (s + K * x * s * (1.0 - s))
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, both, var};
    use crate::model::config::Activation;

    #[test]
    fn silu_mul_matches_the_composite_version() {
        // 3 × 5000 values: several parallel blocks and a partial last one.
        let a = var(&[3, 5000], 1, 8.0);
        let b = var(&[3, 5000], 2, 2.0);
        let out = both(&[&a, &b], || {
            Activation::Silu.gated(a.as_tensor(), b.as_tensor())
        });
        assert_close("silu_mul", out, 1e-5);
    }

    #[test]
    fn quick_gelu_matches_the_composite_version() {
        let x = var(&[7, 1000], 3, 8.0);
        let out = both(&[&x], || Activation::QuickGelu.forward(x.as_tensor()));
        assert_close("quick_gelu", out, 1e-5);
    }
}
