//! LLaVA-1.5 (Liu et al. 2023, "Improved Baselines with Visual Instruction Tuning"), as in
//! transformers 4.45.1 `models/llava/modeling_llava.py`: CLIP features of vision layer
//! `vision_feature_layer` (CLS dropped), a two-layer GELU projector, and the Llama decoder
//! reading the projected features at the `<image>` token positions.
//!
//! The model is built by one walk of candle [`VarBuilder`]s (`vb.pp("self_attn").pp("q_proj")`):
//! over a [`Recorder`] of stand-in zeros that walk lists the tensors a checkpoint must hold
//! ([`Llava::expected`]); over the checkpoint's tensors it builds the model and records them
//! by name ([`Llava::named_tensors`]).

use super::clip::ClipVisionModel;
use super::config::{Config, FeatureSelect};
use super::linear::{Linear, Mlp};
use super::llama::{KvCache, LlamaForCausalLm};
use super::weights::{self, Expected, Recorder, SaveOptions, Weights};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, VarBuilder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    vision_tower: ClipVisionModel,
    /// `linear_2(act(linear_1(x)))`: vision width → text width.
    multi_modal_projector: Mlp,
    pub(crate) language_model: LlamaForCausalLm,
    /// Every parameter by checkpoint name, as the loading code read it.
    params: Vec<(String, Tensor)>,
    pub(crate) lora: Option<super::adapter::LoraState>,
    device: Device,
    dtype: DType,
    source_dir: Option<PathBuf>,
}

/// What one decoder run reads besides the ids; every field is optional.
#[derive(Debug, Default)]
pub(crate) struct RunInputs<'a> {
    /// The images of all rows, in order.
    pub pixel_values: Option<&'a Tensor>,
    /// Per row, 0/1 for every key: cached positions, then the new ones (`None`: no padding).
    pub key_mask: Option<&'a [Vec<u8>]>,
    /// Positions `[B|1, L]` (`None`: `past..past + L`).
    pub positions: Option<&'a Tensor>,
    /// The cache of past keys and values, extended in place.
    pub cache: Option<&'a mut KvCache>,
    /// Receives the input embeddings and every layer's output.
    pub hidden: Option<&'a mut Vec<Tensor>>,
    /// The ids were generated: embed them as text, `<image>` included.
    pub generated: bool,
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
        let (config, w) = Llava::read(dir.as_ref(), device, dtype)?;
        Llava::from_weights(config, &w)
    }

    /// The configuration and the weights of `dir`.
    fn read(dir: &Path, device: &Device, dtype: DType) -> Result<(Config, Weights)> {
        let config = Config::load(dir)?;
        let w = Weights::load(dir, &Llava::expected(&config)?, device, dtype)?;
        Ok((config, w))
    }

    /// Loads like [`Llava::load`] with every weight a trainable variable; the
    /// [`candle_nn::VarMap`] holds them under their checkpoint names.
    pub fn load_trainable(
        dir: impl AsRef<Path>,
        device: &Device,
        dtype: DType,
    ) -> Result<(Llava, candle_nn::VarMap)> {
        let (config, w) = Llava::read(dir.as_ref(), device, dtype)?;
        let (w, vars) = w.into_vars()?;
        Ok((Llava::from_weights(config, &w)?, vars))
    }

    /// The tensors (legacy names and shapes) a checkpoint for `config` holds, listed by
    /// running the loading code over stand-ins.
    ///
    /// ```
    /// let cfg = mllmu::model::Config::load("tests/fixtures/tiny-llava".as_ref())?;
    /// let expected = mllmu::model::Llava::expected(&cfg)?;
    /// assert_eq!(expected.shapes["language_model.model.layers.1.mlp.up_proj.weight"], [200, 96]);
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn expected(config: &Config) -> Result<Expected> {
        let rec = Recorder::stand_ins();
        Llava::build(config, rec.var_builder(&Device::Cpu))?;
        Ok(rec.expected())
    }

    /// Builds the model from named tensors (plain tensors or variables' tensors), after
    /// checking them against [`Llava::expected`].
    pub fn from_weights(config: Config, w: &Weights) -> Result<Llava> {
        w.check(&Llava::expected(&config)?)?;
        let rec = Recorder::serving(w.iter().map(|(n, t)| (n.clone(), t.clone())).collect());
        let first = w.iter().next().map(|(_, t)| t);
        let (device, dtype) = first.map_or((Device::Cpu, DType::F32), |t| {
            (t.device().clone(), t.dtype())
        });
        let (vision_tower, multi_modal_projector, language_model) =
            Llava::build(&config, rec.var_builder(&device))?;
        Ok(Llava {
            dtype,
            vision_tower,
            multi_modal_projector,
            language_model,
            params: rec.served(),
            config,
            lora: None,
            device,
            source_dir: (!w.dir.as_os_str().is_empty()).then(|| w.dir.clone()),
        })
    }

    /// The loading code: every tensor of the model, read under `vb` once.
    fn build(config: &Config, vb: VarBuilder) -> Result<(ClipVisionModel, Mlp, LlamaForCausalLm)> {
        let (d, h, bias) = (
            config.vision.hidden_size,
            config.text.hidden_size,
            config.projector_bias,
        );
        let p = vb.pp("multi_modal_projector");
        Ok((
            ClipVisionModel::new(vb.pp("vision_tower").pp("vision_model"), &config.vision)?,
            Mlp {
                fc1: Linear::new(p.pp("linear_1"), (d, h), bias)?,
                fc2: Linear::new(p.pp("linear_2"), (h, h), bias)?,
                act: config.projector_hidden_act,
            },
            LlamaForCausalLm::new(vb.pp("language_model"), &config.text)?,
        ))
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
        // text row `i·l + j`, or the next feature row (after the b·l text rows)
        let mut next = (b * l) as u32..;
        let index: Vec<u32> = (rows.iter().flatten().enumerate())
            .map(|(k, &t)| {
                if t == img {
                    next.next().unwrap_or_default()
                } else {
                    k as u32
                }
            })
            .collect();
        let all = Tensor::cat(
            &[&text.reshape((b * l, h))?, &feats.reshape((n * s, h))?],
            0,
        )?;
        let index = Tensor::from_vec(index, b * l, &self.device)?;
        Ok(all.index_select(&index, 0)?.reshape((b, l, h))?)
    }

    /// Runs the decoder and returns the normed last hidden state `[B, L, hidden]`.
    pub(crate) fn run(&self, input_ids: &Tensor, inputs: RunInputs) -> Result<Tensor> {
        super::device::on_pool(&self.device, || self.run_here(input_ids, inputs))
    }

    fn run_here(&self, input_ids: &Tensor, inputs: RunInputs) -> Result<Tensor> {
        let RunInputs {
            pixel_values,
            key_mask,
            positions,
            cache,
            hidden,
            generated,
        } = inputs;
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
        self.logits(input_ids, pixel_values, attention_mask, None, None)
    }

    /// [`Llava::forward`] with explicit `position_ids` (`[B, L]` or `[1, L]`).
    pub fn forward_with_positions(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
        position_ids: &Tensor,
    ) -> Result<Tensor> {
        self.logits(
            input_ids,
            pixel_values,
            attention_mask,
            Some(position_ids),
            None,
        )
    }

    /// [`Llava::forward`] also returning every decoder hidden state.
    pub fn forward_hidden_states(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
    ) -> Result<LlavaOutput> {
        let mut hidden = Vec::with_capacity(self.config.text.num_hidden_layers + 1);
        let logits = self.logits(
            input_ids,
            pixel_values,
            attention_mask,
            None,
            Some(&mut hidden),
        )?;
        Ok(LlavaOutput {
            logits,
            hidden_states: hidden,
        })
    }

    fn logits(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
        positions: Option<&Tensor>,
        hidden: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let keys = attention_mask.map(mask_rows).transpose()?;
        let inputs = RunInputs {
            pixel_values,
            key_mask: keys.as_deref(),
            positions,
            hidden,
            ..RunInputs::default()
        };
        let h = self.run(input_ids, inputs)?;
        Ok(self.language_model.lm_head.forward(&h)?)
    }

    /// The output projection (sharing the embeddings when they are tied).
    pub fn lm_head(&self) -> &Linear {
        &self.language_model.lm_head
    }

    /// Every linear layer of the model (vision tower, projector, decoder, head).
    pub fn linears(&self) -> Vec<&Linear> {
        let p = &self.multi_modal_projector;
        (self.vision_tower.linears())
            .chain([&p.fc1, &p.fc2])
            .chain(self.language_model.linears())
            .collect()
    }

    /// Mutable access to every linear layer, in the order of [`Llava::linears`].
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let p = &mut self.multi_modal_projector;
        (self.vision_tower.linears_mut())
            .chain([&mut p.fc1, &mut p.fc2])
            .chain(self.language_model.linears_mut())
            .collect()
    }

    /// The model's parameters by checkpoint name (legacy layout), LoRA adapters left out and
    /// not merged; a tied head is listed once, as the embeddings.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.params.clone()
    }

    /// Replaces the weight called `key` (`<linear>.weight`) of a linear layer.
    pub(crate) fn replace_linear_weight(&mut self, key: &str, weight: Tensor) {
        if let Some(p) = self.params.iter_mut().find(|(n, _)| n == key) {
            p.1 = weight.clone();
        }
        let linear = key.strip_suffix(".weight").unwrap_or(key);
        if let Some(l) = self.linears_mut().into_iter().find(|l| l.name == linear) {
            l.weight = weight;
        }
    }

    /// An independent, frozen copy: weights copied into new storage with any LoRA adapters
    /// merged, so later optimiser steps on this model's variables leave the copy unchanged
    /// (e.g. the reference model of KL or NPO unlearning).
    pub fn frozen_copy(&self) -> Result<Llava> {
        let map = (self.merged_tensors()?.into_iter())
            .map(|(name, t)| Ok((name, t.copy()?.detach())))
            .collect::<Result<HashMap<_, _>>>()?;
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
        let tensors = self.merged_tensors()?;
        let dtype = opts.dtype.unwrap_or(self.dtype);
        let opts = SaveOptions {
            dtype: Some(dtype),
            ..opts.clone()
        };
        let mut files = weights::save_tensors(dir, &tensors, &opts)?;
        let cfg_path = dir.join("config.json");
        super::json::write_pretty(&cfg_path, "config.json", &self.config.to_json(dtype))?;
        files.push(cfg_path);
        if let Some(src) = &self.source_dir {
            files.extend(weights::copy_side_files(src, dir)?);
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::save_tensors;

    /// Reads the fixture's weights as `cfg` expects them.
    fn read(dir: &Path, cfg: &Config) -> Result<Weights> {
        Weights::load(dir, &Llava::expected(cfg)?, &Device::Cpu, DType::F32)
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn expected_names_cover_the_fixture() {
        let cfg = Config::load(&fixture("tiny-llava")).unwrap();
        let exp = Llava::expected(&cfg).unwrap();
        assert_eq!(exp.shapes.len(), 89);
        let w = read(&fixture("tiny-llava"), &cfg).unwrap();
        assert_eq!(w.len(), 89);
        let head = w.get("language_model.lm_head.weight").unwrap();
        assert_eq!(head.dims(), &[1472, 96]);
        assert_eq!(head.dtype(), DType::F32);
    }

    #[test]
    fn problems_are_listed_together() {
        let mut cfg = Config::load(&fixture("tiny-llava")).unwrap();
        cfg.text.intermediate_size = 201;
        cfg.text.tie_word_embeddings = false;
        cfg.text.num_hidden_layers = 4;
        let err = read(&fixture("tiny-llava"), &cfg).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("missing tensor `language_model.model.layers.3.mlp.up_proj.weight`"),
            "{msg}"
        );
        assert!(msg.contains("tensor `language_model.model.layers.0.mlp.up_proj.weight` in model.safetensors: expected shape [201, 96], found [200, 96]"), "{msg}");
        cfg.text.num_hidden_layers = 2;
        cfg.text.intermediate_size = 200;
        let msg = read(&fixture("tiny-llava"), &cfg).unwrap_err().to_string();
        assert!(msg.contains("unexpected tensor `language_model.model.layers.2.input_layernorm.weight` in model.safetensors"), "{msg}");
    }

    #[test]
    fn save_shards_and_reads_back() {
        let cfg = Config::load(&fixture("tiny-llava")).unwrap();
        let w = read(&fixture("tiny-llava"), &cfg).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let named: Vec<_> = w.iter().map(|(n, t)| (n.clone(), t.clone())).collect();
        let files = save_tensors(
            tmp.path(),
            &named,
            &SaveOptions {
                dtype: None,
                max_shard_bytes: 1_000_000,
            },
        )
        .unwrap();
        let index: serde_json::Value =
            crate::io::read_json(&tmp.path().join("model.safetensors.index.json")).unwrap();
        let mut shards: Vec<&str> = index["weight_map"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_str().unwrap())
            .collect();
        shards.sort();
        shards.dedup();
        assert!(shards.len() >= 3, "{shards:?}");
        assert_eq!(files.len(), shards.len() + 1);
        for s in &shards {
            let size = std::fs::metadata(tmp.path().join(s)).unwrap().len();
            assert!(size < 1_100_000, "{s}: {size}"); // data ≤ 1 MB plus header
        }
        assert_eq!(index["metadata"]["total_size"], 2605248);
        let back = read(tmp.path(), &cfg).unwrap();
        for (n, t) in w.iter() {
            let diff = crate::model::fused::check::abs_diff(t, &back.get(n).unwrap());
            assert_eq!(diff, 0.0, "{n}");
        }
    }

    #[test]
    fn newer_key_names_are_accepted() {
        let cfg = Config::load(&fixture("tiny-llava")).unwrap();
        let w = read(&fixture("tiny-llava"), &cfg).unwrap();
        let modern = |n: &str| -> String {
            if let Some(r) = n.strip_prefix("language_model.model.") {
                format!("model.language_model.{r}")
            } else if let Some(r) = n.strip_prefix("language_model.lm_head.") {
                format!("lm_head.{r}")
            } else {
                format!("model.{n}")
            }
        };
        let named: Vec<_> = w.iter().map(|(n, t)| (modern(n), t.clone())).collect();
        assert!(named
            .iter()
            .any(|(n, _)| n == "model.vision_tower.vision_model.pre_layrnorm.weight"));
        let tmp = tempfile::tempdir().unwrap();
        save_tensors(tmp.path(), &named, &SaveOptions::default()).unwrap();
        let back = read(tmp.path(), &cfg).unwrap();
        assert_eq!(back.len(), 89);
        let a = w.get("multi_modal_projector.linear_2.bias").unwrap();
        let b = back.get("multi_modal_projector.linear_2.bias").unwrap();
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
    }

    #[test]
    fn tied_embeddings_skip_the_head() {
        let mut cfg = Config::load(&fixture("tiny-llava")).unwrap();
        cfg.text.tie_word_embeddings = true;
        let w = read(&fixture("tiny-llava"), &cfg).unwrap();
        assert_eq!(w.len(), 88);
        assert!(w.get("language_model.lm_head.weight").is_err());
    }
}
