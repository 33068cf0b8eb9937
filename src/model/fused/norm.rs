//! RMSNorm and LayerNorm over the last dimension, one node each, with their backward.
//!
//! RMSNorm: `y = w·x·r`, `r = (Σx²/h + eps)^-½`;
//! `dx = r·w·g − x·r³/h · Σ(g·w·x)`, `dw = Σ_rows g·x·r`.
//! LayerNorm: `x̂ = (x − μ)·r`, `r = (Σ(x − μ)²/h + eps)^-½`, `y = x̂·w + b`;
//! `dx = r·(w·g − mean(w·g) − x̂·mean(w·g·x̂))`, `dw = Σ_rows g·x̂`, `db = Σ_rows g`.

use super::{for_rows, for_rows_summing, grad_for};
use candle_core::{bail, Result, Shape, Tensor};

/// `w · x / sqrt(mean(x²) + eps)` over the last dimension, for float32 CPU tensors
/// (see [`super::applies`]); `x` is made contiguous first.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
}

/// `(x − mean) / sqrt(var + eps) · w + b` over the last dimension (biased variance), for
/// float32 CPU tensors; `x` is made contiguous first.
pub(crate) fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        LayerNorm { eps: eps as f32 },
    )
}

/// Width of the normalised rows, checked against the weight.
fn width(x: &[f32], w: &[f32], op: &str) -> Result<usize> {
    let h = w.len();
    if h == 0 || !x.len().is_multiple_of(h) {
        bail!(
            "{op}: {} values do not form rows of the weight's {h}",
            x.len()
        )
    }
    Ok(h)
}

/// `(Σx²/h + eps)^½` of one row.
fn rms(x: &[f32], eps: f32) -> f32 {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    (ms + eps).sqrt()
}

/// Mean and `(var + eps)^½` of one row.
fn mean_std(x: &[f32], eps: f32) -> (f32, f32) {
    let h = x.len() as f32;
    let mean = x.iter().sum::<f32>() / h;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h;
    (mean, (var + eps).sqrt())
}

// The row kernels, compiled for AVX2 too (`wide_fn!`): the element-wise loops vectorise,
// the sums over a row stay in order (and scalar), so both copies give the same bits.

wide_fn! {
    /// `y = x / rms(x) · w`.
    fn rms_norm_row(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
        let rms = rms(x, eps);
        for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
            *y = x / rms * w;
        }
    }
}

wide_fn! {
    /// `dx` of one row; adds the row's share of the weight gradient to `dw`.
    fn rms_norm_backward_row(dx: &mut [f32], dw: &mut [f32], x: &[f32], g: &[f32], w: &[f32], eps: f32) {
        let h = x.len();
        let inv = 1.0 / rms(x, eps);
        let dot: f32 = x.iter().zip(g).zip(w).map(|((x, g), w)| g * w * x).sum();
        let k = inv * inv * inv / h as f32 * dot;
        for i in 0..h {
            dx[i] = inv * w[i] * g[i] - x[i] * k;
            dw[i] += g[i] * x[i] * inv;
        }
    }
}

wide_fn! {
    /// `y = (x − mean) / sd · w + b`.
    fn layer_norm_row(y: &mut [f32], x: &[f32], w: &[f32], b: &[f32], eps: f32) {
        let (mean, sd) = mean_std(x, eps);
        for i in 0..x.len() {
            y[i] = (x[i] - mean) / sd * w[i] + b[i];
        }
    }
}

wide_fn! {
    /// `dx` of one row; adds the row's shares of the weight and bias gradients to
    /// `acc[..h]` and `acc[h..]`.
    fn layer_norm_backward_row(dx: &mut [f32], acc: &mut [f32], x: &[f32], g: &[f32], w: &[f32], eps: f32) {
        let h = x.len();
        let (mean, sd) = mean_std(x, eps);
        let inv = 1.0 / sd;
        let (mut m1, mut m2) = (0f32, 0f32);
        for i in 0..h {
            let xh = (x[i] - mean) * inv;
            let wg = w[i] * g[i];
            m1 += wg;
            m2 += wg * xh;
        }
        let (dw, db) = acc.split_at_mut(h);
        for i in 0..h {
            let xh = (x[i] - mean) * inv;
            dw[i] += g[i] * xh;
            db[i] += g[i];
        }
        let (m1, m2) = (m1 / h as f32, m2 / h as f32);
        for i in 0..h {
            let xh = (x[i] - mean) * inv;
            dx[i] = inv * (w[i] * g[i] - m1 - xh * m2);
        }
    }
}

struct RmsNorm {
    eps: f32,
}

cpu_op! { CustomOp2 for RmsNorm, "mllmu-rms-norm", |self, x: l1, w: l2| {
    let h = width(x, w, self.name())?;
    let mut out = vec![0f32; x.len()];
    for_rows(&mut out, h, |r, y| {
        rms_norm_row(y, &x[r * h..(r + 1) * h], w, self.eps)
    });
    (out, l1.shape().clone())
} bwd |x, w, _res, g| {
    let rows = x.elem_count() / w.elem_count();
    let both = x.apply_op3_no_bwd(w, &g.contiguous()?, &RmsNormBackward { eps: self.eps })?;
    let dx = grad_for(x, || both.narrow(0, 0, rows)?.reshape(x.shape()))?;
    let dw = grad_for(w, || both.get(rows)?.reshape(w.shape()))?;
    Ok((dx, dw))
}}

/// `(x, w, g)` → `[rows + 1, h]`: the input gradient rows, then the weight gradient.
struct RmsNormBackward {
    eps: f32,
}

cpu_op! { CustomOp3 for RmsNormBackward, "mllmu-rms-norm-backward", |self, x: l1, w: l2, g: l3| {
    let h = width(x, w, self.name())?;
    let rows = x.len() / h;
    let mut out = vec![0f32; x.len() + h];
    let dw = for_rows_summing(&mut out[..x.len()], h, h, |r, dx, dw| {
        let (xr, gr) = (&x[r * h..(r + 1) * h], &g[r * h..(r + 1) * h]);
        rms_norm_backward_row(dx, dw, xr, gr, w, self.eps)
    });
    out[x.len()..].copy_from_slice(&dw);
    (out, Shape::from((rows + 1, h)))
}}

struct LayerNorm {
    eps: f32,
}

cpu_op! { CustomOp3 for LayerNorm, "mllmu-layer-norm", |self, x: l1, w: l2, b: l3| {
    let h = width(x, w, self.name())?;
    if b.len() != h {
        bail!("{}: bias of {} for rows of {h}", self.name(), b.len())
    }
    let mut out = vec![0f32; x.len()];
    for_rows(&mut out, h, |r, y| {
        layer_norm_row(y, &x[r * h..(r + 1) * h], w, b, self.eps)
    });
    (out, l1.shape().clone())
} bwd |x, w, b, _res, g| {
    let rows = x.elem_count() / w.elem_count();
    let all = x.apply_op3_no_bwd(w, &g.contiguous()?, &LayerNormBackward { eps: self.eps })?;
    let dx = grad_for(x, || all.narrow(0, 0, rows)?.reshape(x.shape()))?;
    let dw = grad_for(w, || all.get(rows)?.reshape(w.shape()))?;
    let db = grad_for(b, || all.get(rows + 1)?.reshape(b.shape()))?;
    Ok((dx, dw, db))
}}

/// `(x, w, g)` → `[rows + 2, h]`: the input gradient rows, the weight's, the bias's.
struct LayerNormBackward {
    eps: f32,
}

cpu_op! { CustomOp3 for LayerNormBackward, "mllmu-layer-norm-backward",
    |self, x: l1, w: l2, g: l3| {
    let h = width(x, w, self.name())?;
    let rows = x.len() / h;
    let mut out = vec![0f32; x.len() + 2 * h];
    let sums = for_rows_summing(&mut out[..x.len()], h, 2 * h, |r, dx, acc| {
        let (xr, gr) = (&x[r * h..(r + 1) * h], &g[r * h..(r + 1) * h]);
        layer_norm_backward_row(dx, acc, xr, gr, w, self.eps)
    });
    out[x.len()..].copy_from_slice(&sums);
    (out, Shape::from((rows + 2, h)))
}}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, both, var};
    use crate::model::norm;
    use candle_nn::Module;

    #[test]
    fn rms_norm_matches_the_composite_version() {
        // Rows of 300 × 70: more than one parallel task.
        let x = var(&[70, 300], 1, 2.0);
        let w = var(&[300], 2, 1.5);
        let out = both(&[&x, &w], || {
            norm::RmsNorm::from_weight(w.as_tensor().clone(), 1e-6).forward(x.as_tensor())
        });
        assert_close("rms_norm", out, 1e-5);
    }

    #[test]
    fn the_avx2_copies_give_the_same_bits() {
        use super::super::check::data;
        assert!(super::super::with_baseline(|| !super::super::wide_allowed()));
        for h in [1, 7, 8, 9, 64, 333] {
            let (x, g) = (data(h, 1, 3.0), data(h, 2, 1.0));
            let (w, b) = (data(h, 3, 1.5), data(h, 4, 0.5));
            let run = || {
                let (mut y, mut dx, mut dw) = (vec![0f32; h], vec![0f32; h], vec![0.25f32; h]);
                let (mut z, mut dz, mut acc) = (vec![0f32; h], vec![0f32; h], vec![0.5f32; 2 * h]);
                super::rms_norm_row(&mut y, &x, &w, 1e-6);
                super::rms_norm_backward_row(&mut dx, &mut dw, &x, &g, &w, 1e-6);
                super::layer_norm_row(&mut z, &x, &w, &b, 1e-5);
                super::layer_norm_backward_row(&mut dz, &mut acc, &x, &g, &w, 1e-5);
                [y, dx, dw, z, dz, acc].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
            };
            assert_eq!(run(), super::super::with_baseline(run), "rows of {h}");
        }
    }

    #[test]
    fn layer_norm_matches_the_composite_version() {
        let x = var(&[3, 5, 64], 3, 3.0);
        let w = var(&[64], 4, 1.5);
        let b = var(&[64], 5, 0.5);
        let out = both(&[&x, &w, &b], || {
            norm::LayerNorm::from_weights(w.as_tensor().clone(), b.as_tensor().clone(), 1e-5)
                .forward(x.as_tensor())
        });
        assert_close("layer_norm", out, 1e-5);
    }
}
