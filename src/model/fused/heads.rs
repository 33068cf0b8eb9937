//! The moves between position-major rows `[B·L, n·d]` (what linear layers read and write)
//! and attention heads `[B, n, L, d]`, as one node and one parallel copy each; each is the
//! other's backward. Written with candle, each is a reshape, a transpose and a strided copy,
//! with a backward node per step.

use super::for_rows;
use candle_core::{bail, Result, Shape, Tensor};

/// Rows `[B·L, n·d]` (or `[B, L, n·d]`) → heads `[B, n, L, d]`, float32 on the CPU.
pub(crate) fn split_heads(
    x: &Tensor,
    (b, l, n, d): (usize, usize, usize, usize),
) -> Result<Tensor> {
    if x.elem_count() != b * l * n * d {
        bail!(
            "split_heads: {:?} is not {b}×{l} rows of {n} heads of {d}",
            x.dims()
        )
    }
    x.contiguous()?.apply_op1(Move {
        dims: (b, l, n, d),
        to_heads: true,
    })
}

/// Heads `[B, n, L, d]` → rows `[B·L, n·d]`, float32 on the CPU.
pub(crate) fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, n, l, d) = x.dims4()?;
    x.contiguous()?.apply_op1(Move {
        dims: (b, l, n, d),
        to_heads: false,
    })
}

/// One permutation: rows → heads (`to_heads`) or heads → rows.
#[derive(Debug, Clone, Copy)]
struct Move {
    dims: (usize, usize, usize, usize),
    to_heads: bool,
}

cpu_op! { CustomOp1 for Move, if self.to_heads { "mllmu-split-heads" } else { "mllmu-merge-heads" },
    |self, x: l| {
    let (b, len, n, d) = self.dims;
    let mut out = vec![0f32; x.len()];
    if self.to_heads {
        // output row (batch, head, pos) ← input row (batch, pos, head)
        for_rows(&mut out, d, |r, y| {
            let (bi, h, p) = (r / (n * len), r / len % n, r % len);
            y.copy_from_slice(&x[((bi * len + p) * n + h) * d..][..d]);
        });
        (out, Shape::from((b, n, len, d)))
    } else {
        // output row (batch, pos, head) ← input row (batch, head, pos)
        for_rows(&mut out, d, |r, y| {
            let (bi, p, h) = (r / (len * n), r / n % len, r % n);
            y.copy_from_slice(&x[((bi * n + h) * len + p) * d..][..d]);
        });
        (out, Shape::from((b * len, n * d)))
    }
} bwd |x, _res, g| {
    let back = Move {
        to_heads: !self.to_heads,
        ..*self
    };
    Ok(Some(
        g.contiguous()?
            .apply_op1_no_bwd(&back)?
            .reshape(x.shape())?,
    ))
}}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, both, var};
    use super::super::with_enabled;

    #[test]
    fn split_and_merge_match_reshape_and_transpose() {
        let (b, l, n, d) = (2, 5, 3, 4);
        let x = var(&[b * l, n * d], 1, 1.0);
        let out = both(&[&x], || {
            if super::super::enabled() {
                super::split_heads(x.as_tensor(), (b, l, n, d))
            } else {
                x.as_tensor()
                    .reshape((b, l, n, d))?
                    .transpose(1, 2)?
                    .contiguous()
            }
        });
        assert_close("split_heads", out, 0.0);
        let h = var(&[b, n, l, d], 2, 1.0);
        let out = both(&[&h], || {
            if super::super::enabled() {
                super::merge_heads(h.as_tensor())
            } else {
                h.as_tensor().transpose(1, 2)?.reshape((b * l, n * d))
            }
        });
        assert_close("merge_heads", out, 0.0);
        // and one undoes the other
        let back = with_enabled(true, || {
            super::merge_heads(&super::split_heads(x.as_tensor(), (b, l, n, d)).unwrap()).unwrap()
        });
        assert_eq!(
            back.to_vec2::<f32>().unwrap(),
            x.as_tensor().to_vec2::<f32>().unwrap()
        );
    }
}
