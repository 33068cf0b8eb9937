//! A linear layer `y = x·Wᵀ + b` with an optional LoRA adapter slot.

use super::adapter::LoraAdapter;
use super::config::Activation;
use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

/// A linear layer holding the checkpoint tensors under its checkpoint name.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Checkpoint name without `.weight` (e.g. `language_model.model.layers.0.self_attn.q_proj`).
    pub name: String,
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Tensor>,
    /// A LoRA adapter added to the output, when one is attached.
    pub lora: Option<LoraAdapter>,
}

impl Linear {
    /// Reads `weight` `[out, in]` (and `bias` `[out]`) under `vb`, whose prefix names the layer.
    ///
    /// ```
    /// use candle_core::{Device, Module, Tensor};
    /// use mllmu::model::{linear::Linear, weights::Recorder};
    /// let dev = Device::Cpu;
    /// let rec = Recorder::serving([
    ///     ("l.weight".to_string(), Tensor::new(&[[1f32, 2.], [0., 1.]], &dev)?),
    ///     ("l.bias".to_string(), Tensor::new(&[0.5f32, 0.], &dev)?),
    /// ].into());
    /// let l = Linear::new(rec.var_builder(&dev).pp("l"), (2, 2), true)?;
    /// assert_eq!(l.name, "l");
    /// let y = l.forward(&Tensor::new(&[[[1f32, 1.]]], &dev)?)?;
    /// assert_eq!(y.to_vec3::<f32>()?, [[[3.5, 1.]]]);
    /// # Ok::<(), candle_core::Error>(())
    /// ```
    pub fn new(vb: VarBuilder, (in_f, out_f): (usize, usize), bias: bool) -> Result<Linear> {
        Ok(Linear {
            weight: vb.get((out_f, in_f), "weight")?,
            bias: bias.then(|| vb.get(out_f, "bias")).transpose()?,
            name: vb.prefix(),
            lora: None,
        })
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.dims().get(1).copied().unwrap_or(0)
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.dims().first().copied().unwrap_or(0)
    }

    /// `x2` is `[rows, in]`.
    fn forward_2d(&self, x2: &Tensor) -> Result<Tensor> {
        let fused = super::fused::applies(&[x2, &self.weight]);
        let mut y = match &self.bias {
            // one node for product and bias
            Some(b) if fused && super::fused::applies(&[b]) => {
                super::fused::linear_bias(x2, &self.weight, b)?
            }
            bias => {
                let y = if fused {
                    super::fused::linear(x2, &self.weight)?
                } else {
                    x2.matmul(&self.weight.t()?)?
                };
                match bias {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                }
            }
        };
        if let Some(lora) = &self.lora {
            y = (y + lora.forward(x2)?)?;
        }
        Ok(y)
    }
}

impl Module for Linear {
    /// Applies the layer to `x` (`[..., in]` → `[..., out]`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        if dims.len() == 2 {
            return self.forward_2d(x);
        }
        // Flatten the leading dimensions (each reshape is a node of the backward graph, so
        // callers that keep activations 2-D skip both).
        let in_f = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let y = self.forward_2d(&x.reshape((rows, in_f))?)?;
        let mut out_dims = dims[..dims.len() - 1].to_vec();
        out_dims.push(self.out_features());
        y.reshape(out_dims)
    }
}

/// `fc2(act(fc1(x)))`: CLIP's MLP and LLaVA's projector.
#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
    pub(crate) act: Activation,
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.act.forward(&self.fc1.forward(x)?)?)
    }
}
