//! The CLIP vision tower of LLaVA-1.5 (Radford et al. 2021, "Learning Transferable Visual
//! Models From Natural Language Supervision"), as in transformers 4.45.1
//! `models/clip/modeling_clip.py` (`CLIPVisionTransformer`).
//!
//! The patch convolution (stride = kernel, no padding) is computed as a matrix product over
//! unfolded patches: the same arithmetic as the convolution, with a simple backward pass.

use super::config::VisionConfig;
use super::linear::{Linear, Mlp};
use super::llama::{attend, merge_heads, split_heads};
use super::norm::LayerNorm;
use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

/// Patch, class and position embeddings.
#[derive(Debug, Clone)]
struct ClipEmbeddings {
    /// `[D]`.
    class_embedding: Tensor,
    /// Convolution kernel `[D, C, p, p]` (no bias).
    patch_embedding: Tensor,
    /// `[patches + 1, D]`.
    position_embedding: Tensor,
    patch_size: usize,
}

impl ClipEmbeddings {
    fn new(vb: VarBuilder, cfg: &VisionConfig) -> Result<Self> {
        let (d, p) = (cfg.hidden_size, cfg.patch_size);
        Ok(ClipEmbeddings {
            class_embedding: vb.get(d, "class_embedding")?,
            patch_embedding: vb
                .pp("patch_embedding")
                .get((d, cfg.num_channels, p, p), "weight")?,
            position_embedding: vb
                .pp("position_embedding")
                .get((cfg.num_patches() + 1, d), "weight")?,
            patch_size: p,
        })
    }
}

impl Module for ClipEmbeddings {
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
struct ClipAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl ClipAttention {
    /// `x` is `[N·L, D]` (`n` images of `l` positions); so is the result.
    fn forward(&self, x: &Tensor, (n, l): (usize, usize)) -> Result<Tensor> {
        let dm = x.dim(1)?;
        let d = dm / self.heads;
        let shape = |t: Tensor| split_heads(&t, (n, l, self.heads, d));
        let q = shape((self.q_proj.forward(x)? * (1.0 / (d as f64).sqrt()))?)?;
        let k = shape(self.k_proj.forward(x)?)?;
        let v = shape(self.v_proj.forward(x)?)?;
        self.out_proj
            .forward(&merge_heads(&attend(&q, &k, &v, None)?)?)
    }
}

/// One pre-norm encoder layer.
#[derive(Debug, Clone)]
struct ClipEncoderLayer {
    self_attn: ClipAttention,
    layer_norm1: LayerNorm,
    mlp: Mlp,
    layer_norm2: LayerNorm,
}

impl ClipEncoderLayer {
    fn new(vb: VarBuilder, cfg: &VisionConfig) -> Result<Self> {
        let (d, m, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let attn = vb.pp("self_attn");
        let mlp = vb.pp("mlp");
        Ok(ClipEncoderLayer {
            self_attn: ClipAttention {
                q_proj: Linear::new(attn.pp("q_proj"), (d, d), true)?,
                k_proj: Linear::new(attn.pp("k_proj"), (d, d), true)?,
                v_proj: Linear::new(attn.pp("v_proj"), (d, d), true)?,
                out_proj: Linear::new(attn.pp("out_proj"), (d, d), true)?,
                heads: cfg.num_attention_heads,
            },
            layer_norm1: LayerNorm::new(vb.pp("layer_norm1"), d, eps)?,
            mlp: Mlp {
                fc1: Linear::new(mlp.pp("fc1"), (d, m), true)?,
                fc2: Linear::new(mlp.pp("fc2"), (m, d), true)?,
                act: cfg.hidden_act,
            },
            layer_norm2: LayerNorm::new(vb.pp("layer_norm2"), d, eps)?,
        })
    }

    /// `x` is `[N·L, D]`; so is the result.
    fn forward(&self, x: &Tensor, nl: (usize, usize)) -> Result<Tensor> {
        let h = (x + self.self_attn.forward(&self.layer_norm1.forward(x)?, nl)?)?;
        &h + self.mlp.forward(&self.layer_norm2.forward(&h)?)?
    }

    fn linears(&self) -> [&Linear; 6] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [&a.q_proj, &a.k_proj, &a.v_proj, &a.out_proj, &m.fc1, &m.fc2]
    }

    fn linears_mut(&mut self) -> [&mut Linear; 6] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        let (q, k, v, o) = (&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.out_proj);
        [q, k, v, o, &mut m.fc1, &mut m.fc2]
    }
}

/// The CLIP vision transformer (`vision_tower.vision_model.*`).
#[derive(Debug, Clone)]
pub(crate) struct ClipVisionModel {
    embeddings: ClipEmbeddings,
    /// Norm applied to the embeddings (spelled as in the checkpoint).
    pre_layrnorm: LayerNorm,
    layers: Vec<ClipEncoderLayer>,
    cfg: VisionConfig,
}

impl ClipVisionModel {
    /// Builds the tower from the tensors under `vb` (`vision_tower.vision_model`).
    pub(crate) fn new(vb: VarBuilder, cfg: &VisionConfig) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let layers = vb.pp("encoder").pp("layers");
        // The final norm of the pooled output is part of the checkpoint; LLaVA never uses it.
        LayerNorm::new(vb.pp("post_layernorm"), d, eps)?;
        Ok(ClipVisionModel {
            embeddings: ClipEmbeddings::new(vb.pp("embeddings"), cfg)?,
            pre_layrnorm: LayerNorm::new(vb.pp("pre_layrnorm"), d, eps)?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| ClipEncoderLayer::new(layers.pp(i), cfg))
                .collect::<Result<_>>()?,
            cfg: cfg.clone(),
        })
    }

    /// Every linear layer, in order.
    pub(crate) fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.layers.iter().flat_map(ClipEncoderLayer::linears)
    }

    /// Every linear layer, in order, mutable.
    pub(crate) fn linears_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        self.layers
            .iter_mut()
            .flat_map(ClipEncoderLayer::linears_mut)
    }

    /// Hidden state number `layer` (0 = embeddings after `pre_layrnorm`, `i` = output of
    /// encoder layer `i`) for `pixels` `[N, C, H, W]`: `[N, patches + 1, D]`. Layers after
    /// `layer` are not run.
    pub(crate) fn hidden_state(&self, pixels: &Tensor, layer: usize) -> Result<Tensor> {
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
