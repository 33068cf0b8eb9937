//! The LLaVA-1.5 tokenizer with `<image>` expansion, as transformers 4.45.1 applies it.
//!
//! A llava-hf model folder carries a Llama `tokenizer.json` (BPE with byte fallback) plus
//! `tokenizer_config.json`, `special_tokens_map.json`, `processor_config.json` and the
//! model's `config.json`. [`LlavaTokenizer`] reads them all and reproduces what
//! `LlavaProcessor(text=..)` does:
//!
//! * the post-processor is rebuilt from `add_bos_token` / `add_eos_token` like
//!   `LlamaTokenizerFast.update_post_processor` (`<s> $A` for LLaVA-1.5: BOS, no EOS);
//! * every `<image>` in the prompt *string* is replaced by [`LlavaTokenizer::image_seq_len`]
//!   copies before tokenizing: `(image_size / patch_size)² + num_additional_image_tokens`,
//!   minus one for the `"default"` feature strategy (CLS dropped): 576 for
//!   llava-1.5-7b-hf, 36 for the tiny test model;
//! * decoding is the `tokenizers` decoder, with transformers' optional
//!   `clean_up_tokenization_spaces` pass.
//!
//! Departure from the reference: when `processor_config.json` is absent, transformers 4.45.1
//! leaves `<image>` unexpanded (the model then expands it itself); here the patch size and
//! strategy fall back to `config.json`, so ids are always expanded.

use std::iter::repeat_n;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use tokenizers::processors::template::TemplateProcessing;

use super::config::{Config, FeatureSelect};
use super::json;
use crate::{Error, Result};

/// The side on which [`LlavaTokenizer::pad_batch`] adds padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    /// Pads before the tokens (what llava-hf's `tokenizer_config.json` says).
    Left,
    /// Pads after the tokens.
    Right,
}

/// The LLaVA-1.5 tokenizer and processor text path. See the [module docs](self).
///
/// ```
/// use mllmu::model::tokenizer::LlavaTokenizer;
/// let tok = LlavaTokenizer::from_dir("tests/fixtures/tiny-llava")?;
/// let ids = tok.encode("USER: <image>\nHi\nASSISTANT:")?;
/// assert_eq!(ids[0], tok.bos_id());
/// assert_eq!(ids.iter().filter(|&&i| i == tok.image_token_id()).count(), tok.image_seq_len());
/// assert_eq!(tok.image_seq_len(), 36);
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LlavaTokenizer {
    tokenizer: tokenizers::Tokenizer,
    file: String,
    bos_id: u32,
    eos_id: u32,
    pad_id: u32,
    image_token: String,
    image_token_id: u32,
    image_seq_len: usize,
    padding_side: PaddingSide,
    model_max_length: usize,
    clean_up_tokenization_spaces: bool,
}

/// The special tokens of `special_tokens_map.json` or `tokenizer_config.json`; each entry
/// is `"<s>"` or `{"content": "<s>", ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SpecialTokens {
    #[serde(deserialize_with = "token")]
    bos_token: Option<String>,
    #[serde(deserialize_with = "token")]
    eos_token: Option<String>,
    #[serde(deserialize_with = "token")]
    pad_token: Option<String>,
}

fn token<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

/// `tokenizer_config.json`, with `LlamaTokenizerFast`'s defaults.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct TokenizerConfig {
    #[serde(flatten)]
    special: SpecialTokens,
    #[serde(deserialize_with = "json::flag")]
    add_bos_token: bool,
    #[serde(deserialize_with = "json::flag")]
    add_eos_token: bool,
    #[serde(deserialize_with = "json::string")]
    tokenizer_class: String,
    #[serde(deserialize_with = "padding_side")]
    padding_side: PaddingSide,
    /// Any number, saturated (transformers writes `1e30` for "no limit").
    #[serde(deserialize_with = "max_length")]
    model_max_length: usize,
    #[serde(deserialize_with = "json::flag")]
    clean_up_tokenization_spaces: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            special: SpecialTokens::default(),
            add_bos_token: true,
            add_eos_token: false,
            tokenizer_class: String::new(),
            padding_side: PaddingSide::Left,
            model_max_length: usize::MAX,
            clean_up_tokenization_spaces: false,
        }
    }
}

fn padding_side<'de, D: serde::Deserializer<'de>>(d: D) -> json::De<'de, D, PaddingSide> {
    use serde::de::Error as _;
    match json::string::<D, String>(d)?.as_str() {
        "left" => Ok(PaddingSide::Left),
        "right" => Ok(PaddingSide::Right),
        other => Err(D::Error::custom(format!(
            "expected \"left\" or \"right\", found {other:?}"
        ))),
    }
}

fn max_length<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    Ok(match Value::deserialize(d)?.as_f64() {
        Some(v) if v < usize::MAX as f64 => v as usize,
        _ => usize::MAX,
    })
}

/// `processor_config.json` (optional: absent values fall back to `config.json`).
#[derive(Debug, Deserialize)]
#[serde(default)]
struct ProcessorConfig {
    #[serde(deserialize_with = "json::string")]
    image_token: String,
    #[serde(deserialize_with = "json::uint")]
    patch_size: Option<u64>,
    vision_feature_select_strategy: Option<FeatureSelect>,
    #[serde(deserialize_with = "json::uint")]
    num_additional_image_tokens: u64,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            image_token: "<image>".into(),
            patch_size: None,
            vision_feature_select_strategy: None,
            num_additional_image_tokens: 1,
        }
    }
}

impl LlavaTokenizer {
    /// Loads the tokenizer of a llava-hf model folder.
    ///
    /// Requires `tokenizer.json`, `tokenizer_config.json` and `config.json`;
    /// `special_tokens_map.json` and `processor_config.json` are read when present
    /// (special tokens then come from `tokenizer_config.json`, patch size and feature
    /// strategy from `config.json`).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let tok_path = json::model_file(dir, "tokenizer.json")?;
        let file = tok_path.display().to_string();
        let tok_err = |reason: String| Error::Tokenizer {
            file: file.clone(),
            reason,
            source: None,
        };
        let mut tokenizer =
            tokenizers::Tokenizer::from_file(&tok_path).map_err(|e| Error::tokenizer(&file, e))?;

        let tok_path = json::model_file(dir, "tokenizer_config.json")?;
        let tok_cfg: TokenizerConfig = json::read_fields(&tok_path)?;
        let config = Config::load(dir)?;
        let special: SpecialTokens = json::read_optional(dir, "special_tokens_map.json")?;
        let proc_cfg: ProcessorConfig = json::read_optional(dir, "processor_config.json")?;
        let tok_file = tok_path.display().to_string();
        let model_file = dir.join("config.json").display().to_string();
        let proc_file = dir.join("processor_config.json").display().to_string();
        let model_err = |field: &str, reason: String| json::config_err(&model_file, field, reason);
        let proc_err = |field: &str, reason: &str| json::config_err(&proc_file, field, reason);
        let tok_cfg_err = |field: &str, reason: &str| json::config_err(&tok_file, field, reason);

        // special tokens: special_tokens_map.json first, then tokenizer_config.json
        let s = &tok_cfg.special;
        let bos = special.bos_token.or_else(|| s.bos_token.clone());
        let eos = special.eos_token.or_else(|| s.eos_token.clone());
        let pad = special.pad_token.or_else(|| s.pad_token.clone());
        let id_of = |key: &str, t: &Option<String>| -> Result<Option<u32>> {
            t.as_ref()
                .map(|t| {
                    tokenizer
                        .token_to_id(t)
                        .ok_or_else(|| tok_err(format!("{key} `{t}` is not in the vocabulary")))
                })
                .transpose()
        };
        let bos_id = id_of("bos_token", &bos)?
            .ok_or_else(|| tok_cfg_err("bos_token", "no BOS token is defined"))?;
        let eos_id = id_of("eos_token", &eos)?
            .ok_or_else(|| tok_cfg_err("eos_token", "no EOS token is defined"))?;
        let pad_id = id_of("pad_token", &pad)?.unwrap_or(config.pad_token_id);

        // BOS/EOS template, as LlamaTokenizerFast rebuilds it from the two flags
        let (add_bos, add_eos) = (tok_cfg.add_bos_token, tok_cfg.add_eos_token);
        if tok_cfg.tokenizer_class.starts_with("LlamaTokenizer") {
            let bos = bos.unwrap_or_default();
            let eos = eos.unwrap_or_default();
            let part = |t: &str| -> String {
                let (b, e) = (format!("{bos}:{t} "), format!(" {eos}:{t}"));
                let (b, e) = (if add_bos { &b } else { "" }, if add_eos { &e } else { "" });
                format!("{b}${}:{t}{e}", if t == "0" { "A" } else { "B" })
            };
            let specials = [(add_bos, &bos, bos_id), (add_eos, &eos, eos_id)]
                .into_iter()
                .filter(|s| s.0)
                .map(|(_, t, id)| (t.clone(), id));
            let template = TemplateProcessing::builder()
                .try_single(part("0"))
                .and_then(|b| b.try_pair(format!("{} {}", part("0"), part("1"))))
                .map_err(|e| tok_err(format!("cannot build the BOS/EOS template: {e}")))?
                .special_tokens(specials.collect::<Vec<_>>())
                .build()
                .map_err(|e| tok_err(format!("cannot build the BOS/EOS template: {e}")))?;
            tokenizer.with_post_processor(Some(template));
        }

        // image tokens per image
        let image_token = proc_cfg.image_token;
        let image_token_id = tokenizer.token_to_id(&image_token).ok_or_else(|| {
            proc_err(
                "image_token",
                &format!("`{image_token}` is not in the tokenizer vocabulary"),
            )
        })?;
        let index = config.image_token_index;
        if index != image_token_id {
            let reason =
                format!("is {index} but the tokenizer maps `{image_token}` to {image_token_id}");
            return Err(model_err("image_token_index", reason));
        }
        let patch_size = (proc_cfg.patch_size).unwrap_or(config.vision.patch_size as u64);
        if patch_size == 0 {
            return Err(proc_err("patch_size", "must be positive"));
        }
        let side = config.vision.image_size as u64 / patch_size;
        let full = side * side + proc_cfg.num_additional_image_tokens;
        let strategy =
            (proc_cfg.vision_feature_select_strategy).unwrap_or(config.vision_feature_select);
        let image_seq_len = match strategy {
            FeatureSelect::Default => full.checked_sub(1).ok_or_else(|| {
                proc_err(
                    "num_additional_image_tokens",
                    "the \"default\" strategy drops the CLS token, so it must be at least 1",
                )
            })?,
            FeatureSelect::Full => full,
        };
        let configured = config.image_seq_length as u64;
        if configured != image_seq_len {
            return Err(model_err(
                "image_seq_length",
                format!(
                    "is {configured} but the processor expands each image to {image_seq_len} tokens\n\
                     hint: set image_seq_length to {image_seq_len} (transformers would re-expand the image tokens)"
                ),
            ));
        }
        Ok(LlavaTokenizer {
            tokenizer,
            file,
            bos_id,
            eos_id,
            pad_id,
            image_token,
            image_token_id,
            image_seq_len: config.image_seq_length, // equal, checked above
            padding_side: tok_cfg.padding_side,
            model_max_length: tok_cfg.model_max_length,
            clean_up_tokenization_spaces: tok_cfg.clean_up_tokenization_spaces,
        })
    }

    fn tok_err(&self, e: tokenizers::Error) -> Error {
        Error::tokenizer(&self.file, e)
    }

    /// Tokenizes a prompt as the processor does: BOS, and every `<image>` expanded to
    /// [`image_seq_len`](Self::image_seq_len) image tokens.
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        let expanded = prompt.replace(
            &self.image_token,
            &self.image_token.repeat(self.image_seq_len),
        );
        self.encode_unexpanded(&expanded)
    }

    /// Tokenizes a prompt as `tokenizer(prompt)` does: BOS, one image token per `<image>`.
    pub fn encode_unexpanded(&self, prompt: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(prompt, true)
            .map_err(|e| self.tok_err(e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Number of `<image>` placeholders in a prompt string.
    ///
    /// ```
    /// # let tok = mllmu::model::tokenizer::LlavaTokenizer::from_dir("tests/fixtures/tiny-llava")?;
    /// assert_eq!(tok.count_images("USER: <image>\nA\nUSER: <image>\nB"), 2);
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn count_images(&self, prompt: &str) -> usize {
        prompt.matches(self.image_token.as_str()).count()
    }

    /// Decodes ids to text (`tokenizer.decode(ids, skip_special_tokens=..)`).
    ///
    /// ```
    /// # let tok = mllmu::model::tokenizer::LlavaTokenizer::from_dir("tests/fixtures/tiny-llava")?;
    /// let ids = tok.encode("USER: Jyväskylä")?;
    /// assert_eq!(tok.decode(&ids, true)?, "USER: Jyväskylä");
    /// assert_eq!(tok.decode(&ids, false)?, "<s> USER: Jyväskylä");
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let text = self
            .tokenizer
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.tok_err(e))?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// The benchmark's evaluation decode: `decode(full_ids[2:], skip_special_tokens=True)` on
    /// prompt + generation (dropping BOS and the first prompt piece, keeping the rest).
    pub fn eval_style_decode(&self, full_ids: &[u32]) -> Result<String> {
        self.decode(full_ids.get(2..).unwrap_or(&[]), true)
    }

    /// Pads sequences to the longest with [`pad_id`](Self::pad_id) on `side`; returns the
    /// padded ids and the attention mask (1 for tokens, 0 for padding).
    ///
    /// ```
    /// use mllmu::model::tokenizer::PaddingSide;
    /// # let tok = mllmu::model::tokenizer::LlavaTokenizer::from_dir("tests/fixtures/tiny-llava")?;
    /// let (ids, mask) = tok.pad_batch(&[vec![5, 6, 7], vec![8]], PaddingSide::Left);
    /// assert_eq!(ids[1], vec![tok.pad_id(), tok.pad_id(), 8]);
    /// assert_eq!(mask[1], vec![0, 0, 1]);
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn pad_batch(
        &self,
        seqs: &[Vec<u32>],
        side: PaddingSide,
    ) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let len = seqs.iter().map(Vec::len).max().unwrap_or(0);
        seqs.iter()
            .map(|s| {
                let pad = len - s.len();
                let (ids, mask) = (s.iter().copied(), repeat_n(1, s.len()));
                let (pad_ids, pad_mask) = (repeat_n(self.pad_id, pad), repeat_n(0, pad));
                match side {
                    PaddingSide::Left => {
                        (pad_ids.chain(ids).collect(), pad_mask.chain(mask).collect())
                    }
                    PaddingSide::Right => {
                        (ids.chain(pad_ids).collect(), mask.chain(pad_mask).collect())
                    }
                }
            })
            .unzip()
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// Vocabulary size including added tokens (1458 for the tiny model, 32002 for llava-1.5).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The beginning-of-sequence id (`<s>`).
    pub fn bos_id(&self) -> u32 {
        self.bos_id
    }

    /// The end-of-sequence id (`</s>`).
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// The padding id (`<pad>`).
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The image placeholder id (`<image>`, `config.json` `image_token_index`).
    pub fn image_token_id(&self) -> u32 {
        self.image_token_id
    }

    /// The image placeholder string (`<image>`).
    pub fn image_token(&self) -> &str {
        &self.image_token
    }

    /// Image tokens per image after expansion (576 for llava-1.5-7b-hf).
    pub fn image_seq_len(&self) -> usize {
        self.image_seq_len
    }

    /// The padding side of `tokenizer_config.json` (what the 4.45.1 processor uses).
    pub fn padding_side(&self) -> PaddingSide {
        self.padding_side
    }

    /// `model_max_length` of `tokenizer_config.json` (`usize::MAX` when absent).
    pub fn model_max_length(&self) -> usize {
        self.model_max_length
    }

    /// The underlying `tokenizers` tokenizer (with the rebuilt BOS/EOS template).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.tokenizer
    }
}

/// transformers' `clean_up_tokenization`: removes spaces before punctuation and contractions.
fn clean_up_tokenization(text: &str) -> String {
    [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ]
    .iter()
    .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_up_matches_transformers_rules() {
        assert_eq!(
            clean_up_tokenization("I do n't know , he 's here ."),
            "I don't know, he's here."
        );
        assert_eq!(clean_up_tokenization("a ' b"), "a'b");
    }

    #[test]
    fn special_token_entries_accept_both_forms() {
        let v = serde_json::json!({"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false}, "pad_token": 3});
        let s: SpecialTokens = serde_json::from_value(v).unwrap();
        assert_eq!(s.bos_token.as_deref(), Some("<s>"));
        assert_eq!(s.eos_token.as_deref(), Some("</s>"));
        assert_eq!(s.pad_token, None);
    }
}
