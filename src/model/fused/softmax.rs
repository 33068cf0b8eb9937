//! Softmax over the last dimension after adding an optional additive mask, one node, with
//! its backward `dx = y·(g − Σ g·y)` (the mask gets no gradient).

use super::exp::exp_nonpositive;
use super::for_rows;
use candle_core::{bail, Result, Tensor};

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

/// The largest value, NaN ignored (as `f32::max` ignores it), in eight lanes so the loop
/// vectorises; the maximum of a set is the same whatever the order.
#[inline(always)]
fn row_max(y: &[f32]) -> f32 {
    let bigger = |a: f32, b: f32| if b > a { b } else { a };
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = y.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = bigger(*l, v);
        }
    }
    lanes
        .iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, bigger)
}

wide_fn! {
    fn softmax_row(y: &mut [f32]) {
        softmax_in_place(y)
    }
}

wide_fn! {
    /// `y = softmax(x + m)`.
    fn masked_softmax_row(y: &mut [f32], x: &[f32], m: &[f32]) {
        for ((y, &x), &m) in y.iter_mut().zip(x).zip(m) {
            *y = x + m;
        }
        softmax_in_place(y)
    }
}

wide_fn! {
    /// `dx = y·(g − Σ g·y)`, the sum in order.
    fn softmax_backward_row(dx: &mut [f32], y: &[f32], g: &[f32]) {
        let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = y * (g - dot);
        }
    }
}

/// Softmax of one row in place, `y` already holding the (masked) scores.
#[inline(always)]
fn softmax_in_place(y: &mut [f32]) {
    let max = row_max(y);
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

cpu_op! { CustomOp1 for Softmax, "mllmu-softmax", |self, x: l| {
    let t = l.dims().last().copied().unwrap_or(1);
    let mut out = x.to_vec();
    for_rows(&mut out, t, |_, y| softmax_row(y));
    (out, l.shape().clone())
} bwd |_x, y, g| {
    Ok(Some(softmax_backward(y, g)?))
}}

/// Softmax of `scores [B, H, L, T] + mask [1 | B, 1, L, T]`.
struct MaskedSoftmax {
    heads: usize,
    len: usize,
    mask_rows: usize,
}

cpu_op! { CustomOp2 for MaskedSoftmax, "mllmu-masked-softmax", |self, x: l1, m: l2| {
    let t = l1.dims()[3];
    let (h, l) = (self.heads, self.len);
    let mut out = vec![0f32; x.len()];
    for_rows(&mut out, t, |r, y| {
        // row r is (batch, head, query) = (r / (h·l), _, r % l)
        let b = if self.mask_rows == 1 { 0 } else { r / (h * l) };
        let mr = &m[(b * l + r % l) * t..][..t];
        masked_softmax_row(y, &x[r * t..(r + 1) * t], mr);
    });
    (out, l1.shape().clone())
} bwd |_x, _mask, y, g| {
    Ok((Some(softmax_backward(y, g)?), None))
}}

/// `(y, g)` → `y·(g − Σ g·y)` per row.
struct SoftmaxBackward;

cpu_op! { CustomOp2 for SoftmaxBackward, "mllmu-softmax-backward", |self, y: l1, g: l2| {
    if y.len() != g.len() {
        bail!("{}: {} outputs, {} gradients", self.name(), y.len(), g.len())
    }
    let t = l1.dims().last().copied().unwrap_or(1);
    let mut out = vec![0f32; y.len()];
    for_rows(&mut out, t, |r, dx| {
        softmax_backward_row(dx, &y[r * t..(r + 1) * t], &g[r * t..(r + 1) * t])
    });
    (out, l1.shape().clone())
}}

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
    fn the_avx2_copies_give_the_same_bits() {
        // One row per call, on this thread: the baseline switch is per thread.
        assert!(super::super::with_baseline(|| !super::super::wide_allowed()));
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 60.0
        };
        for t in [1, 7, 8, 9, 31, 64, 333] {
            let x: Vec<f32> = (0..t).map(|_| next()).collect();
            let mut m: Vec<f32> = (0..t)
                .map(|i| if i % 5 == 3 { f32::MIN } else { 0.0 })
                .collect();
            if t > 8 {
                m[1] = f32::NEG_INFINITY;
            }
            let g: Vec<f32> = (0..t).map(|_| next()).collect();
            let run = || {
                let mut plain = x.clone();
                super::softmax_row(&mut plain);
                let mut masked = vec![0f32; t];
                super::masked_softmax_row(&mut masked, &x, &m);
                let mut dx = vec![0f32; t];
                super::softmax_backward_row(&mut dx, &plain, &g);
                [plain, masked, dx].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
            };
            let wide = run();
            let baseline = super::super::with_baseline(run);
            assert_eq!(wide, baseline, "row of {t}");
            let sum: f32 = wide[0].iter().map(|&b| f32::from_bits(b)).sum();
            assert!((sum - 1.0).abs() < 1e-5, "row of {t} sums to {sum}");
        }
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
