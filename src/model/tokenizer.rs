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

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::processors::template::TemplateProcessing;

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

/// Reads a JSON file of the model folder; a missing file is [`Error::MissingFile`].
fn read_required(dir: &Path, name: &str) -> Result<Value> {
    let path = dir.join(name);
    if !path.is_file() {
        return Err(Error::MissingFile {
            path,
            hint: format!("a llava-hf model folder holds {name}; copy it from the base model (llava-hf/llava-1.5-7b-hf)"),
        });
    }
    crate::io::read_json(&path)
}

/// Reads an optional JSON file of the model folder (an empty object when absent).
fn read_optional(dir: &Path, name: &str) -> Result<Value> {
    let path = dir.join(name);
    if path.is_file() {
        crate::io::read_json(&path)
    } else {
        Ok(Value::Object(Default::default()))
    }
}

/// A special-token entry: either `"<s>"` or `{"content": "<s>", ...}`.
fn token_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Typed access to one JSON file's fields, with errors naming the file and field.
struct Fields<'a> {
    file: String,
    value: &'a Value,
}

impl Fields<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::Config {
            file: self.file.clone(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    fn get(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self.value, |v, key| v.get(key))
            .filter(|v| !v.is_null())
    }

    fn uint(&self, path: &str) -> Result<Option<u64>> {
        self.get(path)
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    self.err(path, format!("expected a non-negative integer, found {v}"))
                })
            })
            .transpose()
    }

    fn boolean(&self, path: &str) -> Result<Option<bool>> {
        self.get(path)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.err(path, format!("expected true or false, found {v}")))
            })
            .transpose()
    }

    fn string(&self, path: &str) -> Result<Option<String>> {
        self.get(path)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err(path, format!("expected a string, found {v}")))
            })
            .transpose()
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
        let tok_path: PathBuf = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(Error::MissingFile {
                path: tok_path,
                hint: "a llava-hf model folder holds tokenizer.json; copy it from the base model \
                       (llava-hf/llava-1.5-7b-hf)"
                    .into(),
            });
        }
        let file = tok_path.display().to_string();
        let tok_err = |reason: String| Error::Tokenizer {
            file: file.clone(),
            reason,
        };
        let mut tokenizer =
            tokenizers::Tokenizer::from_file(&tok_path).map_err(|e| tok_err(e.to_string()))?;

        let tok_cfg_v = read_required(dir, "tokenizer_config.json")?;
        let model_cfg_v = read_required(dir, "config.json")?;
        let special_v = read_optional(dir, "special_tokens_map.json")?;
        let proc_v = read_optional(dir, "processor_config.json")?;
        let tok_cfg = Fields {
            file: dir.join("tokenizer_config.json").display().to_string(),
            value: &tok_cfg_v,
        };
        let model_cfg = Fields {
            file: dir.join("config.json").display().to_string(),
            value: &model_cfg_v,
        };
        let proc_cfg = Fields {
            file: dir.join("processor_config.json").display().to_string(),
            value: &proc_v,
        };

        // special tokens: special_tokens_map.json first, then tokenizer_config.json
        let special = |key: &str| -> Option<String> {
            special_v
                .get(key)
                .and_then(token_string)
                .or_else(|| tok_cfg_v.get(key).and_then(token_string))
        };
        let id_of = |key: &str| -> Result<Option<u32>> {
            match special(key) {
                None => Ok(None),
                Some(t) => tokenizer
                    .token_to_id(&t)
                    .map(Some)
                    .ok_or_else(|| tok_err(format!("{key} `{t}` is not in the vocabulary"))),
            }
        };
        let bos_id = id_of("bos_token")?
            .ok_or_else(|| tok_cfg.err("bos_token", "no BOS token is defined"))?;
        let eos_id = id_of("eos_token")?
            .ok_or_else(|| tok_cfg.err("eos_token", "no EOS token is defined"))?;
        let pad_id = match id_of("pad_token")? {
            Some(id) => id,
            None => model_cfg
                .uint("pad_token_id")?
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    tok_cfg.err(
                        "pad_token",
                        "no pad token is defined here nor as pad_token_id in config.json",
                    )
                })?,
        };

        // BOS/EOS template, as LlamaTokenizerFast rebuilds it from the two flags
        let add_bos = tok_cfg.boolean("add_bos_token")?.unwrap_or(true);
        let add_eos = tok_cfg.boolean("add_eos_token")?.unwrap_or(false);
        let class = tok_cfg.string("tokenizer_class")?.unwrap_or_default();
        if class.starts_with("LlamaTokenizer") {
            let bos = special("bos_token").unwrap_or_default();
            let eos = special("eos_token").unwrap_or_default();
            let part = |t: &str| -> String {
                let b = if add_bos {
                    format!("{bos}:{t} ")
                } else {
                    String::new()
                };
                let e = if add_eos {
                    format!(" {eos}:{t}")
                } else {
                    String::new()
                };
                format!("{b}${}:{t}{e}", if t == "0" { "A" } else { "B" })
            };
            let mut specials = Vec::new();
            if add_bos {
                specials.push((bos.clone(), bos_id));
            }
            if add_eos {
                specials.push((eos.clone(), eos_id));
            }
            let template = TemplateProcessing::builder()
                .try_single(part("0"))
                .and_then(|b| b.try_pair(format!("{} {}", part("0"), part("1"))))
                .map_err(|e| tok_err(format!("cannot build the BOS/EOS template: {e}")))?
                .special_tokens(specials)
                .build()
                .map_err(|e| tok_err(format!("cannot build the BOS/EOS template: {e}")))?;
            tokenizer.with_post_processor(Some(template));
        }

        let padding_side = match tok_cfg.string("padding_side")?.as_deref() {
            None | Some("left") => PaddingSide::Left,
            Some("right") => PaddingSide::Right,
            Some(other) => {
                return Err(tok_cfg.err(
                    "padding_side",
                    format!("expected \"left\" or \"right\", found {other:?}"),
                ))
            }
        };
        let model_max_length = tok_cfg
            .get("model_max_length")
            .and_then(Value::as_f64)
            .map(|v| {
                if v >= usize::MAX as f64 {
                    usize::MAX
                } else {
                    v as usize
                }
            })
            .unwrap_or(usize::MAX);
        let clean_up_tokenization_spaces = tok_cfg
            .boolean("clean_up_tokenization_spaces")?
            .unwrap_or(false);

        // image tokens per image
        let image_token = proc_cfg
            .string("image_token")?
            .unwrap_or_else(|| "<image>".to_string());
        let image_token_id = tokenizer.token_to_id(&image_token).ok_or_else(|| {
            proc_cfg.err(
                "image_token",
                format!("`{image_token}` is not in the tokenizer vocabulary"),
            )
        })?;
        if let Some(index) = model_cfg.uint("image_token_index")? {
            if index != u64::from(image_token_id) {
                return Err(model_cfg.err(
                    "image_token_index",
                    format!(
                        "is {index} but the tokenizer maps `{image_token}` to {image_token_id}"
                    ),
                ));
            }
        }
        let (patch_size, patch_field) = match proc_cfg.uint("patch_size")? {
            Some(p) => (p, &proc_cfg),
            None => (
                model_cfg.uint("vision_config.patch_size")?.unwrap_or(32),
                &model_cfg,
            ),
        };
        if patch_size == 0 {
            return Err(patch_field.err("patch_size", "must be positive"));
        }
        let strategy = match proc_cfg.string("vision_feature_select_strategy")? {
            Some(s) => s,
            None => model_cfg
                .string("vision_feature_select_strategy")?
                .unwrap_or_else(|| "default".into()),
        };
        let image_size = model_cfg.uint("vision_config.image_size")?.unwrap_or(224);
        let additional = proc_cfg.uint("num_additional_image_tokens")?.unwrap_or(1);
        let side = image_size / patch_size;
        let full = side * side + additional;
        let image_seq_len = match strategy.as_str() {
            "default" => full.checked_sub(1).ok_or_else(|| {
                proc_cfg.err(
                    "num_additional_image_tokens",
                    "the \"default\" strategy drops the CLS token, so it must be at least 1",
                )
            })?,
            "full" => full,
            other => {
                return Err(proc_cfg.err(
                    "vision_feature_select_strategy",
                    format!("expected \"default\" or \"full\", found {other:?}"),
                ))
            }
        };
        if let Some(configured) = model_cfg.uint("image_seq_length")? {
            if configured != image_seq_len {
                return Err(model_cfg.err(
                    "image_seq_length",
                    format!(
                        "is {configured} but the processor expands each image to {image_seq_len} tokens\n\
                         hint: set image_seq_length to {image_seq_len} (transformers would re-expand the image tokens)"
                    ),
                ));
            }
        }
        let image_seq_len = usize::try_from(image_seq_len)
            .map_err(|_| model_cfg.err("vision_config.image_size", "too large"))?;

        Ok(LlavaTokenizer {
            tokenizer,
            file,
            bos_id,
            eos_id,
            pad_id,
            image_token,
            image_token_id,
            image_seq_len,
            padding_side,
            model_max_length,
            clean_up_tokenization_spaces,
        })
    }

    fn tok_err(&self, reason: impl std::fmt::Display) -> Error {
        Error::Tokenizer {
            file: self.file.clone(),
            reason: reason.to_string(),
        }
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
                let (mut ids, mut mask) = (Vec::with_capacity(len), Vec::with_capacity(len));
                if side == PaddingSide::Left {
                    ids.extend(std::iter::repeat_n(self.pad_id, pad));
                    mask.extend(std::iter::repeat_n(0, pad));
                }
                ids.extend_from_slice(s);
                mask.extend(std::iter::repeat_n(1, s.len()));
                if side == PaddingSide::Right {
                    ids.extend(std::iter::repeat_n(self.pad_id, pad));
                    mask.extend(std::iter::repeat_n(0, pad));
                }
                (ids, mask)
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
        assert_eq!(
            token_string(&serde_json::json!("<s>")).as_deref(),
            Some("<s>")
        );
        assert_eq!(
            token_string(&serde_json::json!({"content": "</s>", "lstrip": false})).as_deref(),
            Some("</s>")
        );
        assert_eq!(token_string(&serde_json::json!(3)), None);
    }

    #[test]
    fn nested_fields_and_type_errors() {
        let v = serde_json::json!({"vision_config": {"patch_size": 14, "name": "x"}, "flag": 1});
        let f = Fields {
            file: "config.json".into(),
            value: &v,
        };
        assert_eq!(f.uint("vision_config.patch_size").unwrap(), Some(14));
        assert_eq!(f.uint("vision_config.image_size").unwrap(), None);
        let err = f.boolean("flag").unwrap_err().to_string();
        assert_eq!(
            err,
            "config.json: field `flag`: expected true or false, found 1"
        );
    }
}
