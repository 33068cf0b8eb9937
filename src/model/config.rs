//! The LLaVA-1.5 configuration: `config.json` with the implicit transformers defaults
//! written out.
//!
//! A llava-hf `config.json` lists only the values that differ from the transformers defaults
//! (`LlavaConfig`, `LlamaConfig`, `CLIPVisionConfig` of transformers 4.45.1); here they are
//! the `Default`s that serde fills gaps with. [`Config::from_json`] then derives the values
//! that depend on others and rejects what this implementation does not support (another
//! `model_type`, an unknown activation, `rope_scaling`, ...) with an [`Error::Config`] that
//! names the field.

use super::json;
use crate::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// An activation function named in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
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

    /// `act(gate) · up`, the gated MLP of Llama (fused for SiLU on the CPU in float32).
    pub(crate) fn gated(
        self,
        gate: &candle_core::Tensor,
        up: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        use super::fused;
        if self == Activation::Silu && fused::applies(&[gate, up]) {
            return fused::silu_mul(gate, up);
        }
        self.forward(gate)? * up
    }

    /// Applies the activation (differentiable; QuickGELU fused on the CPU in float32).
    pub fn forward(self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        use super::fused;
        if self == Activation::QuickGelu && fused::applies(&[x]) {
            return fused::quick_gelu(x);
        }
        match self {
            Activation::Silu => x.silu(),
            Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

impl TryFrom<String> for Activation {
    type Error = String;
    fn try_from(name: String) -> std::result::Result<Self, String> {
        Activation::parse(&name).ok_or_else(|| format!("activation `{name}` is not supported"))
    }
}

/// Which image features LLaVA keeps from the chosen vision layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureSelect {
    /// `"default"`: drop the CLS token (LLaVA-1.5).
    #[default]
    Default,
    /// `"full"`: keep every position, CLS included.
    Full,
}

/// The Llama text model (`text_config`); absent keys take `LlamaConfig`'s defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
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
    /// Key/value heads (grouped-query attention when fewer than the query heads; as many as
    /// the query heads when not given).
    pub num_key_value_heads: usize,
    /// Width of one head (`hidden_size / num_attention_heads` when not given).
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
    /// The LM head shares the embedding matrix (the top-level key counts when this one is
    /// not given).
    pub tie_word_embeddings: bool,
}

impl Default for TextConfig {
    /// `LlamaConfig()` (Llama-2 7B); 0 heads/head size stand for "derived".
    fn default() -> Self {
        TextConfig {
            vocab_size: 32000,
            hidden_size: 4096,
            intermediate_size: 11008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 0,
            head_dim: 0,
            hidden_act: Activation::Silu,
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            attention_bias: false,
            mlp_bias: false,
            tie_word_embeddings: false,
        }
    }
}

/// The CLIP vision tower (`vision_config`); absent keys take `CLIPVisionConfig`'s defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
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

impl Default for VisionConfig {
    /// `CLIPVisionConfig()` (ViT-B/32).
    fn default() -> Self {
        VisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl VisionConfig {
    /// The tower `LlavaConfig` builds without a `vision_config`: CLIP ViT-L/14-336.
    fn llava_15() -> Self {
        VisionConfig {
            hidden_size: 1024,
            intermediate_size: 4096,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            image_size: 336,
            patch_size: 14,
            ..VisionConfig::default()
        }
    }

    /// Patches per image: `(image_size / patch_size)²`.
    pub fn num_patches(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side
    }
}

/// A LLaVA-1.5 configuration with every default resolved.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The language model.
    #[serde(rename = "text_config")]
    pub text: TextConfig,
    /// The vision tower.
    #[serde(rename = "vision_config", default = "VisionConfig::llava_15")]
    pub vision: VisionConfig,
    /// Id of `<image>` in the vocabulary.
    pub image_token_index: u32,
    /// Number of `<image>` tokens per image (equal to the features per image).
    pub image_seq_length: usize,
    /// Id of `<pad>` (`image_token_index + 1` when not given).
    #[serde(skip)]
    pub pad_token_id: u32,
    /// Activation between the projector's two linears.
    pub projector_hidden_act: Activation,
    /// Whether the projector's linears have biases.
    #[serde(rename = "multimodal_projector_bias")]
    pub projector_bias: bool,
    /// Which vision hidden state feeds the projector, as an index into the `num_layers + 1`
    /// hidden states (0 = embeddings after `pre_layrnorm`); `-2` in the file becomes
    /// `num_layers - 1` here.
    #[serde(skip)]
    pub vision_feature_layer: usize,
    /// Whether the CLS feature is dropped.
    #[serde(rename = "vision_feature_select_strategy")]
    pub vision_feature_select: FeatureSelect,
    /// The file as read, written back (with `torch_dtype` updated) when saving.
    #[serde(skip)]
    pub source: Value,
}

impl Default for Config {
    /// `LlavaConfig()`, before the derived values are filled in.
    fn default() -> Self {
        Config {
            text: TextConfig::default(),
            vision: VisionConfig::llava_15(),
            image_token_index: 32000,
            image_seq_length: 576,
            pad_token_id: 0,
            projector_hidden_act: Activation::Gelu,
            projector_bias: true,
            vision_feature_layer: 0,
            vision_feature_select: FeatureSelect::Default,
            source: Value::Null,
        }
    }
}

impl Config {
    /// Reads and resolves `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = json::model_file(dir, "config.json")?;
        let value: Value = crate::io::read_json(&path)?;
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
    pub fn from_json(source: Value, file: &str) -> Result<Config> {
        let v = json::without_nulls(&source);
        // the value at a dotted field name (`text_config.hidden_act`)
        let given = |field: &str| v.pointer(&format!("/{}", field.replace('.', "/")));
        let bad = |field: &str, reason: String| json::config_err(file, field, reason);
        // `d` divides `n` (named `of`), else an error on `field`
        let divides = |field: &str, d: usize, of: &str, n: usize| match n.is_multiple_of(d) {
            true => Ok(()),
            false => Err(bad(field, format!("{d} does not divide {of} {n}"))),
        };
        let model_type = |field: &str, want: &str, required: bool| -> Result<()> {
            match given(field).map(|t| t.as_str().unwrap_or("?")) {
                None if required => Err(bad(field, format!("missing, expected `{want}`"))),
                Some(t) if t != want => Err(bad(
                    field,
                    format!("`{t}` is not supported, expected `{want}`"),
                )),
                _ => Ok(()),
            }
        };
        model_type("model_type", "llava", true)?;
        model_type("text_config.model_type", "llama", false)?;
        model_type("vision_config.model_type", "clip_vision_model", false)?;
        if given("text_config.rope_scaling").is_some() {
            return Err(bad(
                "text_config.rope_scaling",
                "rope scaling is not supported".into(),
            ));
        }
        for field in [
            "text_config.vocab_size",
            "text_config.hidden_size",
            "text_config.intermediate_size",
            "text_config.num_attention_heads",
            "text_config.num_key_value_heads",
            "text_config.head_dim",
            "vision_config.hidden_size",
            "vision_config.intermediate_size",
            "vision_config.num_hidden_layers",
            "vision_config.num_attention_heads",
            "vision_config.num_channels",
            "vision_config.image_size",
            "vision_config.patch_size",
        ] {
            if given(field).and_then(Value::as_u64) == Some(0) {
                return Err(bad(field, "must be positive".into()));
            }
        }

        let mut c: Config = json::fields(&v, file)?;
        let t = &mut c.text;
        if t.hidden_act == Activation::QuickGelu {
            return Err(bad(
                "text_config.hidden_act",
                "activation `quick_gelu` is not supported".into(),
            ));
        }
        if given("text_config.tie_word_embeddings").is_none() {
            t.tie_word_embeddings = v["tie_word_embeddings"].as_bool().unwrap_or(false);
        }
        let heads = t.num_attention_heads;
        if t.num_key_value_heads == 0 {
            t.num_key_value_heads = heads;
        }
        divides(
            "text_config.num_key_value_heads",
            t.num_key_value_heads,
            "num_attention_heads",
            heads,
        )?;
        if t.head_dim == 0 {
            divides(
                "text_config.num_attention_heads",
                heads,
                "hidden_size",
                t.hidden_size,
            )?;
            t.head_dim = t.hidden_size / heads;
        }
        if !t.head_dim.is_multiple_of(2) {
            return Err(bad(
                "text_config.head_dim",
                format!(
                    "{} is odd; rotary embeddings need an even head size",
                    t.head_dim
                ),
            ));
        }
        let vc = &c.vision;
        divides(
            "vision_config.num_attention_heads",
            vc.num_attention_heads,
            "hidden_size",
            vc.hidden_size,
        )?;
        divides(
            "vision_config.patch_size",
            vc.patch_size,
            "image_size",
            vc.image_size,
        )?;
        let layers = vc.num_hidden_layers as i64;
        c.vision_feature_layer = match given("vision_feature_layer") {
            None => layers - 1,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if i < 0 && i >= -(layers + 1) => layers + 1 + i,
                Some(i) if i >= 0 && i <= layers => i,
                _ => {
                    return Err(bad(
                        "vision_feature_layer",
                        format!("{n} is out of range for {layers} vision layers"),
                    ))
                }
            },
            Some(other) => {
                return Err(bad(
                    "vision_feature_layer",
                    format!("{other} is not supported, expected one integer layer index"),
                ))
            }
        } as usize;
        let features =
            vc.num_patches() + usize::from(c.vision_feature_select == FeatureSelect::Full);
        if c.image_seq_length != features {
            return Err(bad("image_seq_length", format!(
                "{} differs from the {features} features the vision tower gives per image\nhint: set it to {features} (transformers 4.45 would re-expand already expanded <image> tokens otherwise)",
                c.image_seq_length
            )));
        }
        if c.image_token_index as usize >= c.text.vocab_size {
            return Err(bad(
                "image_token_index",
                format!(
                    "{} is outside the vocabulary of {}",
                    c.image_token_index, c.text.vocab_size
                ),
            ));
        }
        c.pad_token_id = match given("pad_token_id") {
            Some(p) => serde_json::from_value(p.clone()).map_err(|e| Error::Json {
                file: file.to_string(),
                reason: format!("pad_token_id: {e}"),
                source: Some(Box::new(e)),
            })?,
            None => c.image_token_index + 1,
        };
        c.source = source;
        Ok(c)
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
        for (field, value) in [
            ("model_type", json!("llava_next")),
            ("text_config.hidden_act", json!("mish")),
            (
                "text_config.rope_scaling",
                json!({"type": "linear", "factor": 2.0}),
            ),
            ("vision_feature_layer", json!([-2, -5])),
            ("image_seq_length", json!(576)),
            ("vision_config.model_type", json!("siglip_vision_model")),
            ("vision_feature_select_strategy", json!("cls")),
        ] {
            // the value set at the field's place in the fixture
            let mut v = fixture();
            *field.split('.').fold(&mut v, |slot, key| &mut slot[key]) = value;
            assert_eq!(err_field(v), field);
        }
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
