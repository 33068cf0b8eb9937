//! The gated SiLU of Llama's MLP, `silu(a)·b`, and CLIP's QuickGELU, `x·σ(1.702x)`, one
//! node each, with their backward:
//! `d silu(a)·b / da = b·σ(a)·(1 + a·(1 − σ(a)))`, `/ db = silu(a)`;
//! `d x·σ(kx) / dx = σ(kx) + k·x·σ(kx)·(1 − σ(kx))`.

use super::exp::sigmoid;
use super::{for_rows, grad_for};
use candle_core::{bail, Result, Shape, Tensor};
use rayon::prelude::*;

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

/// Values per block of the element-wise kernels (a parallel task takes a few).
const BLOCK: usize = 4096;

/// `out = f(a, b)` block by block, blocks in parallel; `f` gets one block of each slice.
fn map2(a: &[f32], b: &[f32], f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    let block = BLOCK.min(a.len().max(1));
    for_rows(&mut out, block, |r, o| {
        let s = r * block;
        f(o, &a[s..s + o.len()], &b[s..s + o.len()])
    });
    out
}

wide_fn! {
    /// `out = silu(a)·b`.
    fn silu_mul_block(out: &mut [f32], a: &[f32], b: &[f32]) {
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = a * sigmoid(a) * b;
        }
    }
}

wide_fn! {
    /// `da = g·b·σ(a)·(1 + a·(1 − σ(a)))` and `db = g·silu(a)`, one pass.
    fn silu_mul_backward_block(da: &mut [f32], db: &mut [f32], a: &[f32], b: &[f32], g: &[f32]) {
        for ((((da, db), &a), &b), &g) in da.iter_mut().zip(db.iter_mut()).zip(a).zip(b).zip(g) {
            let s = sigmoid(a);
            *da = g * b * s * (1.0 + a * (1.0 - s));
            *db = g * (a * s);
        }
    }
}

wide_fn! {
    /// `out = x·σ(Kx)`.
    fn quick_gelu_block(out: &mut [f32], x: &[f32]) {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = x * sigmoid(x * K);
        }
    }
}

wide_fn! {
    /// `out = g·(σ(Kx) + K·x·σ(Kx)·(1 − σ(Kx)))`.
    fn quick_gelu_backward_block(out: &mut [f32], x: &[f32], g: &[f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
            let s = sigmoid(K * x);
            *o = g * (s + K * x * s * (1.0 - s));
        }
    }
}

struct SiluMul;

cpu_op! { CustomOp2 for SiluMul, "mllmu-silu-mul", |self, a: l1, b: l2| {
    (map2(a, b, silu_mul_block), l1.shape().clone())
} bwd |a, b, _res, g| {
    let both = a.apply_op3_no_bwd(b, &g.contiguous()?, &SiluMulBackward)?;
    let da = grad_for(a, || both.get(0)?.reshape(a.shape()))?;
    let db = grad_for(b, || both.get(1)?.reshape(b.shape()))?;
    Ok((da, db))
}}

/// `(a, b, g)` → `[2, n]`: the gradients of `a` and of `b`.
struct SiluMulBackward;

cpu_op! { CustomOp3 for SiluMulBackward, "mllmu-silu-mul-backward", |self, a: l1, b: l2, g: l3| {
    let n = a.len();
    if b.len() != n || g.len() != n {
        bail!("{}: inputs of different lengths", self.name())
    }
    let mut out = vec![0f32; 2 * n];
    let (da, db) = out.split_at_mut(n);
    // blocks of `da` and `db` at the same offsets, in parallel tasks
    let per = super::rows_per_task(BLOCK) * BLOCK;
    let task = |(c, (da, db)): (usize, (&mut [f32], &mut [f32]))| {
        let s = c * per;
        for (j, (da, db)) in da.chunks_mut(BLOCK).zip(db.chunks_mut(BLOCK)).enumerate() {
            let (s, e) = (s + j * BLOCK, s + j * BLOCK + da.len());
            silu_mul_backward_block(da, db, &a[s..e], &b[s..e], &g[s..e]);
        }
    };
    if n <= per || rayon::current_num_threads() == 1 {
        da.chunks_mut(per).zip(db.chunks_mut(per)).enumerate().for_each(task);
    } else {
        da.par_chunks_mut(per).zip(db.par_chunks_mut(per)).enumerate().for_each(task);
    }
    (out, Shape::from((2, n)))
}}

struct QuickGelu;

cpu_op! { CustomOp1 for QuickGelu, "mllmu-quick-gelu", |self, x: l| {
    (map2(x, x, |o, x, _| quick_gelu_block(o, x)), l.shape().clone())
} bwd |x, _res, g| {
    Ok(Some(
        x.apply_op2_no_bwd(&g.contiguous()?, &QuickGeluBackward)?,
    ))
}}

/// `(x, g)` → the gradient of `x`.
struct QuickGeluBackward;

cpu_op! { CustomOp2 for QuickGeluBackward, "mllmu-quick-gelu-backward", |self, x: l1, g: l2| {
    if x.len() != g.len() {
        bail!("{}: inputs of different lengths", self.name())
    }
    (map2(x, g, quick_gelu_backward_block), l1.shape().clone())
}}

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
    fn the_avx2_copies_give_the_same_bits() {
        assert!(super::super::with_baseline(|| !super::super::wide_allowed()));
        for n in [1, 7, 8, 9, 100, 333] {
            // values across the sigmoid's range, with its saturated ends and a NaN
            let mut a = super::super::check::data(n, 5, 30.0);
            let b = super::super::check::data(n, 6, 2.0);
            let g = super::super::check::data(n, 7, 1.0);
            if n > 8 {
                a[1] = -120.0;
                a[2] = 95.0;
                a[3] = f32::NAN;
            }
            let run = || {
                let mut out = vec![vec![0f32; n]; 5];
                let [y, da, db, q, dq] = &mut out[..] else {
                    unreachable!()
                };
                super::silu_mul_block(y, &a, &b);
                super::silu_mul_backward_block(da, db, &a, &b, &g);
                super::quick_gelu_block(q, &a);
                super::quick_gelu_backward_block(dq, &a, &g);
                // bits, so that NaN compares equal to NaN
                out.iter()
                    .map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            };
            assert_eq!(run(), super::super::with_baseline(run), "{n} values");
        }
    }

    #[test]
    fn quick_gelu_matches_the_composite_version() {
        let x = var(&[7, 1000], 3, 8.0);
        let out = both(&[&x], || Activation::QuickGelu.forward(x.as_tensor()));
        assert_close("quick_gelu", out, 1e-5);
    }
}
