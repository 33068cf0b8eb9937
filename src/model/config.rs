//! The LLaVA-1.5 configuration: `config.json` as stored, then resolved with the implicit
//! transformers defaults written out.
//!
//! A llava-hf `config.json` lists only the values that differ from the transformers defaults
//! (`LlavaConfig`, `LlamaConfig`, `CLIPVisionConfig` of transformers 4.45.1). [`RawConfig`]
//! mirrors the file with `Option`s; [`Config::from_raw`] fills every gap with the default
//! transformers would use and rejects what this implementation does not support (another
//! `model_type`, an unknown activation, `rope_scaling`, ...) with an [`Error::Config`] that
//! names the field.

use crate::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// An activation function named in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x·σ(x)` (Llama's `silu`).
    Silu,
    /// `x·σ(1.702x)` (CLIP's `quick_gelu`).
    QuickGelu,
    /// The exact GELU `x·Φ(x)` with erf (`gelu`).
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    /// Parses a transformers activation name (`ACT2FN` key).
    ///
    /// ```
    /// use mllmu::model::config::Activation;
    /// assert_eq!(Activation::parse("quick_gelu"), Some(Activation::QuickGelu));
    /// assert_eq!(Activation::parse("swish"), Some(Activation::Silu));
    /// assert_eq!(Activation::parse("mish"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "silu" | "swish" => Activation::Silu,
            "quick_gelu" => Activation::QuickGelu,
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            _ => return None,
        })
    }

    /// Applies the activation with differentiable candle ops.
    pub fn forward(self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        match self {
            Activation::Silu => x.silu(),
            Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

/// Which image features LLaVA keeps from the chosen vision layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSelect {
    /// `"default"`: drop the CLS token (LLaVA-1.5).
    Default,
    /// `"full"`: keep every position, CLS included.
    Full,
}

/// `text_config` as stored: everything optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct RawTextConfig {
    pub model_type: Option<String>,
    pub vocab_size: Option<usize>,
    pub hidden_size: Option<usize>,
    pub intermediate_size: Option<usize>,
    pub num_hidden_layers: Option<usize>,
    pub num_attention_heads: Option<usize>,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    pub hidden_act: Option<String>,
    pub max_position_embeddings: Option<usize>,
    pub rms_norm_eps: Option<f64>,
    pub rope_theta: Option<f64>,
    pub rope_scaling: Option<serde_json::Value>,
    pub attention_bias: Option<bool>,
    pub mlp_bias: Option<bool>,
    pub tie_word_embeddings: Option<bool>,
}

/// `vision_config` as stored: everything optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct RawVisionConfig {
    pub model_type: Option<String>,
    pub hidden_size: Option<usize>,
    pub intermediate_size: Option<usize>,
    pub num_hidden_layers: Option<usize>,
    pub num_attention_heads: Option<usize>,
    pub num_channels: Option<usize>,
    pub image_size: Option<usize>,
    pub patch_size: Option<usize>,
    pub hidden_act: Option<String>,
    pub layer_norm_eps: Option<f64>,
}

/// `config.json` of a llava-hf checkpoint, as stored.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct RawConfig {
    pub model_type: Option<String>,
    pub text_config: Option<RawTextConfig>,
    pub vision_config: Option<RawVisionConfig>,
    pub image_token_index: Option<u32>,
    pub image_seq_length: Option<usize>,
    pub pad_token_id: Option<u32>,
    pub projector_hidden_act: Option<String>,
    pub vision_feature_layer: Option<serde_json::Value>,
    pub vision_feature_select_strategy: Option<String>,
    pub tie_word_embeddings: Option<bool>,
    pub multimodal_projector_bias: Option<bool>,
    pub ignore_index: Option<i64>,
}

/// The Llama text model, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    /// Rows of the embedding matrix and of the LM head.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// MLP activation (silu for Llama).
    pub hidden_act: Activation,
    /// Longest sequence the model was trained for (informative).
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// Biases on q/k/v/o.
    pub attention_bias: bool,
    /// Biases on gate/up/down.
    pub mlp_bias: bool,
    /// The LM head shares the embedding matrix.
    pub tie_word_embeddings: bool,
}

/// The CLIP vision tower, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Input channels (3).
    pub num_channels: usize,
    /// Square input side in pixels.
    pub image_size: usize,
    /// Square patch side in pixels.
    pub patch_size: usize,
    /// MLP activation (quick_gelu for CLIP).
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl VisionConfig {
    /// Patches per image: `(image_size / patch_size)²`.
    pub fn num_patches(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side
    }
}

/// A LLaVA-1.5 configuration with every default resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The language model.
    pub text: TextConfig,
    /// The vision tower.
    pub vision: VisionConfig,
    /// Id of `<image>` in the vocabulary.
    pub image_token_index: u32,
    /// Number of `<image>` tokens per image (equal to the features per image).
    pub image_seq_length: usize,
    /// Id of `<pad>`.
    pub pad_token_id: u32,
    /// Activation between the projector's two linears.
    pub projector_hidden_act: Activation,
    /// Whether the projector's linears have biases.
    pub projector_bias: bool,
    /// Which vision hidden state feeds the projector, as an index into the `num_layers + 1`
    /// hidden states (0 = embeddings after `pre_layrnorm`); `-2` in the file becomes
    /// `num_layers - 1` here.
    pub vision_feature_layer: usize,
    /// Whether the CLS feature is dropped.
    pub vision_feature_select: FeatureSelect,
    /// The file as read, written back (with `torch_dtype` updated) when saving.
    pub source: serde_json::Value,
}

fn bad(file: &str, field: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        file: file.to_string(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn act(file: &str, field: &str, name: &str, allowed: &[Activation]) -> Result<Activation> {
    match Activation::parse(name) {
        Some(a) if allowed.contains(&a) => Ok(a),
        _ => Err(bad(
            file,
            field,
            format!("activation `{name}` is not supported"),
        )),
    }
}

fn positive(file: &str, field: &str, v: usize) -> Result<usize> {
    if v == 0 {
        return Err(bad(file, field, "must be positive"));
    }
    Ok(v)
}

impl Config {
    /// Reads and resolves `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join("config.json");
        if !path.is_file() {
            return Err(Error::MissingFile {
                path,
                hint: "a llava-hf model folder holds config.json beside the safetensors".into(),
            });
        }
        let value: serde_json::Value = crate::io::read_json(&path)?;
        Config::from_json(value, &path.display().to_string())
    }

    /// Resolves a parsed `config.json`; `file` names it in errors.
    ///
    /// ```
    /// let json = serde_json::json!({"model_type": "llava", "text_config": {"hidden_size": 64,
    ///     "num_attention_heads": 4, "intermediate_size": 128, "num_hidden_layers": 2,
    ///     "vocab_size": 100}, "vision_config": {"hidden_size": 32, "image_size": 28,
    ///     "patch_size": 7, "num_hidden_layers": 2, "num_attention_heads": 2,
    ///     "intermediate_size": 64}, "image_seq_length": 16, "image_token_index": 98});
    /// let cfg = mllmu::model::Config::from_json(json, "config.json").unwrap();
    /// assert_eq!(cfg.text.head_dim, 16);
    /// assert_eq!(cfg.pad_token_id, 99); // image_token_index + 1 when not given
    /// assert_eq!(cfg.vision_feature_layer, 1); // -2 of 3 hidden states
    /// ```
    pub fn from_json(value: serde_json::Value, file: &str) -> Result<Config> {
        let raw: RawConfig = serde_json::from_value(value.clone()).map_err(|e| Error::Json {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        Config::from_raw(&raw, value, file)
    }

    /// Resolves a [`RawConfig`], writing out the transformers 4.45.1 defaults.
    pub fn from_raw(raw: &RawConfig, source: serde_json::Value, file: &str) -> Result<Config> {
        match raw.model_type.as_deref() {
            Some("llava") => {}
            Some(other) => {
                return Err(bad(
                    file,
                    "model_type",
                    format!("`{other}` is not supported, expected `llava`"),
                ))
            }
            None => return Err(bad(file, "model_type", "missing, expected `llava`")),
        }
        // LlavaConfig with text_config = None builds a default LlamaConfig; with
        // vision_config = None, the CLIP ViT-L/14-336 of LLaVA-1.5.
        let t = raw.text_config.clone().unwrap_or_default();
        let text_type = t.model_type.as_deref().unwrap_or("llama");
        if text_type != "llama" {
            return Err(bad(
                file,
                "text_config.model_type",
                format!("`{text_type}` is not supported, expected `llama`"),
            ));
        }
        if t.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(bad(
                file,
                "text_config.rope_scaling",
                "rope scaling is not supported",
            ));
        }
        let hidden_size = positive(
            file,
            "text_config.hidden_size",
            t.hidden_size.unwrap_or(4096),
        )?;
        let heads = positive(
            file,
            "text_config.num_attention_heads",
            t.num_attention_heads.unwrap_or(32),
        )?;
        let kv_heads = positive(
            file,
            "text_config.num_key_value_heads",
            t.num_key_value_heads.unwrap_or(heads),
        )?;
        if heads % kv_heads != 0 {
            return Err(bad(
                file,
                "text_config.num_key_value_heads",
                format!("{kv_heads} does not divide num_attention_heads {heads}"),
            ));
        }
        let head_dim = match t.head_dim {
            Some(d) => positive(file, "text_config.head_dim", d)?,
            None if hidden_size % heads == 0 => hidden_size / heads,
            None => {
                return Err(bad(
                    file,
                    "text_config.num_attention_heads",
                    format!("{heads} does not divide hidden_size {hidden_size}"),
                ))
            }
        };
        if head_dim % 2 != 0 {
            return Err(bad(
                file,
                "text_config.head_dim",
                format!("{head_dim} is odd; rotary embeddings need an even head size"),
            ));
        }
        let text = TextConfig {
            vocab_size: positive(
                file,
                "text_config.vocab_size",
                t.vocab_size.unwrap_or(32000),
            )?,
            hidden_size,
            intermediate_size: positive(
                file,
                "text_config.intermediate_size",
                t.intermediate_size.unwrap_or(11008),
            )?,
            num_hidden_layers: t.num_hidden_layers.unwrap_or(32),
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            hidden_act: act(
                file,
                "text_config.hidden_act",
                t.hidden_act.as_deref().unwrap_or("silu"),
                &[
                    Activation::Silu,
                    Activation::Gelu,
                    Activation::GeluTanh,
                    Activation::Relu,
                ],
            )?,
            max_position_embeddings: t.max_position_embeddings.unwrap_or(2048),
            rms_norm_eps: t.rms_norm_eps.unwrap_or(1e-6),
            rope_theta: t.rope_theta.unwrap_or(10000.0),
            attention_bias: t.attention_bias.unwrap_or(false),
            mlp_bias: t.mlp_bias.unwrap_or(false),
            tie_word_embeddings: t
                .tie_word_embeddings
                .or(raw.tie_word_embeddings)
                .unwrap_or(false),
        };

        let vision = match &raw.vision_config {
            Some(v) => resolve_vision(v, file, (768, 3072, 12, 12, 224, 32))?,
            None => resolve_vision(
                &RawVisionConfig::default(),
                file,
                (1024, 4096, 24, 16, 336, 14),
            )?,
        };

        let layers = vision.num_hidden_layers as i64;
        let vision_feature_layer = match raw.vision_feature_layer.as_ref() {
            None => layers - 1,
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(i) if i < 0 && i >= -(layers + 1) => layers + 1 + i,
                Some(i) if i >= 0 && i <= layers => i,
                _ => {
                    return Err(bad(
                        file,
                        "vision_feature_layer",
                        format!("{n} is out of range for {layers} vision layers"),
                    ))
                }
            },
            Some(other) => {
                return Err(bad(
                    file,
                    "vision_feature_layer",
                    format!("{other} is not supported, expected one integer layer index"),
                ))
            }
        } as usize;
        let vision_feature_select = match raw
            .vision_feature_select_strategy
            .as_deref()
            .unwrap_or("default")
        {
            "default" => FeatureSelect::Default,
            "full" => FeatureSelect::Full,
            other => {
                return Err(bad(
                    file,
                    "vision_feature_select_strategy",
                    format!("`{other}` is not supported, expected `default` or `full`"),
                ))
            }
        };
        let features =
            vision.num_patches() + usize::from(vision_feature_select == FeatureSelect::Full);
        let image_seq_length = raw.image_seq_length.unwrap_or(576);
        if image_seq_length != features {
            return Err(bad(file, "image_seq_length", format!(
                "{image_seq_length} differs from the {features} features the vision tower gives per image\nhint: set it to {features} (transformers 4.45 would re-expand already expanded <image> tokens otherwise)"
            )));
        }
        let image_token_index = raw.image_token_index.unwrap_or(32000);
        if image_token_index as usize >= text.vocab_size {
            return Err(bad(
                file,
                "image_token_index",
                format!(
                    "{image_token_index} is outside the vocabulary of {}",
                    text.vocab_size
                ),
            ));
        }
        Ok(Config {
            text,
            vision,
            image_token_index,
            image_seq_length,
            pad_token_id: raw.pad_token_id.unwrap_or(image_token_index + 1),
            projector_hidden_act: act(
                file,
                "projector_hidden_act",
                raw.projector_hidden_act.as_deref().unwrap_or("gelu"),
                &[
                    Activation::Gelu,
                    Activation::GeluTanh,
                    Activation::QuickGelu,
                    Activation::Silu,
                    Activation::Relu,
                ],
            )?,
            projector_bias: raw.multimodal_projector_bias.unwrap_or(true),
            vision_feature_layer,
            vision_feature_select,
            source,
        })
    }

    /// The `config.json` to write beside weights saved as `dtype` (`torch_dtype` updated).
    pub fn to_json(&self, dtype: candle_core::DType) -> serde_json::Value {
        let mut v = self.source.clone();
        let name = match dtype {
            candle_core::DType::F16 => "float16",
            candle_core::DType::BF16 => "bfloat16",
            candle_core::DType::F64 => "float64",
            _ => "float32",
        };
        if let Some(obj) = v.as_object_mut() {
            obj.insert("torch_dtype".into(), name.into());
            if let Some(tc) = obj.get_mut("text_config").and_then(|t| t.as_object_mut()) {
                if tc.contains_key("torch_dtype") {
                    tc.insert("torch_dtype".into(), name.into());
                }
            }
        }
        v
    }
}

fn resolve_vision(
    v: &RawVisionConfig,
    file: &str,
    d: (usize, usize, usize, usize, usize, usize),
) -> Result<VisionConfig> {
    let ty = v.model_type.as_deref().unwrap_or("clip_vision_model");
    if ty != "clip_vision_model" {
        return Err(bad(
            file,
            "vision_config.model_type",
            format!("`{ty}` is not supported, expected `clip_vision_model`"),
        ));
    }
    let hidden_size = positive(
        file,
        "vision_config.hidden_size",
        v.hidden_size.unwrap_or(d.0),
    )?;
    let heads = positive(
        file,
        "vision_config.num_attention_heads",
        v.num_attention_heads.unwrap_or(d.3),
    )?;
    if hidden_size % heads != 0 {
        return Err(bad(
            file,
            "vision_config.num_attention_heads",
            format!("{heads} does not divide hidden_size {hidden_size}"),
        ));
    }
    let image_size = positive(
        file,
        "vision_config.image_size",
        v.image_size.unwrap_or(d.4),
    )?;
    let patch_size = positive(
        file,
        "vision_config.patch_size",
        v.patch_size.unwrap_or(d.5),
    )?;
    if image_size % patch_size != 0 {
        return Err(bad(
            file,
            "vision_config.patch_size",
            format!("{patch_size} does not divide image_size {image_size}"),
        ));
    }
    Ok(VisionConfig {
        hidden_size,
        intermediate_size: positive(
            file,
            "vision_config.intermediate_size",
            v.intermediate_size.unwrap_or(d.1),
        )?,
        num_hidden_layers: positive(
            file,
            "vision_config.num_hidden_layers",
            v.num_hidden_layers.unwrap_or(d.2),
        )?,
        num_attention_heads: heads,
        num_channels: positive(
            file,
            "vision_config.num_channels",
            v.num_channels.unwrap_or(3),
        )?,
        image_size,
        patch_size,
        hidden_act: act(
            file,
            "vision_config.hidden_act",
            v.hidden_act.as_deref().unwrap_or("quick_gelu"),
            &[
                Activation::QuickGelu,
                Activation::Gelu,
                Activation::GeluTanh,
                Activation::Relu,
                Activation::Silu,
            ],
        )?,
        layer_norm_eps: v.layer_norm_eps.unwrap_or(1e-5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> serde_json::Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny-llava/config.json"
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn err_field(v: serde_json::Value) -> String {
        match Config::from_json(v, "config.json") {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn fixture_resolves_with_implicit_defaults() {
        let c = Config::from_json(fixture(), "config.json").unwrap();
        assert_eq!(c.text.hidden_size, 96);
        assert_eq!(c.text.head_dim, 16);
        assert_eq!(c.text.num_key_value_heads, 6);
        assert_eq!(c.text.hidden_act, Activation::Silu);
        assert_eq!(c.text.rope_theta, 10000.0);
        assert_eq!(c.text.rms_norm_eps, 1e-5);
        assert_eq!(c.text.max_position_embeddings, 1024);
        assert!(!c.text.attention_bias && !c.text.mlp_bias && !c.text.tie_word_embeddings);
        assert_eq!(c.vision.hidden_act, Activation::QuickGelu);
        assert_eq!(c.vision.layer_norm_eps, 1e-5);
        assert_eq!(c.vision.num_channels, 3);
        assert_eq!(c.vision.num_patches(), 36);
        assert_eq!(c.vision_feature_layer, 2);
        assert_eq!(c.vision_feature_select, FeatureSelect::Default);
        assert_eq!(c.projector_hidden_act, Activation::Gelu);
        assert_eq!(
            (c.image_token_index, c.pad_token_id, c.image_seq_length),
            (1456, 1457, 36)
        );
    }

    #[test]
    fn absent_sections_take_llava_15_defaults() {
        // transformers' bare default (text vocab 32000, image id 32000) is inconsistent: rejected
        assert_eq!(
            err_field(json!({"model_type": "llava"})),
            "image_token_index"
        );
        let c = Config::from_json(
            json!({"model_type": "llava", "text_config": {"vocab_size": 32064}}),
            "c.json",
        )
        .unwrap();
        assert_eq!(c.text.hidden_size, 4096);
        assert_eq!(c.text.rms_norm_eps, 1e-6);
        assert_eq!(c.text.max_position_embeddings, 2048);
        assert_eq!(
            (
                c.vision.image_size,
                c.vision.patch_size,
                c.vision.num_hidden_layers
            ),
            (336, 14, 24)
        );
        assert_eq!(c.image_seq_length, 576);
        assert_eq!(c.vision_feature_layer, 23);
        assert_eq!(c.image_token_index, 32000);
    }

    #[test]
    fn full_strategy_keeps_cls() {
        let mut v = fixture();
        v["vision_feature_select_strategy"] = json!("full");
        v["image_seq_length"] = json!(37);
        let c = Config::from_json(v, "c.json").unwrap();
        assert_eq!(c.vision_feature_select, FeatureSelect::Full);
    }

    #[test]
    fn unsupported_values_name_their_field() {
        let mut v = fixture();
        v["model_type"] = json!("llava_next");
        assert_eq!(err_field(v), "model_type");
        let mut v = fixture();
        v["text_config"]["hidden_act"] = json!("mish");
        assert_eq!(err_field(v), "text_config.hidden_act");
        let mut v = fixture();
        v["text_config"]["rope_scaling"] = json!({"type": "linear", "factor": 2.0});
        assert_eq!(err_field(v), "text_config.rope_scaling");
        let mut v = fixture();
        v["vision_feature_layer"] = json!([-2, -5]);
        assert_eq!(err_field(v), "vision_feature_layer");
        let mut v = fixture();
        v["image_seq_length"] = json!(576);
        assert_eq!(err_field(v), "image_seq_length");
        let mut v = fixture();
        v["vision_config"]["model_type"] = json!("siglip_vision_model");
        assert_eq!(err_field(v), "vision_config.model_type");
        let mut v = fixture();
        v["vision_feature_select_strategy"] = json!("cls");
        assert_eq!(err_field(v), "vision_feature_select_strategy");
    }

    #[test]
    fn null_rope_scaling_is_accepted() {
        let mut v = fixture();
        v["text_config"]["rope_scaling"] = serde_json::Value::Null;
        assert!(Config::from_json(v, "c.json").is_ok());
    }

    #[test]
    fn to_json_updates_dtype_everywhere() {
        let c = Config::from_json(fixture(), "c.json").unwrap();
        let v = c.to_json(candle_core::DType::F32);
        assert_eq!(v["torch_dtype"], "float32");
        assert_eq!(v["text_config"]["torch_dtype"], "float32");
        assert_eq!(v["image_token_index"], 1456);
    }
}
