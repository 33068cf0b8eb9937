//! `mini-llava`: a LLaVA-1.5 small enough to pretrain on a laptop CPU, in the very layout of
//! `llava-hf/llava-1.5-7b-hf` (CLIP vision tower, two-layer GELU projector, Llama decoder,
//! a Llama-style BPE tokenizer with byte fallback, `<image>` and `<pad>` after the learnt
//! vocabulary, a `CLIPImageProcessor`), so every code path of the real model runs on it.
//!
//! [`MiniLlava::write_base`] trains the tokenizer on a corpus (the `tokenizers` crate's
//! BPE trainer), writes the Hugging Face files and a seeded random initialisation; the
//! folder then loads with [`crate::model::Model::load`].
//!
//! ```
//! use mllmu::model::mini::MiniLlava;
//! let spec = MiniLlava { vocab_size: 400, ..MiniLlava::default() };
//! let dir = tempfile::tempdir().unwrap();
//! let texts = ["USER: <image>\nWho is this?\nASSISTANT: This is Ann Oduya."; 3];
//! spec.write_base(dir.path(), texts.iter().copied(), 7).unwrap();
//! let m = mllmu::model::Model::load(dir.path(), &candle_core::Device::Cpu).unwrap();
//! assert_eq!(m.tokenizer.image_seq_len(), 16);
//! assert_eq!(m.tokenizer.token_to_id("<image>"), Some(m.llava.config.image_token_index));
//! ```

use crate::model::weights::{save_tensors, SaveOptions};
use crate::model::Config;
use crate::model::Llava;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The sizes of a mini LLaVA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiniLlava {
    /// Text vocabulary including the 3 specials, 256 byte tokens, `<image>` and `<pad>`.
    pub vocab_size: usize,
    /// Decoder width.
    pub hidden_size: usize,
    /// Decoder MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Decoder attention heads.
    pub heads: usize,
    /// Longest sequence.
    pub max_positions: usize,
    /// CLIP width.
    pub vision_hidden_size: usize,
    /// CLIP MLP width.
    pub vision_intermediate_size: usize,
    /// CLIP layers.
    pub vision_layers: usize,
    /// CLIP heads.
    pub vision_heads: usize,
    /// Image side in pixels.
    pub image_size: usize,
    /// Patch side in pixels (`(image_size / patch_size)²` image tokens).
    pub patch_size: usize,
}

impl Default for MiniLlava {
    fn default() -> Self {
        MiniLlava {
            vocab_size: 2048,
            hidden_size: 128,
            intermediate_size: 352,
            layers: 4,
            heads: 4,
            max_positions: 1024,
            vision_hidden_size: 64,
            vision_intermediate_size: 176,
            vision_layers: 2,
            vision_heads: 2,
            image_size: 32,
            patch_size: 8,
        }
    }
}

/// Ids fixed by the layout: `<unk>`, `<s>`, `</s>`, then the byte tokens.
const SPECIALS: [&str; 3] = ["<unk>", "<s>", "</s>"];

impl MiniLlava {
    /// Image tokens per image.
    pub fn image_tokens(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }

    /// `<image>`'s id (the pad is the one after it, the last id).
    pub fn image_token_id(&self) -> usize {
        self.vocab_size - 2
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, v: usize, why: &str| Err(Error::param(name, v, why));
        if self.vocab_size < 300 {
            return bad(
                "vocab_size",
                self.vocab_size,
                "must be at least 300 (261 fixed tokens)",
            );
        }
        if !self.hidden_size.is_multiple_of(self.heads) || self.heads == 0 {
            return bad("heads", self.heads, "must divide hidden_size");
        }
        if self.vision_heads == 0 || !self.vision_hidden_size.is_multiple_of(self.vision_heads) {
            return bad(
                "vision_heads",
                self.vision_heads,
                "must divide vision_hidden_size",
            );
        }
        if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
            return bad("patch_size", self.patch_size, "must divide image_size");
        }
        Ok(())
    }

    /// `config.json`, as transformers 4.45.1 writes it for llava-hf.
    pub fn config_json(&self) -> Value {
        json!({
            "architectures": ["LlavaForConditionalGeneration"],
            "ignore_index": -100,
            "image_seq_length": self.image_tokens(),
            "image_token_index": self.image_token_id(),
            "model_type": "llava",
            "pad_token_id": self.vocab_size - 1,
            "projector_hidden_act": "gelu",
            "text_config": {
                "architectures": ["LlamaForCausalLM"],
                "hidden_size": self.hidden_size,
                "intermediate_size": self.intermediate_size,
                "max_position_embeddings": self.max_positions,
                "model_type": "llama",
                "num_attention_heads": self.heads,
                "num_hidden_layers": self.layers,
                "num_key_value_heads": self.heads,
                "rms_norm_eps": 1e-05,
                "torch_dtype": "float32",
                "vocab_size": self.vocab_size
            },
            "tie_word_embeddings": false,
            "torch_dtype": "float32",
            "transformers_version": "4.45.1",
            "vision_config": {
                "hidden_size": self.vision_hidden_size,
                "image_size": self.image_size,
                "intermediate_size": self.vision_intermediate_size,
                "model_type": "clip_vision_model",
                "num_attention_heads": self.vision_heads,
                "num_hidden_layers": self.vision_layers,
                "patch_size": self.patch_size,
                "projection_dim": self.vision_hidden_size,
                "vocab_size": 32000
            },
            "vision_feature_layer": -2,
            "vision_feature_select_strategy": "default",
            "vocab_size": self.vocab_size
        })
    }

    /// The parsed configuration.
    pub fn config(&self) -> Result<Config> {
        Config::from_json(self.config_json(), "config.json")
    }

    /// Trains the BPE tokenizer on `texts` and returns `tokenizer.json`. The trainer sees
    /// words as the Llama normalizer makes them (`▁` for spaces, a `▁` before each text
    /// between `<image>` placeholders; newlines and each ASCII punctuation mark are words of
    /// their own), so no merge crosses a word or joins a word to its punctuation: a value
    /// has the same tokens in an option line (`C: glassblower`) and at the end of a sentence
    /// (`a glassblower.`). The learnt merges then run on whole normalized texts, as in
    /// llava-hf.
    pub fn train_tokenizer<'a>(&self, texts: impl Iterator<Item = &'a str>) -> Result<Value> {
        use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
        use tokenizers::Trainer;
        let learnt = self.vocab_size - SPECIALS.len() - 256 - 2;
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(learnt)
            .min_frequency(2)
            .show_progress(false)
            .build();
        let segments: Vec<String> = texts
            .flat_map(|t| t.split("<image>").map(str::to_owned).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        trainer
            .feed(segments.iter(), |s| Ok(words(s)))
            .map_err(tok_error)?;
        let mut bpe = BPE::default();
        trainer.train(&mut bpe).map_err(tok_error)?;
        let trained = serde_json::to_value(&bpe).map_err(tok_error)?;
        let mut learnt_tokens: Vec<(&String, u64)> = (trained["vocab"].as_object().into_iter())
            .flatten()
            .map(|(k, v)| (k, v.as_u64().unwrap_or(u64::MAX)))
            .collect();
        learnt_tokens.sort_by_key(|(_, id)| *id);
        let mut vocab = serde_json::Map::new();
        let add = |tok: &str, vocab: &mut serde_json::Map<String, Value>| {
            if !vocab.contains_key(tok) {
                let id = vocab.len();
                vocab.insert(tok.to_string(), json!(id));
            }
        };
        for s in SPECIALS {
            add(s, &mut vocab);
        }
        for b in 0..=255u8 {
            add(&format!("<0x{b:02X}>"), &mut vocab);
        }
        for (t, _) in &learnt_tokens {
            if vocab.len() < self.vocab_size - 2 {
                add(t, &mut vocab);
            }
        }
        // Fill up to the fixed size so `<image>` and `<pad>` sit at the configured ids.
        let mut filler = 0;
        while vocab.len() < self.vocab_size - 2 {
            add(&format!("<extra_{filler}>"), &mut vocab);
            filler += 1;
        }
        let known: std::collections::HashSet<&String> = vocab.keys().collect();
        let merges: Vec<Value> = (trained["merges"].as_array().into_iter())
            .flatten()
            .filter(|m| {
                let pair: Vec<String> = match m {
                    Value::String(s) => s.splitn(2, ' ').map(str::to_owned).collect(),
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                pair.len() == 2 && known.contains(&(pair[0].clone() + &pair[1]))
            })
            .cloned()
            .collect();
        let image_id = self.image_token_id();
        let special = |id: usize, content: &str| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        };
        Ok(json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>"),
                             special(image_id, "<image>"), special(image_id + 1, "<pad>")],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
            "pre_tokenizer": null,
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
            "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
                "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
                "byte_fallback": true, "ignore_merges": false,
                "vocab": Value::Object(vocab), "merges": merges}
        }))
    }

    /// Writes a loadable base checkpoint in `dir`: the tokenizer trained on `texts`, the
    /// configuration and processor files, and weights drawn from `seed` (normal with std
    /// 0.02, norms at one, biases at zero, as transformers initialises LLaVA). Returns the
    /// files written.
    pub fn write_base<'a>(
        &self,
        dir: &Path,
        texts: impl Iterator<Item = &'a str>,
        seed: u64,
    ) -> Result<Vec<PathBuf>> {
        self.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let tokenizer = self.train_tokenizer(texts)?;
        let mut files = Vec::new();
        for (name, value) in self.side_files(tokenizer) {
            let path = dir.join(name);
            super::json::write_pretty(&path, name, &value)?;
            files.push(path);
        }
        let tensors = self.init_weights(seed)?;
        files.extend(save_tensors(dir, &tensors, &SaveOptions::default())?);
        Ok(files)
    }

    /// Seeded initial weights in the checkpoint's names.
    pub fn init_weights(&self, seed: u64) -> Result<Vec<(String, Tensor)>> {
        let cfg = self.config()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for (name, shape) in Llava::expected(&cfg)?.shapes {
            let n: usize = shape.iter().product();
            let is_norm = name.contains("norm") || name.contains("layrnorm");
            let values: Vec<f32> = if is_norm && name.ends_with(".weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| 0.02 * normal(&mut rng)).collect()
            };
            out.push((name, Tensor::from_vec(values, shape, &Device::Cpu)?));
        }
        Ok(out)
    }

    /// Every JSON file of the folder but the weights.
    fn side_files(&self, tokenizer: Value) -> Vec<(&'static str, Value)> {
        let image_id = self.image_token_id();
        let added = |content: &str| {
            json!({"content": content, "lstrip": false, "normalized": false, "rstrip": false,
                   "single_word": false, "special": true})
        };
        let mut decoder = serde_json::Map::new();
        decoder.insert("0".into(), added("<unk>"));
        decoder.insert("1".into(), added("<s>"));
        decoder.insert("2".into(), added("</s>"));
        decoder.insert(image_id.to_string(), added("<image>"));
        decoder.insert((image_id + 1).to_string(), added("<pad>"));
        let side = self.image_size;
        vec![
            ("config.json", self.config_json()),
            ("tokenizer.json", tokenizer),
            (
                "tokenizer_config.json",
                json!({
                "add_bos_token": true, "add_eos_token": false, "add_prefix_space": null,
                "added_tokens_decoder": Value::Object(decoder),
                "bos_token": "<s>", "clean_up_tokenization_spaces": false, "eos_token": "</s>",
                "legacy": false, "model_max_length": self.max_positions, "pad_token": "<pad>",
                "padding_side": "left", "processor_class": "LlavaProcessor",
                "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>",
                "use_default_system_prompt": false}),
            ),
            (
                "special_tokens_map.json",
                json!({"bos_token": "<s>", "eos_token": "</s>",
                "pad_token": "<pad>", "unk_token": "<unk>"}),
            ),
            (
                "generation_config.json",
                json!({"_from_model_config": true, "bos_token_id": 1,
                "eos_token_id": 2, "pad_token_id": image_id + 1, "transformers_version": "4.45.1"}),
            ),
            (
                "preprocessor_config.json",
                json!({
                "crop_size": {"height": side, "width": side}, "do_center_crop": true,
                "do_convert_rgb": true, "do_normalize": true, "do_rescale": true, "do_resize": true,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_processor_type": "CLIPImageProcessor",
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "processor_class": "LlavaProcessor", "resample": 3,
                "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": side}}),
            ),
            (
                "processor_config.json",
                json!({"image_token": "<image>",
                "num_additional_image_tokens": 1, "patch_size": self.patch_size,
                "processor_class": "LlavaProcessor",
                "vision_feature_select_strategy": "default"}),
            ),
        ]
    }
}

/// Splits one text between `<image>` placeholders into the words the trainer counts:
/// `▁` + the text with spaces as `▁`, cut before every `▁` and around every newline.
fn words(segment: &str) -> Vec<String> {
    let norm = format!("▁{}", segment.replace(' ', "▁"));
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in norm.chars() {
        let alone = c == '\n' || c.is_ascii_punctuation();
        if (c == '▁' || alone) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
        if alone {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn tok_error(reason: impl std::fmt::Display) -> Error {
    Error::Json {
        file: "tokenizer.json".into(),
        reason: format!("training the BPE tokenizer: {reason}"),
        source: None,
    }
}

/// A standard normal draw (Box-Muller), reproducible on every platform.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_spaces_newlines_and_punctuation() {
        assert_eq!(words("Who is\nthis?"), ["▁Who", "▁is", "\n", "this", "?"]);
        // A value reads the same in an option line and at the end of a sentence.
        assert_eq!(
            words("a glassblower.\nC: glassblower"),
            ["▁a", "▁glassblower", ".", "\n", "C", ":", "▁glassblower"]
        );
        assert_eq!(words("\nA"), ["▁", "\n", "A"]);
    }
}
