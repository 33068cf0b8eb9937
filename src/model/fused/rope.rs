//! Rotary position embedding in the `rotate_half` form, fused with the move from
//! position-major rows to heads: `[B·L, n·d]` (what a linear layer gives) → `[B, n, L, d]`
//! (what attention multiplies), one node and one pass instead of a transpose, two narrows,
//! a negation, a concatenation, two products and a sum. With `h = d/2` and `j < h`:
//!
//! ```text
//! y[j]     = x[j]·cos[j]         − x[j + h]·sin[j]
//! y[j + h] = x[j + h]·cos[j + h] + x[j]·sin[j + h]
//! dx[j]     = g[j]·cos[j]         + g[j + h]·sin[j + h]
//! dx[j + h] = g[j + h]·cos[j + h] − g[j]·sin[j]
//! ```

use super::for_rows;
use candle_core::{bail, Result, Shape, Tensor};

/// Sizes of one call: batch, positions, heads, head width, rows of the cos/sin tables, and
/// the factor `x` is multiplied by first (attention's `1/√d` for queries).
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    l: usize,
    n: usize,
    d: usize,
    table_rows: usize,
    scale: f32,
}

/// Rotates `scale·x` (`x` `[B·L, n·d]` or `[B, L, n·d]`, float32 on the CPU) with
/// `cos`/`sin` (`[1 | B, 1, L, d]`) and returns `[B, n, L, d]`, contiguous. The products
/// are those of `(x·scale)` rotated, so the result is the composite one's.
pub(crate) fn rope_heads(
    x: &Tensor,
    (b, l, n, d): (usize, usize, usize, usize),
    cos: &Tensor,
    sin: &Tensor,
    scale: f64,
) -> Result<Tensor> {
    let (cb, one, cl, cd) = cos.dims4()?;
    if x.elem_count() != b * l * n * d || one != 1 || cl != l || cd != d || d % 2 != 0 {
        bail!(
            "rope: input {:?} with tables {:?} do not fit batch {b}, length {l}, {n} heads of {d}",
            x.dims(),
            cos.dims()
        )
    }
    if cb != 1 && cb != b {
        bail!("rope: tables for {cb} rows, batch of {b}")
    }
    let dims = Dims {
        b,
        l,
        n,
        d,
        table_rows: cb,
        scale: scale as f32,
    };
    x.contiguous()?
        .apply_op3(&cos.contiguous()?, &sin.contiguous()?, RopeHeads(dims))
}

impl Dims {
    /// Offset of the table row for output row `r` (`(batch, head, position)`).
    fn table(&self, batch: usize, pos: usize) -> usize {
        let tb = if self.table_rows == 1 { 0 } else { batch };
        (tb * self.l + pos) * self.d
    }

    /// `(batch, head, position)` of row `r` of `[B, n, L, d]`.
    fn head_major(&self, r: usize) -> (usize, usize, usize) {
        (r / (self.n * self.l), r / self.l % self.n, r % self.l)
    }

    /// Offset of `(batch, head, position)` in `[B, L, n, d]`.
    fn position_major(&self, batch: usize, head: usize, pos: usize) -> usize {
        ((batch * self.l + pos) * self.n + head) * self.d
    }
}

struct RopeHeads(Dims);

cpu_op! { CustomOp3 for RopeHeads, "mllmu-rope", |self, x: l1, cos: l2, sin: l3| {
    let p = self.0;
    let h = p.d / 2;
    let mut out = vec![0f32; x.len()];
    for_rows(&mut out, p.d, |r, y| {
        let (b, head, pos) = p.head_major(r);
        let xr = &x[p.position_major(b, head, pos)..][..p.d];
        let t = p.table(b, pos);
        let (c, s) = (&cos[t..t + p.d], &sin[t..t + p.d]);
        let k = p.scale;
        for j in 0..h {
            let (a, b) = (xr[j] * k, xr[j + h] * k);
            y[j] = a * c[j] - b * s[j];
            y[j + h] = b * c[j + h] + a * s[j + h];
        }
    });
    (out, Shape::from((p.b, p.n, p.l, p.d)))
} bwd |x, cos, sin, _res, g| {
    let dx = g
        .contiguous()?
        .apply_op3_no_bwd(cos, sin, &RopeHeadsBackward(self.0))?
        .reshape(x.shape())?;
    Ok((Some(dx), None, None))
}}

/// `(g [B, n, L, d], cos, sin)` → the input gradient `[B, L, n, d]`.
struct RopeHeadsBackward(Dims);

cpu_op! { CustomOp3 for RopeHeadsBackward, "mllmu-rope-backward", |self, g: l1, cos: l2, sin: l3| {
    let p = self.0;
    let h = p.d / 2;
    let mut out = vec![0f32; g.len()];
    // Rows of the result are (batch, position, head).
    for_rows(&mut out, p.d, |r, dx| {
        let (b, pos, head) = (r / (p.l * p.n), r / p.n % p.l, r % p.n);
        let gr = &g[((b * p.n + head) * p.l + pos) * p.d..][..p.d];
        let t = p.table(b, pos);
        let (c, s) = (&cos[t..t + p.d], &sin[t..t + p.d]);
        let k = p.scale;
        for j in 0..h {
            dx[j] = (gr[j] * c[j] + gr[j + h] * s[j + h]) * k;
            dx[j + h] = (gr[j + h] * c[j + h] - gr[j] * s[j]) * k;
        }
    });
    (out, Shape::from((p.b, p.l, p.n, p.d)))
}}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, both, var};
    use crate::model::llama::Rope;

    #[test]
    fn rope_matches_the_composite_version() {
        let (b, l, n, d) = (2, 5, 3, 8);
        let x = var(&[b * l, n * d], 1, 2.0);
        let rope = Rope::new(d, 10000.0, &candle_core::Device::Cpu).unwrap();
        // per-row positions (left padding shifts row 1), tables [B, 1, L, d]
        let pos = candle_core::Tensor::new(
            &[[0f32, 1., 2., 3., 4.], [0., 0., 1., 2., 3.]],
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let (cos, sin) = rope.cos_sin(&pos, candle_core::DType::F32).unwrap();
        for scale in [1.0, 0.125] {
            let out = both(&[&x], || {
                Rope::heads(x.as_tensor(), (b, l, n, d), &cos, &sin, scale)
            });
            assert_close("rope", out, 1e-5);
        }
        // one table row for the whole batch
        let (cos1, sin1) = rope
            .cos_sin(
                &pos.get(0).unwrap().unsqueeze(0).unwrap(),
                candle_core::DType::F32,
            )
            .unwrap();
        let out = both(&[&x], || {
            Rope::heads(x.as_tensor(), (b, l, n, d), &cos1, &sin1, 1.0)
        });
        assert_close("rope (shared table)", out, 1e-5);
    }
}
