//! RMSNorm and LayerNorm over the last dimension, one node each, with their backward.
//!
//! RMSNorm: `y = w·x·r`, `r = (Σx²/h + eps)^-½`;
//! `dx = r·w·g − x·r³/h · Σ(g·w·x)`, `dw = Σ_rows g·x·r`.
//! LayerNorm: `x̂ = (x − μ)·r`, `r = (Σ(x − μ)²/h + eps)^-½`, `y = x̂·w + b`;
//! `dx = r·(w·g − mean(w·g) − x̂·mean(w·g·x̂))`, `dw = Σ_rows g·x̂`, `db = Σ_rows g`.

use super::{for_rows, for_rows_summing, grad_for, values};
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

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

struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "mllmu-rms-norm"
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
        let h = width(x, w, self.name())?;
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, h, |r, y| {
            let xr = &x[r * h..(r + 1) * h];
            let rms = rms(xr, self.eps);
            for ((y, &x), &w) in y.iter_mut().zip(xr).zip(w) {
                *y = x / rms * w;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let rows = x.elem_count() / w.elem_count();
        let both = x.apply_op3_no_bwd(w, &g.contiguous()?, &RmsNormBackward { eps: self.eps })?;
        let dx = grad_for(x, || both.narrow(0, 0, rows)?.reshape(x.shape()))?;
        let dw = grad_for(w, || both.get(rows)?.reshape(w.shape()))?;
        Ok((dx, dw))
    }
}

/// `(x, w, g)` → `[rows + 1, h]`: the input gradient rows, then the weight gradient.
struct RmsNormBackward {
    eps: f32,
}

impl CustomOp3 for RmsNormBackward {
    fn name(&self) -> &'static str {
        "mllmu-rms-norm-backward"
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
        let x = values(s1, l1, self.name())?;
        let w = values(s2, l2, self.name())?;
        let g = values(s3, l3, self.name())?;
        let h = width(x, w, self.name())?;
        let rows = x.len() / h;
        let mut out = vec![0f32; x.len() + h];
        let dw = for_rows_summing(&mut out[..x.len()], h, h, |r, dx, dw| {
            let (xr, gr) = (&x[r * h..(r + 1) * h], &g[r * h..(r + 1) * h]);
            let inv = 1.0 / rms(xr, self.eps);
            let dot: f32 = xr.iter().zip(gr).zip(w).map(|((x, g), w)| g * w * x).sum();
            let k = inv * inv * inv / h as f32 * dot;
            for i in 0..h {
                dx[i] = inv * w[i] * gr[i] - xr[i] * k;
                dw[i] += gr[i] * xr[i] * inv;
            }
        });
        out[x.len()..].copy_from_slice(&dw);
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, h))))
    }
}

struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "mllmu-layer-norm"
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
        let x = values(s1, l1, self.name())?;
        let w = values(s2, l2, self.name())?;
        let b = values(s3, l3, self.name())?;
        let h = width(x, w, self.name())?;
        if b.len() != h {
            bail!("{}: bias of {} for rows of {h}", self.name(), b.len())
        }
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, h, |r, y| {
            let xr = &x[r * h..(r + 1) * h];
            let (mean, sd) = mean_std(xr, self.eps);
            for i in 0..h {
                y[i] = (xr[i] - mean) / sd * w[i] + b[i];
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let rows = x.elem_count() / w.elem_count();
        let all = x.apply_op3_no_bwd(w, &g.contiguous()?, &LayerNormBackward { eps: self.eps })?;
        let dx = grad_for(x, || all.narrow(0, 0, rows)?.reshape(x.shape()))?;
        let dw = grad_for(w, || all.get(rows)?.reshape(w.shape()))?;
        let db = grad_for(b, || all.get(rows + 1)?.reshape(b.shape()))?;
        Ok((dx, dw, db))
    }
}

/// `(x, w, g)` → `[rows + 2, h]`: the input gradient rows, the weight's, the bias's.
struct LayerNormBackward {
    eps: f32,
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "mllmu-layer-norm-backward"
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
        let x = values(s1, l1, self.name())?;
        let w = values(s2, l2, self.name())?;
        let g = values(s3, l3, self.name())?;
        let h = width(x, w, self.name())?;
        let rows = x.len() / h;
        let mut out = vec![0f32; x.len() + 2 * h];
        let sums = for_rows_summing(&mut out[..x.len()], h, 2 * h, |r, dx, acc| {
            let (xr, gr) = (&x[r * h..(r + 1) * h], &g[r * h..(r + 1) * h]);
            let (mean, sd) = mean_std(xr, self.eps);
            let inv = 1.0 / sd;
            let (mut m1, mut m2) = (0f32, 0f32);
            for i in 0..h {
                let xh = (xr[i] - mean) * inv;
                let wg = w[i] * gr[i];
                m1 += wg;
                m2 += wg * xh;
                acc[i] += gr[i] * xh;
                acc[h + i] += gr[i];
            }
            let (m1, m2) = (m1 / h as f32, m2 / h as f32);
            for i in 0..h {
                let xh = (xr[i] - mean) * inv;
                dx[i] = inv * (w[i] * gr[i] - m1 - xh * m2);
            }
        });
        out[x.len()..].copy_from_slice(&sums);
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, h))))
    }
}

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
