//! The CLIP vision tower of LLaVA-1.5 (Radford et al. 2021, "Learning Transferable Visual
//! Models From Natural Language Supervision"), as in transformers 4.45.1
//! `models/clip/modeling_clip.py` (`CLIPVisionTransformer`).
//!
//! The patch convolution (stride = kernel, no padding) is computed as a matrix product over
//! unfolded patches: the same arithmetic as the convolution, with a simple backward pass.

use super::config::{Activation, VisionConfig};
use super::linear::Linear;
use super::llama::masked_softmax;
use super::norm::LayerNorm;
use super::weights::Weights;
use candle_core::{Result, Tensor};

/// Patch, class and position embeddings.
#[derive(Debug, Clone)]
pub struct ClipEmbeddings {
    /// `[D]`.
    pub class_embedding: Tensor,
    /// Convolution kernel `[D, C, p, p]` (no bias).
    pub patch_embedding: Tensor,
    /// `[patches + 1, D]`.
    pub position_embedding: Tensor,
    patch_size: usize,
}

impl ClipEmbeddings {
    fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = pixels.dims4()?;
        let p = self.patch_size;
        let (gh, gw) = (h / p, w / p);
        let d = self.class_embedding.dim(0)?;
        let pixels = pixels.to_dtype(self.patch_embedding.dtype())?;
        // [N, C, gh, p, gw, p] -> [N, gh, gw, C, p, p] -> [N·gh·gw, C·p·p]
        let patches = pixels
            .reshape((n, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((n * gh * gw, c * p * p))?;
        let kernel = self.patch_embedding.reshape((d, c * p * p))?;
        let embeds = patches.matmul(&kernel.t()?)?.reshape((n, gh * gw, d))?;
        let cls = self
            .class_embedding
            .reshape((1, 1, d))?
            .broadcast_as((n, 1, d))?;
        let x = Tensor::cat(&[&cls, &embeds], 1)?;
        x.broadcast_add(&self.position_embedding.unsqueeze(0)?)
    }
}

/// CLIP self-attention (with biases, no mask).
#[derive(Debug, Clone)]
pub struct ClipAttention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub out_proj: Linear,
    heads: usize,
}

impl ClipAttention {
    /// `x` is `[N·L, D]` (`n` images of `l` positions); so is the result.
    fn forward(&self, x: &Tensor, (n, l): (usize, usize)) -> Result<Tensor> {
        let dm = x.dim(1)?;
        let d = dm / self.heads;
        let shape = |t: Tensor| -> Result<Tensor> {
            t.reshape((n, l, self.heads, d))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = shape((self.q_proj.forward(x)? * (1.0 / (d as f64).sqrt()))?)?;
        let k = shape(self.k_proj.forward(x)?)?;
        let v = shape(self.v_proj.forward(x)?)?;
        let probs = masked_softmax(&q.matmul(&k.t()?)?, None)?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((n * l, dm))?;
        self.out_proj.forward(&out)
    }
}

/// `fc2(act(fc1(x)))`.
#[derive(Debug, Clone)]
pub struct ClipMlp {
    /// First linear.
    pub fc1: Linear,
    /// Second linear.
    pub fc2: Linear,
    act: Activation,
}

/// One pre-norm encoder layer.
#[derive(Debug, Clone)]
pub struct ClipEncoderLayer {
    /// Attention block.
    pub self_attn: ClipAttention,
    /// Norm before attention.
    pub layer_norm1: LayerNorm,
    /// MLP block.
    pub mlp: ClipMlp,
    /// Norm before the MLP.
    pub layer_norm2: LayerNorm,
}

impl ClipEncoderLayer {
    /// `x` is `[N·L, D]`; so is the result.
    fn forward(&self, x: &Tensor, nl: (usize, usize)) -> Result<Tensor> {
        let h = (x + self.self_attn.forward(&self.layer_norm1.forward(x)?, nl)?)?;
        let m = self.mlp.fc2.forward(
            &self
                .mlp
                .act
                .forward(&self.mlp.fc1.forward(&self.layer_norm2.forward(&h)?)?)?,
        )?;
        h + m
    }
}

/// The CLIP vision transformer (`vision_tower.vision_model.*`).
#[derive(Debug, Clone)]
pub struct ClipVisionModel {
    /// Embeddings.
    pub embeddings: ClipEmbeddings,
    /// Norm applied to the embeddings (spelled as in the checkpoint).
    pub pre_layrnorm: LayerNorm,
    /// Encoder layers.
    pub layers: Vec<ClipEncoderLayer>,
    /// Final norm of the pooled output; LLaVA never uses it.
    pub post_layernorm: LayerNorm,
    /// Resolved configuration.
    pub cfg: VisionConfig,
}

fn layer_norm(w: &Weights, name: &str, eps: f64) -> crate::Result<LayerNorm> {
    Ok(LayerNorm {
        weight: w.get(&format!("{name}.weight"))?,
        bias: w.get(&format!("{name}.bias"))?,
        eps,
    })
}

impl ClipVisionModel {
    /// Builds the tower from `vision_tower.vision_model.*` tensors.
    pub fn load(w: &Weights, cfg: &VisionConfig) -> crate::Result<Self> {
        let p = "vision_tower.vision_model";
        let eps = cfg.layer_norm_eps;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = format!("{p}.encoder.layers.{i}");
                Ok(ClipEncoderLayer {
                    self_attn: ClipAttention {
                        q_proj: Linear::load(w, &format!("{l}.self_attn.q_proj"), true)?,
                        k_proj: Linear::load(w, &format!("{l}.self_attn.k_proj"), true)?,
                        v_proj: Linear::load(w, &format!("{l}.self_attn.v_proj"), true)?,
                        out_proj: Linear::load(w, &format!("{l}.self_attn.out_proj"), true)?,
                        heads: cfg.num_attention_heads,
                    },
                    layer_norm1: layer_norm(w, &format!("{l}.layer_norm1"), eps)?,
                    mlp: ClipMlp {
                        fc1: Linear::load(w, &format!("{l}.mlp.fc1"), true)?,
                        fc2: Linear::load(w, &format!("{l}.mlp.fc2"), true)?,
                        act: cfg.hidden_act,
                    },
                    layer_norm2: layer_norm(w, &format!("{l}.layer_norm2"), eps)?,
                })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(ClipVisionModel {
            embeddings: ClipEmbeddings {
                class_embedding: w.get(&format!("{p}.embeddings.class_embedding"))?,
                patch_embedding: w.get(&format!("{p}.embeddings.patch_embedding.weight"))?,
                position_embedding: w.get(&format!("{p}.embeddings.position_embedding.weight"))?,
                patch_size: cfg.patch_size,
            },
            pre_layrnorm: layer_norm(w, &format!("{p}.pre_layrnorm"), eps)?,
            layers,
            post_layernorm: layer_norm(w, &format!("{p}.post_layernorm"), eps)?,
            cfg: cfg.clone(),
        })
    }

    /// Hidden state number `layer` (0 = embeddings after `pre_layrnorm`, `i` = output of
    /// encoder layer `i`) for `pixels` `[N, C, H, W]`: `[N, patches + 1, D]`. Layers after
    /// `layer` are not run.
    pub fn hidden_state(&self, pixels: &Tensor, layer: usize) -> Result<Tensor> {
        let (_, c, h, w) = pixels.dims4()?;
        let side = self.cfg.image_size;
        if c != self.cfg.num_channels || h != side || w != side {
            candle_core::bail!(
                "pixel_values have shape {:?}, the vision tower expects [N, {}, {side}, {side}]",
                pixels.dims(),
                self.cfg.num_channels
            );
        }
        let x = self
            .pre_layrnorm
            .forward(&self.embeddings.forward(pixels)?)?;
        let (n, l, d) = x.dims3()?;
        // The layers work on [N·L, D] rows: no reshape around every linear layer.
        let mut x = x.reshape((n * l, d))?;
        for enc in self.layers.iter().take(layer) {
            x = enc.forward(&x, (n, l))?;
        }
        x.reshape((n, l, d))
    }
}
