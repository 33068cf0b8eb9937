//! Softmax over the last dimension after adding an optional additive mask, one node, with
//! its backward `dx = y·(g − Σ g·y)` (the mask gets no gradient).

use super::{for_rows, values};
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

/// `softmax(scores + mask)` over the last dimension for float32 CPU tensors. `scores` is
/// `[B, H, L, T]`; `mask`, when given, is `[1 | B, 1, L, T]`. Returns `None` when the mask
/// has another shape (the caller then takes its composite path).
pub(crate) fn masked_softmax(scores: &Tensor, mask: Option<&Tensor>) -> Result<Option<Tensor>> {
    let Some(m) = mask else {
        return Ok(Some(scores.contiguous()?.apply_op1(Softmax)?));
    };
    let (Ok((b, h, l, t)), Ok((mb, m1, ml, mt))) = (scores.dims4(), m.dims4()) else {
        return Ok(None);
    };
    if !(m1 == 1 && ml == l && mt == t && (mb == 1 || mb == b)) {
        return Ok(None);
    }
    let op = MaskedSoftmax {
        heads: h,
        len: l,
        mask_rows: mb,
    };
    Ok(Some(scores.contiguous()?.apply_op2(&m.contiguous()?, op)?))
}

/// `eˣ` for `x ≤ 0`, within one unit in the last place of the exact value (tested over
/// [−87, 0]; libm's `expf` is as close), written without calls or branches so that a row's
/// worth vectorises: `eˣ = 2ⁿ·e^r` with `n = round(x·log₂e)` (rounded by adding and taking
/// away 1.5·2²³), `r = x − n·ln 2` in two parts, and a degree-7 polynomial for `e^r` on
/// |r| ≤ ½ ln 2 (Cephes' `expf` coefficients). Below −87 (`e⁻⁸⁷` ≈ 1.6·10⁻³⁸, the bottom
/// of float32's normal range) it gives 0: the masked positions and anything within 10⁻³⁸ of
/// them, which no sum of a softmax row can see. NaN stays NaN.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // NaN compares false and passes through (the cast below turns it into 0, `e` stays NaN)
    let xc = if x < EXP_FLOOR { EXP_FLOOR } else { x };
    let n = (xc * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    if x < EXP_FLOOR {
        0.0
    } else {
        e * scale
    }
}

/// Where [`exp_nonpositive`] stops: `2ⁿ` stays a normal float down to here.
const EXP_FLOOR: f32 = -87.0;
/// 1.5·2²³: adding and taking it away rounds a float32 of magnitude below 2²² to an integer.
const ROUND: f32 = 12_582_912.0;
/// ln 2 in two parts: the high part exact in a few bits, so `n·LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Softmax of one row in place, `x` already holding the (masked) scores.
fn softmax_row(y: &mut [f32]) {
    let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // the exponentials first (a loop that vectorises), then their sum in order
    for v in y.iter_mut() {
        *v = exp_nonpositive(*v - max);
    }
    let mut sum = 0f32;
    for v in y.iter() {
        sum += *v;
    }
    for v in y.iter_mut() {
        *v /= sum;
    }
}

/// The gradient of a softmax from its output `y` and the output's gradient `g`.
fn softmax_backward(y: &Tensor, g: &Tensor) -> Result<Tensor> {
    y.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBackward)
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "mllmu-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l, self.name())?;
        let t = l.dims().last().copied().unwrap_or(1);
        let mut out = x.to_vec();
        for_rows(&mut out, t, |_, y| softmax_row(y));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(softmax_backward(y, g)?))
    }
}

/// Softmax of `scores [B, H, L, T] + mask [1 | B, 1, L, T]`.
struct MaskedSoftmax {
    heads: usize,
    len: usize,
    mask_rows: usize,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "mllmu-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = values(s1, l1, self.name())?;
        let m = values(s2, l2, self.name())?;
        let t = l1.dims()[3];
        let (h, l) = (self.heads, self.len);
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, t, |r, y| {
            // row r is (batch, head, query) = (r / (h·l), _, r % l)
            let b = if self.mask_rows == 1 { 0 } else { r / (h * l) };
            let mr = &m[(b * l + r % l) * t..][..t];
            for ((y, &x), &m) in y.iter_mut().zip(&x[r * t..(r + 1) * t]).zip(mr) {
                *y = x + m;
            }
            softmax_row(y);
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(softmax_backward(y, g)?), None))
    }
}

/// `(y, g)` → `y·(g − Σ g·y)` per row.
struct SoftmaxBackward;

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "mllmu-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = values(s1, l1, self.name())?;
        let g = values(s2, l2, self.name())?;
        if y.len() != g.len() {
            bail!(
                "{}: {} outputs, {} gradients",
                self.name(),
                y.len(),
                g.len()
            )
        }
        let t = l1.dims().last().copied().unwrap_or(1);
        let mut out = vec![0f32; y.len()];
        for_rows(&mut out, t, |r, dx| {
            let (yr, gr) = (&y[r * t..(r + 1) * t], &g[r * t..(r + 1) * t]);
            let dot: f32 = yr.iter().zip(gr).map(|(y, g)| y * g).sum();
            for ((d, &y), &g) in dx.iter_mut().zip(yr).zip(gr) {
                *d = y * (g - dot);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, both, var};
    use crate::model::llama;
    use candle_core::{Device, Tensor};

    /// A causal mask `[rows, 1, L, T]` with the first `pad` keys of row 1 masked too.
    fn mask(rows: usize, l: usize, t: usize, pad: usize) -> Tensor {
        let mut m = vec![0f32; rows * l * t];
        for r in 0..rows {
            for q in 0..l {
                for k in 0..t {
                    if k > q + (t - l) || (r == 1 && k < pad) {
                        m[(r * l + q) * t + k] = f32::MIN;
                    }
                }
            }
        }
        Tensor::from_vec(m, (rows, 1, l, t), &Device::Cpu).unwrap()
    }

    #[test]
    fn masked_softmax_matches_the_composite_version() {
        let x = var(&[2, 3, 7, 9], 1, 4.0);
        for m in [None, Some(mask(2, 7, 9, 2)), Some(mask(1, 7, 9, 0))] {
            let out = both(&[&x], || llama::masked_softmax(x.as_tensor(), m.as_ref()));
            assert_close("masked_softmax", out, 1e-5);
        }
    }

    #[test]
    fn the_exponential_is_within_one_ulp_zero_below_its_floor_and_keeps_nan() {
        let mut worst = 0f64;
        let mut x = super::EXP_FLOOR;
        while x <= 0.0 {
            let want = f64::from(x).exp();
            let got = f64::from(super::exp_nonpositive(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_37;
        }
        assert!(worst <= f64::from(f32::EPSILON), "relative error {worst:e}");
        assert_eq!(super::exp_nonpositive(0.0), 1.0);
        for x in [-87.001f32, -104.0, -1e30, f32::MIN, f32::NEG_INFINITY] {
            assert_eq!(super::exp_nonpositive(x).to_bits(), 0, "exp({x})");
        }
        assert!(super::exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn rows_of_probabilities_sum_to_one() {
        let x = var(&[1, 2, 4, 300], 2, 30.0);
        let y = super::masked_softmax(x.as_tensor(), Some(&mask(1, 4, 300, 0)))
            .unwrap()
            .unwrap();
        let sums = y
            .sum(3)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
        // the causal mask leaves nothing on future keys
        let first = y.get(0).unwrap().get(0).unwrap().get(0).unwrap();
        let future = first.narrow(0, 297, 3).unwrap().sum_all().unwrap();
        assert_eq!(future.to_scalar::<f32>().unwrap(), 0.0);
    }
}
