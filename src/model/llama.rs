//! The Llama decoder of LLaVA-1.5 (Touvron et al. 2023, "Llama 2"), as in transformers 4.45.1
//! `models/llama/modeling_llama.py`: RMSNorm, rotary position embeddings in the
//! `rotate_half` form, causal self-attention with a padding mask, SiLU-gated MLP.
//!
//! Every op has a backward pass (see [`super::norm`]); the softmax runs in float32.

use super::config::{Activation, TextConfig};
use super::linear::Linear;
use super::norm::RmsNorm;
use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{Module, VarBuilder};

/// Rotary position embedding tables (θ = `rope_theta`, no scaling).
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    /// `1 / θ^(2i/d)`, float32, shape `[1, 1, d/2]`.
    inv_freq: Tensor,
}

impl Rope {
    /// Builds the inverse frequencies for heads of width `head_dim`.
    pub(crate) fn new(head_dim: usize, theta: f64, device: &Device) -> Result<Rope> {
        let inv: Vec<f32> = (0..head_dim / 2)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        Ok(Rope {
            inv_freq: Tensor::from_vec(inv, (1, 1, head_dim / 2), device)?,
        })
    }

    /// `(cos, sin)` of shape `[B, 1, L, d]` in `dtype` for float32 positions `[B, L]`.
    pub(crate) fn cos_sin(&self, positions: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
        let freqs = positions
            .unsqueeze(D::Minus1)?
            .broadcast_mul(&self.inv_freq)?;
        let emb = Tensor::cat(&[&freqs, &freqs], D::Minus1)?.unsqueeze(1)?;
        Ok((emb.cos()?.to_dtype(dtype)?, emb.sin()?.to_dtype(dtype)?))
    }

    /// `x·cos + rotate_half(x)·sin` for `x` of shape `[B, H, L, d]`.
    fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let half = x.dim(D::Minus1)? / 2;
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
    }

    /// Rows `[B·L, n·d]` of a projection, times `scale` → `[B, n, L, d]` heads, rotated
    /// (fused on the CPU).
    pub(crate) fn heads(
        x: &Tensor,
        (b, l, n, d): (usize, usize, usize, usize),
        cos: &Tensor,
        sin: &Tensor,
        scale: f64,
    ) -> Result<Tensor> {
        if super::fused::applies(&[x, cos, sin]) {
            return super::fused::rope_heads(x, (b, l, n, d), cos, sin, scale);
        }
        let x = if scale == 1.0 {
            x.clone()
        } else {
            (x * scale)?
        };
        Rope::apply(&x.reshape((b, l, n, d))?.transpose(1, 2)?, cos, sin)
    }
}

/// Keys and values of past positions, one preallocated buffer per layer, so extending the
/// cache by one position writes in place instead of copying the whole history.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvCache {
    layers: Vec<Option<LayerCache>>,
}

#[derive(Debug, Clone)]
struct LayerCache {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub(crate) fn new() -> KvCache {
        KvCache::default()
    }

    /// Positions already cached.
    pub(crate) fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    /// Reserves room so that `extra` more positions fit without reallocation.
    pub(crate) fn reserve(&mut self, extra: usize) -> Result<()> {
        for l in self.layers.iter_mut().flatten() {
            let cap = l.k.dim(2)?;
            if l.len + extra > cap {
                grow(l, l.len + extra)?;
            }
        }
        Ok(())
    }

    /// A copy of this single-row cache repeated for `rows` rows, with room for `extra` more
    /// positions; the original is left untouched.
    pub(crate) fn expand_rows(&self, rows: usize, extra: usize) -> Result<KvCache> {
        let expand = |l: &LayerCache| -> Result<LayerCache> {
            let k = l.k.narrow(2, 0, l.len)?;
            let v = l.v.narrow(2, 0, l.len)?;
            let b = k.dim(0)?;
            if b != 1 {
                candle_core::bail!("expand_rows needs a single-row cache, found {b} rows");
            }
            let mut c = LayerCache::zeros(&k, &v, rows, l.len + extra)?;
            let each = (rows, 1, 1, 1);
            c.write(&k.repeat(each)?, &v.repeat(each)?, 0)?;
            c.len = l.len;
            Ok(c)
        };
        let layers = self
            .layers
            .iter()
            .map(|l| l.as_ref().map(expand).transpose());
        Ok(KvCache {
            layers: layers.collect::<Result<_>>()?,
        })
    }

    /// Appends `k`, `v` (`[B, H, S, d]`) for `layer` and returns all keys and values so far.
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.layers.len() <= layer {
            self.layers.resize(layer + 1, None);
        }
        let s = k.dim(2)?;
        let entry = &mut self.layers[layer];
        if entry.is_none() {
            *entry = Some(LayerCache::zeros(k, v, k.dim(0)?, s.max(16))?);
        }
        let Some(l) = entry.as_mut() else {
            candle_core::bail!("kv cache layer {layer} missing")
        };
        if l.len + s > l.k.dim(2)? {
            grow(l, (l.len + s).max(2 * l.k.dim(2)?))?;
        }
        l.write(k, v, l.len)?;
        l.len += s;
        Ok((l.k.narrow(2, 0, l.len)?, l.v.narrow(2, 0, l.len)?))
    }
}

impl LayerCache {
    /// An empty cache of `rows` rows and room for `cap` positions, shaped like `k` and `v`
    /// (`[B, H, S, d]`) otherwise.
    fn zeros(k: &Tensor, v: &Tensor, rows: usize, cap: usize) -> Result<LayerCache> {
        let (_, h, _, d) = k.dims4()?;
        Ok(LayerCache {
            k: Tensor::zeros((rows, h, cap, d), k.dtype(), k.device())?,
            v: Tensor::zeros((rows, h, cap, d), v.dtype(), v.device())?,
            len: 0,
        })
    }

    /// Writes `k` and `v` (`[B, H, S, d]`) at position `at`.
    fn write(&mut self, k: &Tensor, v: &Tensor, at: usize) -> Result<()> {
        self.k.slice_set(&k.contiguous()?, 2, at)?;
        self.v.slice_set(&v.contiguous()?, 2, at)
    }
}

fn grow(l: &mut LayerCache, cap: usize) -> Result<()> {
    let mut new = LayerCache::zeros(&l.k, &l.v, l.k.dim(0)?, cap)?;
    if l.len > 0 {
        new.write(&l.k.narrow(2, 0, l.len)?, &l.v.narrow(2, 0, l.len)?, 0)?;
    }
    new.len = l.len;
    *l = new;
    Ok(())
}

/// Multi-head (grouped-query) self-attention with rotary embeddings.
#[derive(Debug, Clone)]
struct LlamaAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

/// Softmax over the last dimension in float32 after adding an additive float32 mask
/// (`[B, H, L, T]` scores, `[1 | B, 1, L, T]` mask), fused on the CPU.
pub(crate) fn masked_softmax(scores: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    if super::fused::applies(&[scores]) && mask.is_none_or(|m| super::fused::applies(&[m])) {
        if let Some(y) = super::fused::masked_softmax(scores, mask)? {
            return Ok(y);
        }
    }
    let dtype = scores.dtype();
    let mut s = scores.to_dtype(super::upcast(dtype))?;
    if let Some(m) = mask {
        s = s.broadcast_add(&m.to_dtype(s.dtype())?)?;
    }
    candle_nn::ops::softmax(&s, D::Minus1)?.to_dtype(dtype)
}

/// `softmax(q·kᵀ + mask)·v` over `[B, H, L, d]` heads (q already scaled), the two products
/// fused on the CPU.
pub(crate) fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    if super::fused::applies(&[q, k, v]) {
        let probs = masked_softmax(&super::fused::matmul(q, k, false, true)?, mask)?;
        return super::fused::matmul(&probs, v, false, false);
    }
    masked_softmax(&q.matmul(&k.t()?)?, mask)?.matmul(v)
}

/// Rows `[B·L, n·d]` → heads `[B, n, L, d]`, contiguous (fused on the CPU).
pub(crate) fn split_heads(
    x: &Tensor,
    (b, l, n, d): (usize, usize, usize, usize),
) -> Result<Tensor> {
    if super::fused::applies(&[x]) {
        return super::fused::split_heads(x, (b, l, n, d));
    }
    x.reshape((b, l, n, d))?.transpose(1, 2)?.contiguous()
}

/// Heads `[B, n, L, d]` → rows `[B·L, n·d]` (fused on the CPU).
pub(crate) fn merge_heads(x: &Tensor) -> Result<Tensor> {
    if super::fused::applies(&[x]) {
        return super::fused::merge_heads(x);
    }
    let (b, n, l, d) = x.dims4()?;
    x.transpose(1, 2)?.reshape((b * l, n * d))
}

impl LlamaAttention {
    fn new(vb: VarBuilder, cfg: &TextConfig) -> Result<Self> {
        let (h, b) = (cfg.hidden_size, cfg.attention_bias);
        let q = cfg.num_attention_heads * cfg.head_dim;
        let kv = cfg.num_key_value_heads * cfg.head_dim;
        Ok(LlamaAttention {
            q_proj: Linear::new(vb.pp("q_proj"), (h, q), b)?,
            k_proj: Linear::new(vb.pp("k_proj"), (h, kv), b)?,
            v_proj: Linear::new(vb.pp("v_proj"), (h, kv), b)?,
            o_proj: Linear::new(vb.pp("o_proj"), (q, h), b)?,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
        })
    }

    /// `x` is `[B·L, hidden]` (rows of batch `b`, `l` positions each); so is the result.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        (b, l): (usize, usize),
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Result<Tensor> {
        let d = self.head_dim;
        // Scaling q (B·H·L·d values) instead of the scores (B·H·L·T) is the same product.
        let scale = 1.0 / (d as f64).sqrt();
        let rope = |p: &Linear, n, s| Rope::heads(&p.forward(x)?, (b, l, n, d), cos, sin, s);
        let q = rope(&self.q_proj, self.heads, scale)?;
        let k = rope(&self.k_proj, self.kv_heads, 1.0)?;
        let v = split_heads(&self.v_proj.forward(x)?, (b, l, self.kv_heads, d))?;
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, &k, &v)?,
            None => (k, v.contiguous()?),
        };
        let (k, v) = if self.kv_heads != self.heads {
            let rep = self.heads / self.kv_heads;
            let t = k.dim(2)?;
            let expand = |x: &Tensor| -> Result<Tensor> {
                x.unsqueeze(2)?
                    .expand((b, self.kv_heads, rep, t, d))?
                    .reshape((b, self.heads, t, d))
            };
            (expand(&k)?, expand(&v)?)
        } else {
            (k, v)
        };
        self.o_proj
            .forward(&merge_heads(&attend(&q, &k, &v, mask)?)?)
    }
}

/// `down(act(gate(x)) · up(x))`.
#[derive(Debug, Clone)]
struct LlamaMlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    act: Activation,
}

impl LlamaMlp {
    fn new(vb: VarBuilder, cfg: &TextConfig) -> Result<Self> {
        let (h, m, b) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(LlamaMlp {
            gate_proj: Linear::new(vb.pp("gate_proj"), (h, m), b)?,
            up_proj: Linear::new(vb.pp("up_proj"), (h, m), b)?,
            down_proj: Linear::new(vb.pp("down_proj"), (m, h), b)?,
            act: cfg.hidden_act,
        })
    }
}

impl Module for LlamaMlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gated = self
            .act
            .gated(&self.gate_proj.forward(x)?, &self.up_proj.forward(x)?)?;
        self.down_proj.forward(&gated)
    }
}

/// One pre-norm decoder layer.
#[derive(Debug, Clone)]
struct LlamaDecoderLayer {
    self_attn: LlamaAttention,
    mlp: LlamaMlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl LlamaDecoderLayer {
    fn new(vb: VarBuilder, cfg: &TextConfig) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(LlamaDecoderLayer {
            self_attn: LlamaAttention::new(vb.pp("self_attn"), cfg)?,
            mlp: LlamaMlp::new(vb.pp("mlp"), cfg)?,
            input_layernorm: RmsNorm::new(vb.pp("input_layernorm"), h, eps)?,
            post_attention_layernorm: RmsNorm::new(vb.pp("post_attention_layernorm"), h, eps)?,
        })
    }

    fn linears(&self) -> [&Linear; 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ]
    }

    fn linears_mut(&mut self) -> [&mut Linear; 7] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        let (q, k, v, o) = (&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj);
        [
            q,
            k,
            v,
            o,
            &mut m.gate_proj,
            &mut m.up_proj,
            &mut m.down_proj,
        ]
    }

    /// `x` is `[B·L, hidden]`; so is the result.
    fn forward(
        &self,
        x: &Tensor,
        bl: (usize, usize),
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Result<Tensor> {
        let normed = self.input_layernorm.forward(x)?;
        let h = (x + self.self_attn.forward(&normed, bl, cos, sin, mask, cache)?)?;
        let normed = self.post_attention_layernorm.forward(&h)?;
        &h + self.mlp.forward(&normed)?
    }
}

/// The Llama causal language model (`language_model.*`).
#[derive(Debug, Clone)]
pub(crate) struct LlamaForCausalLm {
    /// `[vocab, hidden]`.
    embed_tokens: Tensor,
    layers: Vec<LlamaDecoderLayer>,
    norm: RmsNorm,
    /// Output projection (shares `embed_tokens` when tied).
    pub(crate) lm_head: Linear,
    rope: Rope,
    cfg: TextConfig,
}

impl LlamaForCausalLm {
    /// Builds the model from the tensors under `vb` (`language_model`).
    pub(crate) fn new(vb: VarBuilder, cfg: &TextConfig) -> Result<Self> {
        let (h, vocab, eps) = (cfg.hidden_size, cfg.vocab_size, cfg.rms_norm_eps);
        let m = vb.pp("model");
        let embed_tokens = m.pp("embed_tokens").get((vocab, h), "weight")?;
        let layers = m.pp("layers");
        let head = vb.pp("lm_head");
        let lm_head = if cfg.tie_word_embeddings {
            // Probed, not read: a tied checkpoint may store a head that transformers
            // overwrites with the embeddings.
            head.contains_tensor("weight");
            Linear {
                name: head.prefix(),
                weight: embed_tokens.clone(),
                bias: None,
                lora: None,
            }
        } else {
            Linear::new(head, (h, vocab), false)?
        };
        Ok(LlamaForCausalLm {
            embed_tokens,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| LlamaDecoderLayer::new(layers.pp(i), cfg))
                .collect::<Result<_>>()?,
            norm: RmsNorm::new(m.pp("norm"), h, eps)?,
            lm_head,
            rope: Rope::new(cfg.head_dim, cfg.rope_theta, vb.device())?,
            cfg: cfg.clone(),
        })
    }

    /// Every linear layer, the head last.
    pub(crate) fn linears(&self) -> impl Iterator<Item = &Linear> {
        let layers = self.layers.iter().flat_map(LlamaDecoderLayer::linears);
        layers.chain([&self.lm_head])
    }

    /// Every linear layer, the head last, mutable.
    pub(crate) fn linears_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        let layers = self
            .layers
            .iter_mut()
            .flat_map(LlamaDecoderLayer::linears_mut);
        layers.chain([&mut self.lm_head])
    }

    /// Token embeddings of `ids` (`[B, L]` u32) → `[B, L, hidden]`.
    pub(crate) fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let flat = ids.flatten_all()?;
        self.embed_tokens
            .index_select(&flat, 0)?
            .reshape((b, l, self.cfg.hidden_size))
    }

    /// Runs the decoder on embeddings `[B, L, hidden]` with float32 `positions` (`[B|1, L]`)
    /// and an additive float32 `mask` (`[B|1, 1, L, T]`); returns the normed last hidden state.
    /// When `hidden` is given it receives, like transformers' `output_hidden_states`, the
    /// input embeddings and every layer's output, the last one after the final norm.
    pub(crate) fn forward_embeds(
        &self,
        embeds: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        mut hidden: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let (cos, sin) = self.rope.cos_sin(positions, embeds.dtype())?;
        let (b, l, hs) = embeds.dims3()?;
        // The layers work on [B·L, hidden] rows: no reshape around every linear layer.
        let mut x = embeds.reshape((b * l, hs))?;
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(h) = hidden.as_deref_mut() {
                h.push(x.reshape((b, l, hs))?);
            }
            let c = cache.as_deref_mut().map(|c| (c, i));
            x = layer.forward(&x, (b, l), &cos, &sin, mask, c)?;
        }
        let out = self.norm.forward(&x)?.reshape((b, l, hs))?;
        if let Some(h) = hidden {
            h.push(out.clone());
        }
        Ok(out)
    }
}
