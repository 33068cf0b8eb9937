//! Language-model losses built from differentiable candle primitives.
//!
//! candle's `cross_entropy` has no ignore index and its fused softmax has no backward pass,
//! so every loss here is written from `max`, `exp`, `sum`, `log` and `gather`, in f32.
//!
//! The reference loss is the one transformers 4.45.1 computes inside
//! `LlavaForConditionalGeneration.forward` (SPEC.md §4, fixtures README §3 "Loss"):
//!
//! ```text
//! shift by one:     position t predicts token t+1
//! keep:             attention_mask[b, t+1] != 0  and  labels[b, t+1] != -100
//! token-mean NLL:   -(1/K) Σ_kept log softmax(logits[b, t])[labels[b, t+1]]
//! ```
//!
//! where K is the number of kept positions in the whole batch (not per row).

use crate::model::fused;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, D};

/// The label value that excludes a position from every loss (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// One forward pass as the losses see it: the logits and the batch's labels and mask.
///
/// `logits` is `[B, L, V]` (any float dtype; losses upcast to f32), `labels` is `[B, L]`
/// (any integer dtype, [`IGNORE_INDEX`] for excluded positions) and `attention_mask`, when
/// given, is `[B, L]` with zeros at padding.
#[derive(Debug, Clone, Copy)]
pub struct Pass<'a> {
    /// Model output, `[B, L, V]`.
    pub logits: &'a Tensor,
    /// Target ids, `[B, L]`, unshifted (the loss shifts them).
    pub labels: &'a Tensor,
    /// Padding mask, `[B, L]`, non-zero for real tokens.
    pub attention_mask: Option<&'a Tensor>,
}

impl<'a> Pass<'a> {
    /// Bundles logits, labels and an optional mask.
    pub fn new(logits: &'a Tensor, labels: &'a Tensor, attention_mask: Option<&'a Tensor>) -> Self {
        Pass {
            logits,
            labels,
            attention_mask,
        }
    }

    /// The same labels and mask with other logits (e.g. a reference model's).
    pub fn with_logits(&self, logits: &'a Tensor) -> Pass<'a> {
        Pass { logits, ..*self }
    }
}

/// Log-softmax over the last dimension in f32, differentiable (the max shift is detached,
/// which leaves the gradient unchanged).
///
/// ```
/// use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap();
/// let y = mllmu::train::loss::log_softmax(&x).unwrap().to_vec2::<f32>().unwrap();
/// let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
/// assert!((y[0][2] - (3.0 - lse)).abs() < 1e-6);
/// ```
pub fn log_softmax(xs: &Tensor) -> Result<Tensor> {
    let xs = xs.to_dtype(DType::F32)?;
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let shifted = xs.broadcast_sub(&max)?;
    if fused::applies(&[&xs]) {
        // the shifted row's maximum is exactly 0, so this is log Σ exp(shifted) as below
        let lse = fused::logsumexp(&shifted)?.unsqueeze(D::Minus1)?;
        return Ok(shifted.broadcast_sub(&lse)?);
    }
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Log-sum-exp over the last dimension (dimension removed), f32, differentiable.
pub fn logsumexp(xs: &Tensor) -> Result<Tensor> {
    let xs = xs.to_dtype(DType::F32)?;
    if fused::applies(&[&xs]) {
        return Ok(fused::logsumexp(&xs)?);
    }
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let lse = xs
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?;
    Ok(lse.broadcast_add(&max)?.squeeze(D::Minus1)?)
}

/// `log σ(x)` elementwise, stable for large |x|: `min(x, 0) − log(1 + e^{−|x|})`.
pub fn log_sigmoid(xs: &Tensor) -> Result<Tensor> {
    let neg_part = xs.minimum(0f64)?;
    let softplus = xs.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok((neg_part - softplus)?)
}

/// Per-token log-likelihoods of the shifted labels, with the mask of kept positions.
#[derive(Debug, Clone)]
pub struct TokenLogProbs {
    /// `log p(labels[b, t+1] | ...)` at `[b, t]`, `[B, L-1]` f32, zero where not kept.
    pub logprobs: Tensor,
    /// 1.0 where the position counts, else 0.0, `[B, L-1]` f32.
    pub kept: Tensor,
    /// Kept positions per row.
    pub tokens: Vec<usize>,
}

impl TokenLogProbs {
    /// Kept positions in the whole batch.
    pub fn total_tokens(&self) -> usize {
        self.tokens.iter().sum()
    }
}

/// The three dimensions of `t`, or an error naming it (`what`) and the `expected` shape.
fn dims3(t: &Tensor, what: &str, expected: &str) -> Result<(usize, usize, usize)> {
    t.dims3()
        .map_err(|_| Error::param(what, format!("{:?}", t.dims()), expected))
}

/// Checks shapes and returns (B, L, V).
fn dims(pass: &Pass) -> Result<(usize, usize, usize)> {
    let (b, l, v) = dims3(pass.logits, "logits", "expected [batch, length, vocab]")?;
    for (name, t) in [
        ("labels", Some(pass.labels)),
        ("attention_mask", pass.attention_mask),
    ] {
        if let Some(t) = t.filter(|t| t.dims() != [b, l]) {
            return Err(Error::param(
                name,
                format!("{:?}", t.dims()),
                format!("expected [{b}, {l}] to match the logits"),
            ));
        }
    }
    if l < 2 {
        return Err(Error::param(
            "sequence length",
            l,
            "a causal LM loss needs at least 2 positions",
        ));
    }
    Ok((b, l, v))
}

/// Shifted log-likelihoods of the labels under the logits, transformers-style masking:
/// position `t` of row `b` is kept when `labels[b, t+1] != -100` and (if a mask is given)
/// `attention_mask[b, t+1] != 0`.
///
/// Labels outside `0..V` other than `-100` are an error (PyTorch raises too).
pub fn token_logprobs(pass: &Pass) -> Result<TokenLogProbs> {
    let (b, l, v) = dims(pass)?;
    let device = pass.logits.device();
    let labels = pass.labels.to_dtype(DType::I64)?.to_vec2::<i64>()?;
    let mask = (pass.attention_mask)
        .map(|m| m.to_dtype(DType::F32)?.to_vec2::<f32>())
        .transpose()?;
    let mut idx = Vec::with_capacity(b * l);
    let mut kept = Vec::with_capacity(b * (l - 1));
    let mut tokens = vec![0usize; b];
    for (row, row_labels) in labels.iter().enumerate() {
        for t in 1..l {
            let y = row_labels[t];
            let attended = mask.as_ref().is_none_or(|m| m[row][t] != 0.0);
            if y == IGNORE_INDEX {
                idx.push(0u32);
                kept.push(0f32);
                continue;
            }
            if y < 0 || y as usize >= v {
                return Err(Error::param(
                    "labels",
                    y,
                    format!("row {row}, position {t}: a label must be -100 or a token id below the vocabulary size {v}"),
                ));
            }
            idx.push(y as u32);
            kept.push(if attended { 1.0 } else { 0.0 });
            tokens[row] += usize::from(attended);
        }
        idx.push(0u32); // the last position predicts nothing
    }
    // Gather and log-sum-exp run over all L positions (the last one's index is a dummy)
    // and are narrowed afterwards, which avoids copying the [B, L-1, V] slice.
    let idx = Tensor::from_vec(idx, (b, l, 1), device)?;
    let kept = Tensor::from_vec(kept, (b, l - 1), device)?;
    let logits = pass.logits.to_dtype(DType::F32)?.contiguous()?;
    let target = logits.gather(&idx, 2)?.squeeze(2)?.narrow(1, 0, l - 1)?;
    let lse = logsumexp(&logits)?.narrow(1, 0, l - 1)?;
    let logprobs = ((target - lse)? * &kept)?;
    Ok(TokenLogProbs {
        logprobs,
        kept,
        tokens,
    })
}

/// Token-mean NLL over the whole batch, exactly as transformers 4.45.1 LLaVA computes its
/// `loss` (see the module docs). A scalar f32 tensor.
///
/// Fails when no position is kept (PyTorch would return NaN).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use mllmu::train::loss::{token_mean_nll, Pass};
/// let logits = Tensor::zeros((1, 3, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
/// let labels = Tensor::new(&[[-100i64, 2, 3]], &Device::Cpu).unwrap();
/// let nll = token_mean_nll(&Pass::new(&logits, &labels, None)).unwrap();
/// assert!((nll.to_scalar::<f32>().unwrap() - 4f32.ln()).abs() < 1e-6); // uniform over 4
/// ```
pub fn token_mean_nll(pass: &Pass) -> Result<Tensor> {
    let tl = token_logprobs(pass)?;
    let n = tl.total_tokens();
    if n == 0 {
        return Err(Error::param(
            "labels",
            "all -100 or padded",
            "the batch has no labelled token, so its mean NLL is undefined\nhint: check the label mask and the answers",
        ));
    }
    Ok(tl.logprobs.sum_all()?.affine(-1.0 / n as f64, 0.0)?)
}

/// Per-sequence NLL summed over the kept tokens of each row, `[B]` f32, with the token
/// counts (`|y_i|`). `−log π(y_i | x_i)` in the NPO paper's notation.
pub fn sequence_nll(pass: &Pass) -> Result<(Tensor, Vec<usize>)> {
    let tl = token_logprobs(pass)?;
    if let Some(row) = tl.tokens.iter().position(|&n| n == 0) {
        return Err(Error::param(
            "labels",
            format!("row {row}"),
            "this sequence has no labelled token, so its likelihood is undefined",
        ));
    }
    Ok((tl.logprobs.sum(1)?.neg()?, tl.tokens))
}

/// `KL(reference ‖ current)` as `F.kl_div(log_softmax(cur), softmax(ref), reduction='batchmean')`:
/// `(1/B) Σ_{b,t,v} p_ref (log p_ref − log p_cur)` over **all** positions (padding included),
/// divided by the batch size only. The reference logits are detached.
pub fn kl_batchmean(current: &Tensor, reference: &Tensor) -> Result<Tensor> {
    let (b, _, _) = check_kl_shapes(current, reference)?;
    let per = kl_per_position(current, reference)?;
    Ok(per.sum_all()?.affine(1.0 / b as f64, 0.0)?)
}

/// `KL(reference ‖ current)` summed over the vocabulary and averaged over the positions where
/// `attention_mask != 0` (a corrected, token-mean variant of [`kl_batchmean`]).
pub fn kl_token_mean(
    current: &Tensor,
    reference: &Tensor,
    attention_mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, l, _) = check_kl_shapes(current, reference)?;
    let per = kl_per_position(current, reference)?;
    let (weights, n) = match attention_mask {
        Some(m) => mask_weights(m, (b, l), "the KL over")?,
        None => (Tensor::ones((b, l), DType::F32, current.device())?, b * l),
    };
    Ok((per * weights)?.sum_all()?.affine(1.0 / n as f64, 0.0)?)
}

fn check_kl_shapes(current: &Tensor, reference: &Tensor) -> Result<(usize, usize, usize)> {
    let d = dims3(current, "logits", "expected [batch, length, vocab]")?;
    if reference.dims() != current.dims() {
        return Err(Error::param(
            "reference logits",
            format!("{:?}", reference.dims()),
            format!("expected {:?} like the current logits", current.dims()),
        ));
    }
    Ok(d)
}

/// `Σ_v p_ref (log p_ref − log p_cur)` per position, `[B, L]`.
fn kl_per_position(current: &Tensor, reference: &Tensor) -> Result<Tensor> {
    let log_cur = log_softmax(current)?;
    let log_ref = log_softmax(&reference.detach())?;
    let p_ref = log_ref.exp()?;
    Ok((p_ref * (log_ref - log_cur)?)?.sum(D::Minus1)?)
}

/// Mean of squared differences over all elements (`F.mse_loss`, reduction `mean`), or over
/// the positions where `mask != 0` (times the hidden size) when a `[B, L]` mask is given.
/// `target` may broadcast against `x` (e.g. a `[H]` control vector).
pub fn mse(x: &Tensor, target: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let x = x.to_dtype(DType::F32)?;
    let diff = x.broadcast_sub(&target.to_dtype(DType::F32)?)?;
    let sq = diff.sqr()?;
    match mask {
        None => Ok(sq.mean_all()?),
        Some(m) => {
            let (b, l, h) = dims3(&sq, "hidden states", "expected [batch, length, hidden]")?;
            let (w, n) = mask_weights(m, (b, l), "over")?;
            Ok(sq
                .broadcast_mul(&w.unsqueeze(2)?)?
                .sum_all()?
                .affine(1.0 / (n * h) as f64, 0.0)?)
        }
    }
}

/// A `[B, L]` mask as f32 weights (1 where non-zero) with their count; an error when the
/// shape is not `dims` or no position is left to average `what`.
fn mask_weights(m: &Tensor, dims: (usize, usize), what: &str) -> Result<(Tensor, usize)> {
    let (b, l) = dims;
    if m.dims() != [b, l] {
        return Err(Error::param(
            "attention_mask",
            format!("{:?}", m.dims()),
            format!("expected [{b}, {l}]"),
        ));
    }
    let w = m.ne(0f64)?.to_dtype(DType::F32)?;
    let n = w.sum_all()?.to_scalar::<f32>()? as usize;
    if n == 0 {
        return Err(Error::param(
            "attention_mask",
            "all zero",
            format!("no position to average {what}"),
        ));
    }
    Ok((w, n))
}

/// A scalar f32 zero on `device` (the neutral loss term).
pub(crate) fn zero(device: &Device) -> Result<Tensor> {
    Ok(Tensor::zeros((), DType::F32, device)?)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A fixed tiny batch and f64 hand computations shared by the loss and objective tests.
    use candle_core::{Device, Tensor};

    /// Logits `[2, 4, 5]`, a deterministic pattern offset by `shift`.
    pub fn logits_data(shift: f64) -> Vec<Vec<Vec<f64>>> {
        (0..2)
            .map(|b| {
                (0..4)
                    .map(|t| {
                        (0..5)
                            .map(|v| {
                                ((b * 31 + t * 7 + v * 3) % 11) as f64 * 0.37 - 1.5
                                    + shift * (v as f64 - 2.0)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    pub fn tensor(d: &[Vec<Vec<f64>>]) -> Tensor {
        let flat: Vec<f32> = d.iter().flatten().flatten().map(|&x| x as f32).collect();
        Tensor::from_vec(flat, (d.len(), d[0].len(), d[0][0].len()), &Device::Cpu).unwrap()
    }

    /// Labels: row 0 scores positions 1..3, row 1 scores positions 2..3.
    pub fn labels() -> Tensor {
        Tensor::new(&[[-100i64, 3, 4, 1], [-100i64, -100, 2, 0]], &Device::Cpu).unwrap()
    }

    /// The (row, logit position, target) triples the labels keep.
    pub const KEPT: [(usize, usize, usize); 5] =
        [(0, 0, 3), (0, 1, 4), (0, 2, 1), (1, 1, 2), (1, 2, 0)];

    pub fn lsm(row: &[f64]) -> Vec<f64> {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|x| (x - m).exp()).sum();
        row.iter().map(|x| x - m - s.ln()).collect()
    }

    /// Token-mean NLL over KEPT.
    pub fn mean_nll(d: &[Vec<Vec<f64>>]) -> f64 {
        -KEPT.iter().map(|&(b, t, y)| lsm(&d[b][t])[y]).sum::<f64>() / KEPT.len() as f64
    }

    /// Per-row summed NLL and token counts over KEPT.
    pub fn seq_nll(d: &[Vec<Vec<f64>>]) -> (Vec<f64>, Vec<f64>) {
        let mut s = vec![0.0; 2];
        let mut n = vec![0.0; 2];
        for &(b, t, y) in &KEPT {
            s[b] -= lsm(&d[b][t])[y];
            n[b] += 1.0;
        }
        (s, n)
    }

    pub fn logsig(x: f64) -> f64 {
        -(1.0 + (-x).exp()).ln()
    }

    pub fn scalar(t: &Tensor) -> f64 {
        t.to_scalar::<f32>().unwrap() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{logits_data, lsm, tensor};
    use super::*;
    use crate::model::fused::check::{assert_close, both, var};

    #[test]
    fn fused_logsumexp_matches_the_composite_version() {
        // 2 × 9 rows over a vocabulary of 3000: several rows per task, several tasks.
        let x = var(&[2, 9, 3000], 1, 12.0);
        let out = both(&[&x], || Ok(logsumexp(x.as_tensor()).unwrap()));
        assert_close("logsumexp", out, 1e-5);
        let out = both(&[&x], || Ok(log_softmax(x.as_tensor()).unwrap()));
        assert_close("log_softmax", out, 1e-5);
    }

    fn cpu() -> Device {
        Device::Cpu
    }

    #[test]
    fn token_mean_nll_matches_transformers_masking() {
        // row 0: right-padded (last position pad), row 1: prompt masked with -100.
        let labels = Tensor::new(&[[1i64, 3, 4, -100], [-100i64, -100, 2, 0]], &cpu()).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 0], [1u32, 1, 1, 0]], &cpu()).unwrap();
        let logits = tensor(&logits_data(0.0));
        let got = token_mean_nll(&Pass::new(&logits, &labels, Some(&mask)))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        // kept: (b0,t0→3), (b0,t1→4), (b1,t1→2). (b1,t2→0) is dropped by the mask though labelled.
        let d = logits_data(0.0);
        let terms = [(0, 0, 3), (0, 1, 4), (1, 1, 2)];
        let want: f64 = -terms.iter().map(|&(b, t, y)| lsm(&d[b][t])[y]).sum::<f64>() / 3.0;
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        // Without the mask the fourth term joins.
        let got4 = token_mean_nll(&Pass::new(&logits, &labels, None))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let want4 = (want * 3.0 - lsm(&d[1][2])[0]) / 4.0;
        assert!((got4 as f64 - want4).abs() < 1e-6);
    }

    #[test]
    fn sequence_nll_sums_per_row() {
        let labels = Tensor::new(&[[1i64, 3, 4, 0], [-100i64, -100, 2, 1]], &cpu()).unwrap();
        let logits = tensor(&logits_data(0.0));
        let (s, n) = sequence_nll(&Pass::new(&logits, &labels, None)).unwrap();
        let s = s.to_vec1::<f32>().unwrap();
        let d = logits_data(0.0);
        let r0: f64 = -(lsm(&d[0][0])[3] + lsm(&d[0][1])[4] + lsm(&d[0][2])[0]);
        let r1: f64 = -(lsm(&d[1][1])[2] + lsm(&d[1][2])[1]);
        assert_eq!(n, vec![3, 2]);
        assert!((s[0] as f64 - r0).abs() < 1e-5 && (s[1] as f64 - r1).abs() < 1e-5);
    }

    #[test]
    fn gradient_flows_only_through_kept_positions() {
        let var = candle_core::Var::from_tensor(&tensor(&logits_data(0.0))).unwrap();
        let labels =
            Tensor::new(&[[1i64, 3, -100, -100], [-100i64, -100, -100, 0]], &cpu()).unwrap();
        let loss = token_mean_nll(&Pass::new(var.as_tensor(), &labels, None)).unwrap();
        let g = loss.backward().unwrap();
        let g = g.get(var.as_tensor()).unwrap().to_vec3::<f32>().unwrap();
        // kept: (0,0) and (1,2); everything else has zero gradient.
        let nz = |b: usize, t: usize| g[b][t].iter().any(|x| x.abs() > 0.0);
        assert!(nz(0, 0) && nz(1, 2));
        assert!(!nz(0, 1) && !nz(0, 2) && !nz(0, 3) && !nz(1, 0) && !nz(1, 1) && !nz(1, 3));
        // d/dlogit of mean CE = (softmax − onehot)/K at kept positions.
        let d = logits_data(0.0);
        let p: Vec<f64> = lsm(&d[0][0]).iter().map(|x| x.exp()).collect();
        for v in 0..5 {
            let want = (p[v] - if v == 3 { 1.0 } else { 0.0 }) / 2.0;
            assert!((g[0][0][v] as f64 - want).abs() < 1e-6);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let logits = tensor(&logits_data(0.0));
        let labels = Tensor::new(&[[-100i64; 4], [-100i64; 4]], &cpu()).unwrap();
        let e = token_mean_nll(&Pass::new(&logits, &labels, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no labelled token"), "{e}");
        let labels = Tensor::new(&[[1i64, 9, 0, 0], [0i64; 4]], &cpu()).unwrap();
        let e = token_mean_nll(&Pass::new(&logits, &labels, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid labels = 9") && e.contains("vocabulary size 5"),
            "{e}"
        );
        let labels = Tensor::new(&[[1i64, 2, 0]], &cpu()).unwrap();
        let e = token_mean_nll(&Pass::new(&logits, &labels, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected [2, 4]"), "{e}");
    }

    #[test]
    fn kl_batchmean_sums_all_positions_over_batch() {
        let cur = tensor(&logits_data(0.0));
        let refl = (tensor(&logits_data(0.0))
            .affine(0.5, 0.1)
            .unwrap()
            .sin()
            .unwrap()
            * 2.0)
            .unwrap();
        let got = kl_batchmean(&cur, &refl)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let c = logits_data(0.0);
        let r = refl.to_dtype(DType::F64).unwrap().to_vec3::<f64>().unwrap();
        let kl_at = |(b, t): (usize, usize)| {
            let (lc, lr) = (lsm(&c[b][t]), lsm(&r[b][t]));
            (0..5).map(|v| lr[v].exp() * (lr[v] - lc[v])).sum::<f64>()
        };
        let all = (0..2).flat_map(|b| (0..4).map(move |t| (b, t)));
        let want = all.map(kl_at).sum::<f64>() / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // Token-mean with a mask divides by kept positions instead.
        let mask = Tensor::new(&[[1u8, 1, 1, 0], [1u8, 1, 0, 0]], &cpu()).unwrap();
        let tm = kl_token_mean(&cur, &refl, Some(&mask))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let kept = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)];
        let want_tm: f64 = kept.into_iter().map(kl_at).sum();
        assert!((tm - want_tm / 5.0).abs() < 1e-5);
        // KL of a distribution with itself is zero.
        let z = kl_batchmean(&cur, &cur)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(z.abs() < 1e-6);
    }

    #[test]
    fn log_sigmoid_is_stable() {
        let x = Tensor::new(&[-50f32, -1.0, 0.0, 2.0, 80.0], &cpu()).unwrap();
        let y = log_sigmoid(&x).unwrap().to_vec1::<f32>().unwrap();
        for (xi, yi) in [-50f64, -1.0, 0.0, 2.0, 80.0].iter().zip(y) {
            let want = -(1.0 + (-xi).exp()).ln();
            assert!((yi as f64 - want).abs() < 1e-5, "{xi}: {yi} vs {want}");
        }
    }

    #[test]
    fn mse_masks_positions() {
        let h = Tensor::new(&[[[1f32, 2.], [3., 4.]], [[0., 0.], [10., 10.]]], &cpu()).unwrap();
        let u = Tensor::new(&[1f32, 1.], &cpu()).unwrap();
        let all = mse(&h, &u, None).unwrap().to_scalar::<f32>().unwrap();
        let want_all = (0. + 1. + 4. + 9. + 1. + 1. + 81. + 81.) / 8.0;
        assert!((all - want_all).abs() < 1e-5);
        let m = Tensor::new(&[[1u32, 1], [1, 0]], &cpu()).unwrap();
        let masked = mse(&h, &u, Some(&m)).unwrap().to_scalar::<f32>().unwrap();
        assert!((masked - (0. + 1. + 4. + 9. + 1. + 1.) / 6.0).abs() < 1e-5);
    }
}
