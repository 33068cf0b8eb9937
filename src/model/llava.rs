//! LLaVA-1.5 (Liu et al. 2023, "Improved Baselines with Visual Instruction Tuning"), as in
//! transformers 4.45.1 `models/llava/modeling_llava.py`: CLIP features of vision layer
//! `vision_feature_layer` (CLS dropped), a two-layer GELU projector, and the Llama decoder
//! reading the projected features at the `<image>` token positions.

use super::clip::ClipVisionModel;
use super::config::{Activation, Config, FeatureSelect};
use super::linear::Linear;
use super::llama::{KvCache, LlamaForCausalLm};
use super::weights::{self, SaveOptions, Weights};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

/// `linear_2(act(linear_1(x)))`: vision width → text width.
#[derive(Debug, Clone)]
pub struct Projector {
    /// First linear.
    pub linear_1: Linear,
    /// Second linear.
    pub linear_2: Linear,
    act: Activation,
}

impl Projector {
    /// Projects `[..., D_vision]` to `[..., D_text]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.linear_2
            .forward(&self.act.forward(&self.linear_1.forward(x)?)?)
    }
}

/// The outputs of [`Llava::forward_hidden_states`].
#[derive(Debug, Clone)]
pub struct LlavaOutput {
    /// `[B, L, vocab]` in the compute dtype.
    pub logits: Tensor,
    /// `num_layers + 1` tensors `[B, L, hidden]`: the input embeddings (image features
    /// merged), then every decoder layer's output, the last one after the final norm (as
    /// transformers' `output_hidden_states`).
    pub hidden_states: Vec<Tensor>,
}

/// A LLaVA-1.5 model.
#[derive(Debug, Clone)]
pub struct Llava {
    /// Resolved configuration.
    pub config: Config,
    /// The CLIP tower.
    pub vision_tower: ClipVisionModel,
    /// The projector.
    pub multi_modal_projector: Projector,
    /// The Llama decoder and head.
    pub language_model: LlamaForCausalLm,
    pub(crate) lora: Option<super::lora::LoraState>,
    device: Device,
    dtype: DType,
    source_dir: Option<PathBuf>,
}

/// Reads a `[B, L]` mask tensor (any dtype) as rows of 0/1.
pub(crate) fn mask_rows(mask: &Tensor) -> Result<Vec<Vec<u8>>> {
    let rows = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(rows
        .into_iter()
        .map(|r| r.into_iter().map(|v| u8::from(v != 0.0)).collect())
        .collect())
}

/// The additive float32 attention mask `[B|1, 1, q, past + q]`: 0 where query `i` (at
/// absolute position `past + i`) may attend key `j` (`j <= past + i` and `keys[b][j] != 0`),
/// `f32::MIN` elsewhere, as transformers builds it. A query with every key masked thus
/// attends uniformly to all keys, exactly as transformers' CPU path does.
pub(crate) fn additive_mask(
    keys: Option<&[Vec<u8>]>,
    batch: usize,
    q: usize,
    past: usize,
    device: &Device,
) -> Result<Tensor> {
    let t = past + q;
    let rows = keys.map_or(1, |_| batch);
    let mut data = vec![0f32; rows * q * t];
    for b in 0..rows {
        for i in 0..q {
            for j in 0..t {
                let allowed =
                    j <= past + i && keys.is_none_or(|k| k[b].get(j).is_some_and(|&m| m != 0));
                if !allowed {
                    data[(b * q + i) * t + j] = f32::MIN;
                }
            }
        }
    }
    Ok(Tensor::from_vec(data, (rows, 1, q, t), device)?)
}

impl Llava {
    /// Loads a llava-hf folder (`config.json` + safetensors, single or sharded) onto
    /// `device`, computing in `dtype`. Weights are plain (frozen) tensors.
    ///
    /// ```
    /// use candle_core::{DType, Device, Tensor};
    /// let m = mllmu::model::Llava::load("tests/fixtures/tiny-llava", &Device::Cpu, DType::F32)?;
    /// let ids = Tensor::new(&[[1u32, 1401, 353]], &Device::Cpu)?;
    /// let logits = m.forward(&ids, None, None)?;
    /// assert_eq!(logits.dims(), &[1, 3, 1472]);
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Llava> {
        let dir = dir.as_ref();
        let config = Config::load(dir)?;
        let w = Weights::load(dir, &config, device, dtype)?;
        let mut m = Llava::from_weights(config, &w)?;
        m.source_dir = Some(dir.to_path_buf());
        Ok(m)
    }

    /// Loads like [`Llava::load`] with every weight a trainable variable; the
    /// [`candle_nn::VarMap`] holds them under their checkpoint names.
    pub fn load_trainable(
        dir: impl AsRef<Path>,
        device: &Device,
        dtype: DType,
    ) -> Result<(Llava, candle_nn::VarMap)> {
        let dir = dir.as_ref();
        let config = Config::load(dir)?;
        let (w, vars) = Weights::load(dir, &config, device, dtype)?.into_vars()?;
        let mut m = Llava::from_weights(config, &w)?;
        m.source_dir = Some(dir.to_path_buf());
        Ok((m, vars))
    }

    /// Builds the model from named tensors (plain tensors or variables' tensors).
    pub fn from_weights(config: Config, w: &Weights) -> Result<Llava> {
        w.validate(&config)?;
        let embed = w.get("language_model.model.embed_tokens.weight")?;
        let device = embed.device().clone();
        let dtype = embed.dtype();
        let projector = Projector {
            linear_1: Linear::load(w, "multi_modal_projector.linear_1", config.projector_bias)?,
            linear_2: Linear::load(w, "multi_modal_projector.linear_2", config.projector_bias)?,
            act: config.projector_hidden_act,
        };
        Ok(Llava {
            vision_tower: ClipVisionModel::load(w, &config.vision)?,
            multi_modal_projector: projector,
            language_model: LlamaForCausalLm::load(w, &config.text, &device)?,
            config,
            lora: None,
            device,
            dtype,
            source_dir: (!w.dir.as_os_str().is_empty()).then(|| w.dir.clone()),
        })
    }

    /// The device holding the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The folder the model was loaded from, if any.
    pub fn source_dir(&self) -> Option<&Path> {
        self.source_dir.as_deref()
    }

    /// Projected image features `[N, image_seq_length, hidden]` of `pixel_values` `[N, 3, H, W]`.
    pub fn image_features(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let hs = self
            .vision_tower
            .hidden_state(pixel_values, self.config.vision_feature_layer)?;
        let hs = match self.config.vision_feature_select {
            FeatureSelect::Default => hs.narrow(1, 1, hs.dim(1)? - 1)?,
            FeatureSelect::Full => hs,
        };
        Ok(self.multi_modal_projector.forward(&hs)?)
    }

    /// Input embeddings `[B, L, hidden]`: token embeddings with the image features placed at
    /// the `<image>` positions in order (image 1's features at the first
    /// `image_seq_length` `<image>` ids, ...).
    pub fn embed(&self, input_ids: &Tensor, pixel_values: Option<&Tensor>) -> Result<Tensor> {
        let ids = input_ids.to_dtype(DType::U32)?;
        let (b, l) = ids.dims2()?;
        let text = self.language_model.embed(&ids)?;
        let rows = ids.to_vec2::<u32>()?;
        let img = self.config.image_token_index;
        let n_tokens: usize = rows
            .iter()
            .map(|r| r.iter().filter(|&&t| t == img).count())
            .sum();
        let Some(pv) = pixel_values else {
            if n_tokens > 0 {
                return Err(Error::param(
                    "pixel_values",
                    "none",
                    format!("input_ids hold {n_tokens} <image> tokens but no images were given"),
                ));
            }
            return Ok(text);
        };
        let feats = self.image_features(pv)?;
        let (n, s, h) = feats.dims3()?;
        if n * s != n_tokens {
            return Err(Error::param("pixel_values", format!("{n} images"), format!(
                "the images give {} features ({s} each) but input_ids hold {n_tokens} <image> tokens\nhint: expand every <image> to {s} tokens (the processor does it)",
                n * s
            )));
        }
        // Gather rows from [text; features] so the result stays differentiable in both.
        let mut index = Vec::with_capacity(b * l);
        let mut next = (b * l) as u32;
        for (i, r) in rows.iter().enumerate() {
            for (j, &t) in r.iter().enumerate() {
                if t == img {
                    index.push(next);
                    next += 1;
                } else {
                    index.push((i * l + j) as u32);
                }
            }
        }
        let all = Tensor::cat(
            &[&text.reshape((b * l, h))?, &feats.reshape((n * s, h))?],
            0,
        )?;
        let index = Tensor::from_vec(index, b * l, &self.device)?;
        Ok(all.index_select(&index, 0)?.reshape((b, l, h))?)
    }

    /// Runs the decoder and returns the normed last hidden state `[B, L, hidden]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        key_mask: Option<&[Vec<u8>]>,
        positions: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        hidden: Option<&mut Vec<Tensor>>,
        generated: bool,
    ) -> Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        if let Some(k) = key_mask {
            if k.len() != b || k.iter().any(|r| r.len() != past + l) {
                return Err(Error::param(
                    "attention_mask",
                    format!("{} rows", k.len()),
                    format!(
                        "expected {b} rows of {} entries (like input_ids plus cached positions)",
                        past + l
                    ),
                ));
            }
        }
        // Freshly generated ids are embedded as text, `<image>` included: once the prompt is
        // in the cache, transformers no longer merges image features (a fine-tuned model
        // trained with labels on image tokens may emit them).
        let embeds = if generated {
            self.language_model
                .embed(&input_ids.to_dtype(DType::U32)?)?
        } else {
            self.embed(input_ids, pixel_values)?
        };
        let positions = match positions {
            Some(p) => {
                if p.dims() != [b, l] && p.dims() != [1, l] {
                    return Err(Error::param(
                        "position_ids",
                        format!("{:?}", p.dims()),
                        format!("expected [{b}, {l}]"),
                    ));
                }
                p.to_dtype(DType::F32)?
            }
            None => Tensor::arange(past as u32, (past + l) as u32, &self.device)?
                .to_dtype(DType::F32)?
                .unsqueeze(0)?,
        };
        // Without padding and for a single new position the causal mask is all zeros.
        let keys = key_mask.filter(|k| k.iter().any(|r| r.contains(&0)));
        let mask = if keys.is_none() && l == 1 {
            None
        } else {
            Some(additive_mask(keys, b, l, past, &self.device)?)
        };
        Ok(self
            .language_model
            .forward_embeds(&embeds, &positions, mask.as_ref(), cache, hidden)?)
    }

    /// Logits `[B, L, vocab]` (compute dtype) of the full sequence, as transformers' plain
    /// forward: position ids `0..L-1` for every row (even left-padded ones) and a causal
    /// mask combined with `attention_mask` (`[B, L]`, 0 = padding; `None` = no padding).
    /// `input_ids` are u32 (or any integer dtype); `pixel_values` `[N, 3, H, W]` hold the
    /// images of all rows in order.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let keys = attention_mask.map(mask_rows).transpose()?;
        let h = self.run(
            input_ids,
            pixel_values,
            keys.as_deref(),
            None,
            None,
            None,
            false,
        )?;
        Ok(self.language_model.lm_head.forward(&h)?)
    }

    /// [`Llava::forward`] with explicit `position_ids` (`[B, L]` or `[1, L]`).
    pub fn forward_with_positions(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
        position_ids: &Tensor,
    ) -> Result<Tensor> {
        let keys = attention_mask.map(mask_rows).transpose()?;
        let h = self.run(
            input_ids,
            pixel_values,
            keys.as_deref(),
            Some(position_ids),
            None,
            None,
            false,
        )?;
        Ok(self.language_model.lm_head.forward(&h)?)
    }

    /// [`Llava::forward`] also returning every decoder hidden state.
    pub fn forward_hidden_states(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
    ) -> Result<LlavaOutput> {
        let keys = attention_mask.map(mask_rows).transpose()?;
        let mut hidden = Vec::with_capacity(self.config.text.num_hidden_layers + 1);
        let h = self.run(
            input_ids,
            pixel_values,
            keys.as_deref(),
            None,
            None,
            Some(&mut hidden),
            false,
        )?;
        Ok(LlavaOutput {
            logits: self.language_model.lm_head.forward(&h)?,
            hidden_states: hidden,
        })
    }

    /// Every linear layer of the model (vision tower, projector, decoder, head).
    pub fn linears(&self) -> Vec<&Linear> {
        let mut out = Vec::new();
        for l in &self.vision_tower.layers {
            let a = &l.self_attn;
            out.extend([
                &a.q_proj,
                &a.k_proj,
                &a.v_proj,
                &a.out_proj,
                &l.mlp.fc1,
                &l.mlp.fc2,
            ]);
        }
        out.extend([
            &self.multi_modal_projector.linear_1,
            &self.multi_modal_projector.linear_2,
        ]);
        for l in &self.language_model.layers {
            let a = &l.self_attn;
            out.extend([
                &a.q_proj,
                &a.k_proj,
                &a.v_proj,
                &a.o_proj,
                &l.mlp.gate_proj,
                &l.mlp.up_proj,
                &l.mlp.down_proj,
            ]);
        }
        out.push(&self.language_model.lm_head);
        out
    }

    /// Mutable access to every linear layer, in the order of [`Llava::linears`].
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for l in &mut self.vision_tower.layers {
            let a = &mut l.self_attn;
            out.extend([&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.out_proj]);
            out.extend([&mut l.mlp.fc1, &mut l.mlp.fc2]);
        }
        out.extend([
            &mut self.multi_modal_projector.linear_1,
            &mut self.multi_modal_projector.linear_2,
        ]);
        for l in &mut self.language_model.layers {
            let a = &mut l.self_attn;
            out.extend([&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj]);
            out.extend([
                &mut l.mlp.gate_proj,
                &mut l.mlp.up_proj,
                &mut l.mlp.down_proj,
            ]);
        }
        out.push(&mut self.language_model.lm_head);
        out
    }

    /// The model's parameters by checkpoint name (legacy layout), LoRA adapters left out and
    /// not merged; a tied head is listed once, as the embeddings.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        let vt = &self.vision_tower;
        let vp = "vision_tower.vision_model";
        out.push((
            format!("{vp}.embeddings.class_embedding"),
            vt.embeddings.class_embedding.clone(),
        ));
        out.push((
            format!("{vp}.embeddings.patch_embedding.weight"),
            vt.embeddings.patch_embedding.clone(),
        ));
        out.push((
            format!("{vp}.embeddings.position_embedding.weight"),
            vt.embeddings.position_embedding.clone(),
        ));
        let ln = |out: &mut Vec<(String, Tensor)>, n: String, l: &super::norm::LayerNorm| {
            out.push((format!("{n}.weight"), l.weight.clone()));
            out.push((format!("{n}.bias"), l.bias.clone()));
        };
        ln(&mut out, format!("{vp}.pre_layrnorm"), &vt.pre_layrnorm);
        ln(&mut out, format!("{vp}.post_layernorm"), &vt.post_layernorm);
        for (i, l) in vt.layers.iter().enumerate() {
            ln(
                &mut out,
                format!("{vp}.encoder.layers.{i}.layer_norm1"),
                &l.layer_norm1,
            );
            ln(
                &mut out,
                format!("{vp}.encoder.layers.{i}.layer_norm2"),
                &l.layer_norm2,
            );
        }
        let lm = &self.language_model;
        out.push((
            "language_model.model.embed_tokens.weight".into(),
            lm.embed_tokens.clone(),
        ));
        out.push((
            "language_model.model.norm.weight".into(),
            lm.norm.weight.clone(),
        ));
        for (i, l) in lm.layers.iter().enumerate() {
            let p = format!("language_model.model.layers.{i}");
            out.push((
                format!("{p}.input_layernorm.weight"),
                l.input_layernorm.weight.clone(),
            ));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                l.post_attention_layernorm.weight.clone(),
            ));
        }
        let tied = self.config.text.tie_word_embeddings;
        for lin in self.linears() {
            if tied && lin.name == "language_model.lm_head" {
                continue;
            }
            out.push((format!("{}.weight", lin.name), lin.weight.clone()));
            if let Some(b) = &lin.bias {
                out.push((format!("{}.bias", lin.name), b.clone()));
            }
        }
        out
    }

    /// An independent, frozen copy: weights copied into new storage with any LoRA adapters
    /// merged, so later optimiser steps on this model's variables leave the copy unchanged
    /// (e.g. the reference model of KL or NPO unlearning).
    pub fn frozen_copy(&self) -> Result<Llava> {
        let merged = self.merged_lora_weights()?;
        let mut map = std::collections::HashMap::new();
        for (name, t) in self.named_tensors() {
            let t = merged
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(t, |m| m.1.clone());
            map.insert(name, t.copy()?.detach());
        }
        let mut w = Weights::from_tensors(map);
        w.dir = self.source_dir.clone().unwrap_or_default();
        Llava::from_weights(self.config.clone(), &w)
    }

    /// Saves the model as a llava-hf folder that transformers loads without missing or
    /// unexpected keys: safetensors in the hub's legacy key names (sharded above
    /// `opts.max_shard_bytes`), `config.json` with `torch_dtype` set, and the tokenizer,
    /// processor and generation files copied from the folder the model was loaded from.
    /// Attached LoRA adapters are merged into the saved weights (the model is unchanged).
    pub fn save(&self, dir: impl AsRef<Path>, opts: &SaveOptions) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let mut tensors = self.named_tensors();
        let merged = self.merged_lora_weights()?;
        for (name, t) in tensors.iter_mut() {
            if let Some(m) = merged.iter().find(|(n, _)| n == name) {
                *t = m.1.clone();
            }
        }
        let dtype = opts.dtype.unwrap_or(self.dtype);
        let opts = SaveOptions {
            dtype: Some(dtype),
            ..opts.clone()
        };
        let mut files = weights::save_tensors(dir, &tensors, &opts)?;
        let cfg_path = dir.join("config.json");
        crate::io::write_atomic(
            &cfg_path,
            to_json_2(&self.config.to_json(dtype))?.as_bytes(),
        )?;
        files.push(cfg_path);
        if let Some(src) = &self.source_dir {
            files.extend(weights::copy_side_files(src, dir)?);
        }
        Ok(files)
    }
}

fn to_json_2(v: &serde_json::Value) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Json {
        file: "config.json".into(),
        reason: e.to_string(),
    })
}
