//! The Llama decoder of LLaVA-1.5 (Touvron et al. 2023, "Llama 2"), as in transformers 4.45.1
//! `models/llama/modeling_llama.py`: RMSNorm, rotary position embeddings in the
//! `rotate_half` form, causal self-attention with a padding mask, SiLU-gated MLP.
//!
//! Every op has a backward pass (see [`super::norm`]); the softmax runs in float32.

use super::config::{Activation, TextConfig};
use super::linear::Linear;
use super::norm::RmsNorm;
use super::weights::Weights;
use candle_core::{DType, Device, Result, Tensor, D};

/// Rotary position embedding tables (θ = `rope_theta`, no scaling).
#[derive(Debug, Clone)]
pub struct Rope {
    /// `1 / θ^(2i/d)`, float32, shape `[1, 1, d/2]`.
    inv_freq: Tensor,
}

impl Rope {
    /// Builds the inverse frequencies for heads of width `head_dim`.
    pub fn new(head_dim: usize, theta: f64, device: &Device) -> Result<Rope> {
        let inv: Vec<f32> = (0..head_dim / 2)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        Ok(Rope {
            inv_freq: Tensor::from_vec(inv, (1, 1, head_dim / 2), device)?,
        })
    }

    /// `(cos, sin)` of shape `[B, 1, L, d]` in `dtype` for float32 positions `[B, L]`.
    pub fn cos_sin(&self, positions: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
        let freqs = positions
            .unsqueeze(D::Minus1)?
            .broadcast_mul(&self.inv_freq)?;
        let emb = Tensor::cat(&[&freqs, &freqs], D::Minus1)?.unsqueeze(1)?;
        Ok((emb.cos()?.to_dtype(dtype)?, emb.sin()?.to_dtype(dtype)?))
    }

    /// `x·cos + rotate_half(x)·sin` for `x` of shape `[B, H, L, d]`.
    pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let half = x.dim(D::Minus1)? / 2;
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
    }
}

/// Keys and values of past positions, one preallocated buffer per layer, so extending the
/// cache by one position writes in place instead of copying the whole history.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
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
    pub fn new() -> KvCache {
        KvCache::default()
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves room so that `extra` more positions fit without reallocation.
    pub fn reserve(&mut self, extra: usize) -> Result<()> {
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
    pub fn expand_rows(&self, rows: usize, extra: usize) -> Result<KvCache> {
        let mut out = KvCache {
            layers: Vec::with_capacity(self.layers.len()),
        };
        for l in &self.layers {
            out.layers.push(match l {
                None => None,
                Some(l) => {
                    let k = l.k.narrow(2, 0, l.len)?;
                    let v = l.v.narrow(2, 0, l.len)?;
                    let (b, h, _, d) = k.dims4()?;
                    if b != 1 {
                        candle_core::bail!("expand_rows needs a single-row cache, found {b} rows");
                    }
                    let cap = l.len + extra;
                    let kb = Tensor::zeros((rows, h, cap, d), k.dtype(), k.device())?;
                    let vb = Tensor::zeros((rows, h, cap, d), v.dtype(), v.device())?;
                    let k = k.repeat((rows, 1, 1, 1))?.contiguous()?;
                    let v = v.repeat((rows, 1, 1, 1))?.contiguous()?;
                    kb.slice_set(&k, 2, 0)?;
                    vb.slice_set(&v, 2, 0)?;
                    Some(LayerCache {
                        k: kb,
                        v: vb,
                        len: l.len,
                    })
                }
            });
        }
        Ok(out)
    }

    /// Appends `k`, `v` (`[B, H, S, d]`) for `layer` and returns all keys and values so far.
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.layers.len() <= layer {
            self.layers.resize(layer + 1, None);
        }
        let s = k.dim(2)?;
        let entry = &mut self.layers[layer];
        if entry.is_none() {
            let (b, h, _, d) = k.dims4()?;
            let cap = s.max(16);
            *entry = Some(LayerCache {
                k: Tensor::zeros((b, h, cap, d), k.dtype(), k.device())?,
                v: Tensor::zeros((b, h, cap, d), v.dtype(), v.device())?,
                len: 0,
            });
        }
        let Some(l) = entry.as_mut() else {
            candle_core::bail!("kv cache layer {layer} missing")
        };
        if l.len + s > l.k.dim(2)? {
            grow(l, (l.len + s).max(2 * l.k.dim(2)?))?;
        }
        l.k.slice_set(&k.contiguous()?, 2, l.len)?;
        l.v.slice_set(&v.contiguous()?, 2, l.len)?;
        l.len += s;
        Ok((l.k.narrow(2, 0, l.len)?, l.v.narrow(2, 0, l.len)?))
    }
}

fn grow(l: &mut LayerCache, cap: usize) -> Result<()> {
    let (b, h, _, d) = l.k.dims4()?;
    let k = Tensor::zeros((b, h, cap, d), l.k.dtype(), l.k.device())?;
    let v = Tensor::zeros((b, h, cap, d), l.v.dtype(), l.v.device())?;
    if l.len > 0 {
        k.slice_set(&l.k.narrow(2, 0, l.len)?.contiguous()?, 2, 0)?;
        v.slice_set(&l.v.narrow(2, 0, l.len)?.contiguous()?, 2, 0)?;
    }
    l.k = k;
    l.v = v;
    Ok(())
}

/// Multi-head (grouped-query) self-attention with rotary embeddings.
#[derive(Debug, Clone)]
pub struct LlamaAttention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

/// Softmax over the last dimension in float32 after adding an additive float32 mask.
pub(crate) fn masked_softmax(scores: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let dtype = scores.dtype();
    let mut s = scores.to_dtype(DType::F32)?;
    if let Some(m) = mask {
        s = s.broadcast_add(m)?;
    }
    candle_nn::ops::softmax(&s, D::Minus1)?.to_dtype(dtype)
}

impl LlamaAttention {
    fn load(w: &Weights, p: &str, cfg: &TextConfig) -> crate::Result<Self> {
        let b = cfg.attention_bias;
        Ok(LlamaAttention {
            q_proj: Linear::load(w, &format!("{p}.q_proj"), b)?,
            k_proj: Linear::load(w, &format!("{p}.k_proj"), b)?,
            v_proj: Linear::load(w, &format!("{p}.v_proj"), b)?,
            o_proj: Linear::load(w, &format!("{p}.o_proj"), b)?,
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
        let heads =
            |t: Tensor, n: usize| -> Result<Tensor> { t.reshape((b, l, n, d))?.transpose(1, 2) };
        // Scaling q (B·H·L·d values) instead of the scores (B·H·L·T) is the same product.
        let q = heads(
            (self.q_proj.forward(x)? * (1.0 / (d as f64).sqrt()))?,
            self.heads,
        )?;
        let k = heads(self.k_proj.forward(x)?, self.kv_heads)?;
        let v = heads(self.v_proj.forward(x)?, self.kv_heads)?;
        let q = Rope::apply(&q, cos, sin)?;
        let k = Rope::apply(&k, cos, sin)?;
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
        let probs = masked_softmax(&q.matmul(&k.t()?)?, mask)?;
        let out = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b * l, self.heads * d))?;
        self.o_proj.forward(&out)
    }
}

/// `down(act(gate(x)) · up(x))`.
#[derive(Debug, Clone)]
pub struct LlamaMlp {
    /// Gate projection.
    pub gate_proj: Linear,
    /// Up projection.
    pub up_proj: Linear,
    /// Down projection.
    pub down_proj: Linear,
    act: Activation,
}

impl LlamaMlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let g = self.act.forward(&self.gate_proj.forward(x)?)?;
        self.down_proj.forward(&(g * self.up_proj.forward(x)?)?)
    }
}

/// One pre-norm decoder layer.
#[derive(Debug, Clone)]
pub struct LlamaDecoderLayer {
    /// Attention block.
    pub self_attn: LlamaAttention,
    /// MLP block.
    pub mlp: LlamaMlp,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
}

impl LlamaDecoderLayer {
    fn load(w: &Weights, p: &str, cfg: &TextConfig) -> crate::Result<Self> {
        let m = cfg.mlp_bias;
        let norm = |n: &str| -> crate::Result<RmsNorm> {
            Ok(RmsNorm {
                weight: w.get(&format!("{p}.{n}.weight"))?,
                eps: cfg.rms_norm_eps,
            })
        };
        Ok(LlamaDecoderLayer {
            self_attn: LlamaAttention::load(w, &format!("{p}.self_attn"), cfg)?,
            mlp: LlamaMlp {
                gate_proj: Linear::load(w, &format!("{p}.mlp.gate_proj"), m)?,
                up_proj: Linear::load(w, &format!("{p}.mlp.up_proj"), m)?,
                down_proj: Linear::load(w, &format!("{p}.mlp.down_proj"), m)?,
                act: cfg.hidden_act,
            },
            input_layernorm: norm("input_layernorm")?,
            post_attention_layernorm: norm("post_attention_layernorm")?,
        })
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
        let h = (x + self.self_attn.forward(
            &self.input_layernorm.forward(x)?,
            bl,
            cos,
            sin,
            mask,
            cache,
        )?)?;
        &h + self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&h)?)?
    }
}

/// The Llama causal language model (`language_model.*`).
#[derive(Debug, Clone)]
pub struct LlamaForCausalLm {
    /// `[vocab, hidden]`.
    pub embed_tokens: Tensor,
    /// Decoder layers.
    pub layers: Vec<LlamaDecoderLayer>,
    /// Final norm.
    pub norm: RmsNorm,
    /// Output projection (shares `embed_tokens` when tied).
    pub lm_head: Linear,
    rope: Rope,
    /// Resolved configuration.
    pub cfg: TextConfig,
}

impl LlamaForCausalLm {
    /// Builds the model from `language_model.*` tensors.
    pub fn load(w: &Weights, cfg: &TextConfig, device: &Device) -> crate::Result<Self> {
        let embed_tokens = w.get("language_model.model.embed_tokens.weight")?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| LlamaDecoderLayer::load(w, &format!("language_model.model.layers.{i}"), cfg))
            .collect::<crate::Result<Vec<_>>>()?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear {
                name: "language_model.lm_head".into(),
                weight: embed_tokens.clone(),
                bias: None,
                lora: None,
            }
        } else {
            Linear::load(w, "language_model.lm_head", false)?
        };
        Ok(LlamaForCausalLm {
            embed_tokens,
            layers,
            norm: RmsNorm {
                weight: w.get("language_model.model.norm.weight")?,
                eps: cfg.rms_norm_eps,
            },
            lm_head,
            rope: Rope::new(cfg.head_dim, cfg.rope_theta, device)?,
            cfg: cfg.clone(),
        })
    }

    /// Token embeddings of `ids` (`[B, L]` u32) → `[B, L, hidden]`.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
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
    pub fn forward_embeds(
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
