//! RMSNorm (Llama) and LayerNorm (CLIP): float32 on the CPU through the fused kernels of
//! [`super::fused`], elsewhere written from differentiable candle primitives.
//!
//! candle-nn's fused `rms_norm`/`layer_norm` kernels build their result without a backward
//! op, which silently cuts the gradient; both paths here have a backward pass.
//! Both normalise in float32 and cast back, as transformers does for half precision.

use super::fused;
use candle_core::{Result, Tensor, D};
use candle_nn::{Module, VarBuilder};

/// `weight · x / sqrt(mean(x²) + eps)` over the last dimension.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    /// Scale, shape `[hidden]`.
    weight: Tensor,
    /// Added to the mean square.
    eps: f64,
}

impl RmsNorm {
    /// Reads `weight` `[size]` under `vb`.
    pub(crate) fn new(vb: VarBuilder, size: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: vb.get(size, "weight")?,
            eps,
        })
    }

    /// A norm over `weight` (tests of the fused kernel).
    #[cfg(test)]
    pub(crate) fn from_weight(weight: Tensor, eps: f64) -> RmsNorm {
        RmsNorm { weight, eps }
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if fused::applies(&[x, &self.weight]) {
            return fused::rms_norm(x, &self.weight, self.eps);
        }
        let dtype = x.dtype();
        let xf = x.to_dtype(super::upcast(dtype))?;
        let ms = xf.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xf.broadcast_div(&(ms + self.eps)?.sqrt()?)?;
        // transformers: weight * hidden.to(input_dtype)
        xn.to_dtype(dtype)?.broadcast_mul(&self.weight)
    }
}

/// `(x − mean) / sqrt(var + eps) · weight + bias` over the last dimension (biased variance).
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    /// Scale, shape `[hidden]`.
    weight: Tensor,
    /// Shift, shape `[hidden]`.
    bias: Tensor,
    /// Added to the variance.
    eps: f64,
}

impl LayerNorm {
    /// Reads `weight` and `bias` `[size]` under `vb`.
    pub(crate) fn new(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps,
        })
    }

    /// A norm over `weight` and `bias` (tests of the fused kernel).
    #[cfg(test)]
    pub(crate) fn from_weights(weight: Tensor, bias: Tensor, eps: f64) -> LayerNorm {
        LayerNorm { weight, bias, eps }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if fused::applies(&[x, &self.weight, &self.bias]) {
            return fused::layer_norm(x, &self.weight, &self.bias, self.eps);
        }
        let dtype = x.dtype();
        let xf = x.to_dtype(super::upcast(dtype))?;
        let mean = xf.mean_keepdim(D::Minus1)?;
        let centered = xf.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        let w = self.weight.to_dtype(xf.dtype())?;
        let b = self.bias.to_dtype(xf.dtype())?;
        xn.broadcast_mul(&w)?.broadcast_add(&b)?.to_dtype(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    #[test]
    fn norms_match_their_definitions() {
        let dev = Device::Cpu;
        let t = |v: &[f32]| Tensor::new(v, &dev).unwrap();
        let n = RmsNorm::from_weight(t(&[1., 2.]), 0.);
        let y = n.forward(&t(&[3., 4.]).unsqueeze(0).unwrap()).unwrap();
        let rms = (12.5f32).sqrt();
        assert_eq!(y.to_vec2::<f32>().unwrap(), [[3. / rms, 8. / rms]]);
        let n = LayerNorm::from_weights(t(&[1., 1.]), t(&[0., 10.]), 0.);
        let y = n.forward(&t(&[1., 3.]).unsqueeze(0).unwrap()).unwrap();
        assert_eq!(y.to_vec2::<f32>().unwrap(), [[-1., 11.]]);
    }

    #[test]
    fn norms_pass_gradients_to_input_and_weights() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::new(&[[1f32, -2., 0.5], [0.3, 0.1, 2.]], &dev).unwrap())
            .unwrap();
        let w = Var::from_tensor(&Tensor::new(&[1f32, 2., 3.], &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[0.1f32, 0.2, 0.3], &dev).unwrap()).unwrap();
        let rms = RmsNorm::from_weight(w.as_tensor().clone(), 1e-6);
        let ln = LayerNorm::from_weights(w.as_tensor().clone(), b.as_tensor().clone(), 1e-5);
        let coef = Tensor::new(&[[0.3f32, -1., 2.], [1., 0.5, -0.2]], &dev).unwrap();
        let loss = ((rms.forward(&x).unwrap() + ln.forward(&x).unwrap()).unwrap() * &coef)
            .unwrap()
            .sum_all()
            .unwrap();
        let g = loss.backward().unwrap();
        for v in [&x, &w, &b] {
            let n = g
                .get(v)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(n > 1e-3, "gradient missing");
        }
    }

    #[test]
    fn layer_norm_matches_definition() {
        let dev = Device::Cpu;
        let ln = LayerNorm::from_weights(
            Tensor::new(&[2f32, 2., 2., 2.], &dev).unwrap(),
            Tensor::zeros(4, DType::F32, &dev).unwrap(),
            0.,
        );
        let y = ln
            .forward(&Tensor::new(&[1f32, 2., 3., 4.], &dev).unwrap())
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let sd = 1.25f32.sqrt();
        let want = [-1.5 / sd * 2., -0.5 / sd * 2., 0.5 / sd * 2., 1.5 / sd * 2.];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
