//! Log-sum-exp over the last dimension (the vocabulary of a language-model loss), one node
//! instead of six, with its backward `dx = g·exp(x − lse)` (the softmax, scaled).

use super::for_rows;
use candle_core::{bail, Result, Shape, Tensor};

/// `log Σ exp(x)` over the last dimension, which is removed, for a float32 CPU tensor of
/// at least one dimension.
pub(crate) fn logsumexp(x: &Tensor) -> Result<Tensor> {
    if x.rank() == 0 {
        bail!("logsumexp: needs at least one dimension")
    }
    x.contiguous()?.apply_op1(LogSumExp)
}

struct LogSumExp;

cpu_op! { CustomOp1 for LogSumExp, "mllmu-logsumexp", |self, x: l| {
    let v = l.dims().last().copied().unwrap_or(1);
    let rows = x.len().checked_div(v).unwrap_or(0);
    let mut out = vec![0f32; rows];
    // One output per row: tasks of many rows.
    let per = (super::GRAIN / v.max(1)).max(1);
    for_rows(&mut out, per, |task, o| {
        for (j, o) in o.iter_mut().enumerate() {
            let r = task * per + j;
            let xr = &x[r * v..(r + 1) * v];
            let max = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = xr.iter().map(|x| (x - max).exp()).sum();
            *o = sum.ln() + max;
        }
    });
    // the shape without its last dimension
    (out, Shape::from(l.dims()[..l.dims().len() - 1].to_vec()))
} bwd |x, lse, g| {
    Ok(Some(x.apply_op3_no_bwd(
        lse,
        &g.contiguous()?,
        &LogSumExpBackward,
    )?))
}}

/// `(x, lse, g)` → `g·exp(x − lse)` per row.
struct LogSumExpBackward;

cpu_op! { CustomOp3 for LogSumExpBackward, "mllmu-logsumexp-backward",
    |self, x: l1, lse: l2, g: l3| {
    let v = l1.dims().last().copied().unwrap_or(1);
    if lse.len() * v != x.len() || g.len() != lse.len() {
        bail!("{}: {} values, {} rows", self.name(), x.len(), lse.len())
    }
    let mut out = vec![0f32; x.len()];
    for_rows(&mut out, v, |r, dx| {
        let (m, gr) = (lse[r], g[r]);
        for (d, &x) in dx.iter_mut().zip(&x[r * v..(r + 1) * v]) {
            *d = gr * (x - m).exp();
        }
    });
    (out, l1.shape().clone())
}}
