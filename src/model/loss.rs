//! The causal-LM loss of transformers 4.45.1 `LlavaForConditionalGeneration`: shift by one
//! (position t predicts token t+1), keep positions where `attention_mask[:, 1:] != 0` and
//! `labels != -100`, mean cross-entropy over the kept tokens; logits upcast to float32.
//!
//! Written from differentiable primitives (log-sum-exp and gather), since candle-nn's
//! `cross_entropy` has no ignore index.

use crate::{Error, Result};
use candle_core::{DType, Tensor, D};

/// Labels equal to this value are ignored.
pub const IGNORE_INDEX: i64 = -100;

/// Per-token negative log-likelihoods after the shift: `(nll, weight)`, both `[B, L-1]`
/// float32, where `weight` is 1 at scored positions and 0 elsewhere (`nll` is finite but
/// meaningless there). Building block for per-sequence losses (NPO, ...).
///
/// `labels` is `[B, L]` of any integer or float dtype with −100 for ignored positions;
/// `attention_mask` is `[B, L]` (0 = padding) or `None`.
pub fn token_nll(
    logits: &Tensor,
    labels: &Tensor,
    attention_mask: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let (b, l, _) = logits.dims3()?;
    if labels.dims() != [b, l] {
        return Err(Error::param(
            "labels",
            format!("{:?}", labels.dims()),
            format!("expected [{b}, {l}] like the logits"),
        ));
    }
    if l < 2 {
        return Err(Error::param(
            "labels",
            format!("{:?}", labels.dims()),
            "a sequence needs at least 2 positions",
        ));
    }
    let x = logits.narrow(1, 0, l - 1)?.to_dtype(DType::F32)?;
    let lab = labels.narrow(1, 1, l - 1)?.to_dtype(DType::F32)?;
    let mut weight = lab.ge(0.0)?.to_dtype(DType::F32)?;
    if let Some(m) = attention_mask {
        if m.dims() != [b, l] {
            return Err(Error::param(
                "attention_mask",
                format!("{:?}", m.dims()),
                format!("expected [{b}, {l}] like the logits"),
            ));
        }
        let m = m
            .narrow(1, 1, l - 1)?
            .to_dtype(DType::F32)?
            .ne(0.0)?
            .to_dtype(DType::F32)?;
        weight = (weight * m)?;
    }
    let index = lab
        .maximum(0.0)?
        .to_dtype(DType::U32)?
        .unsqueeze(D::Minus1)?;
    let max = x.max_keepdim(D::Minus1)?.detach();
    let lse = (x
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        + &max)?;
    let picked = x.contiguous()?.gather(&index, D::Minus1)?;
    let nll = (lse - picked)?.squeeze(D::Minus1)?;
    Ok((nll, weight))
}

/// Mean cross-entropy over the scored tokens of the whole batch (a scalar float32 tensor).
/// An error when no position is scored.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let dev = Device::Cpu;
/// // two positions; position 0 predicts label 1 with uniform logits over 4 tokens
/// let logits = Tensor::zeros((1, 2, 4), candle_core::DType::F32, &dev)?;
/// let labels = Tensor::new(&[[-100i64, 1]], &dev)?;
/// let loss = mllmu::model::loss::masked_cross_entropy(&logits, &labels, None)?;
/// assert!((loss.to_scalar::<f32>()? - 4f32.ln()).abs() < 1e-6);
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn masked_cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    attention_mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (nll, weight) = token_nll(logits, labels, attention_mask)?;
    let count = weight.sum_all()?.to_scalar::<f32>()?;
    if count == 0.0 {
        return Err(Error::param(
            "labels",
            "all ignored",
            "no position is scored (every label is -100 or padded)",
        ));
    }
    Ok(((nll * weight)?.sum_all()? / count as f64)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_a_hand_computed_loss_and_respects_both_masks() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[[1f32, 2., 0.], [0., 0., 3.], [2., 2., 2.]]], &dev).unwrap();
        let labels = Tensor::new(&[[-100i64, 1, 2]], &dev).unwrap();
        let lse = |v: [f64; 3]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
        let want = ((lse([1., 2., 0.]) - 2.) + (lse([0., 0., 3.]) - 3.)) / 2.;
        let got = masked_cross_entropy(&logits, &labels, None)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        // masking the last position leaves only the first prediction
        let mask = Tensor::new(&[[1u32, 1, 0]], &dev).unwrap();
        let got = masked_cross_entropy(&logits, &labels, Some(&mask))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((got as f64 - (lse([1., 2., 0.]) - 2.)).abs() < 1e-6);
        let none = Tensor::new(&[[1u32, 0, 0]], &dev).unwrap();
        assert!(masked_cross_entropy(&logits, &labels, Some(&none)).is_err());
    }

    #[test]
    fn gradient_is_softmax_minus_onehot() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::new(&[[[0f32, 1., 2.], [0., 0., 0.]]], &dev).unwrap())
            .unwrap();
        let labels = Tensor::new(&[[0i64, 2]], &dev).unwrap();
        let loss = masked_cross_entropy(x.as_tensor(), &labels, None).unwrap();
        let g = loss
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        let z: f32 = [0f32, 1., 2.].iter().map(|v| v.exp()).sum();
        let p: Vec<f32> = [0f32, 1., 2.].iter().map(|v| v.exp() / z).collect();
        let want = [p[0], p[1], p[2] - 1.];
        for (a, b) in g[0][0].iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(g[0][1], [0., 0., 0.]);
    }
}
