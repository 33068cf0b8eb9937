//! LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models")
//! as PEFT attaches them for the benchmark: `y = W·x + (α/r)·B·A·dropout(x)`. This file holds
//! the configuration and one adapter; `lora.rs` attaches them to a model.
//!
//! The reference (SPEC.md §4) uses r = 16, α = 16, dropout 0.05, PEFT's "gaussian" init
//! (`A ~ N(0, σ = 1/r)`, `B = 0`) on the language model's q/k/v/o/gate/up/down projections.
//! Because PEFT matches target names by suffix, the reference also adapts the CLIP vision
//! tower's q/k/v projections; [`LoraConfig::include_vision_qkv`] reproduces that.

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where and how adapters are attached.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    /// Rank r.
    pub r: usize,
    /// Scaling numerator α (the update is scaled by α / r).
    pub alpha: f64,
    /// Dropout on the adapter input while training.
    pub dropout: f64,
    /// Last name components of the adapted linears of the language model.
    pub targets: Vec<String>,
    /// Also adapt the vision tower's linears whose names match `targets` (its q/k/v
    /// projections): the reference's accidental behaviour (SPEC.md §8 Q18).
    pub include_vision_qkv: bool,
    /// Seed of the A initialisation and of the dropout masks on the CPU.
    pub seed: u64,
}

impl Default for LoraConfig {
    /// The benchmark's configuration (r 16, α 16, dropout 0.05, language-model projections).
    fn default() -> Self {
        LoraConfig {
            r: 16,
            alpha: 16.0,
            dropout: 0.05,
            targets: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
            .map(String::from)
            .to_vec(),
            include_vision_qkv: false,
            seed: 0,
        }
    }
}

impl LoraConfig {
    /// The reference's exact behaviour: [`LoraConfig::default`] plus the vision q/k/v.
    pub fn reference() -> Self {
        LoraConfig {
            include_vision_qkv: true,
            ..Default::default()
        }
    }

    /// Whether the linear called `name` gets an adapter.
    ///
    /// ```
    /// use mllmu::model::LoraConfig;
    /// let c = LoraConfig::default();
    /// assert!(c.matches("language_model.model.layers.3.mlp.up_proj"));
    /// assert!(!c.matches("language_model.lm_head"));
    /// assert!(!c.matches("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj"));
    /// assert!(LoraConfig::reference().matches("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj"));
    /// assert!(!LoraConfig::reference().matches("vision_tower.vision_model.encoder.layers.0.self_attn.out_proj"));
    /// ```
    pub fn matches(&self, name: &str) -> bool {
        let last = name.rsplit('.').next().unwrap_or(name);
        if !self.targets.iter().any(|t| t == last) {
            return false;
        }
        name.starts_with("language_model.model.layers.")
            || (self.include_vision_qkv && name.starts_with("vision_tower."))
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.r == 0 {
            return Err(Error::param("lora.r", self.r, "the rank must be positive"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::param(
                "lora.dropout",
                self.dropout,
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

/// State shared by all adapters of one model: the training switch and the dropout RNG.
#[derive(Debug)]
pub(crate) struct LoraRuntime {
    pub(crate) training: AtomicBool,
    dropout: f64,
    pub(crate) rng: Mutex<ChaCha8Rng>,
}

impl LoraRuntime {
    /// Dropout off (evaluation), the CPU generator seeded from `seed`.
    pub(crate) fn new(dropout: f64, seed: u64) -> Arc<LoraRuntime> {
        Arc::new(LoraRuntime {
            training: AtomicBool::new(false),
            dropout,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x10ba_d20f)),
        })
    }
}

/// The adapters attached to a model.
#[derive(Debug, Clone)]
pub(crate) struct LoraState {
    pub(crate) config: LoraConfig,
    pub(crate) runtime: Arc<LoraRuntime>,
}

/// One adapter: `scale · B·A·dropout(x)`.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `[r, in]`, float32.
    pub a: Tensor,
    /// `[out, r]`, float32.
    pub b: Tensor,
    /// α / r.
    pub scale: f64,
    pub(crate) runtime: Arc<LoraRuntime>,
}

impl LoraAdapter {
    /// The update for `x` (`[rows, in]`), in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut xa = x.to_dtype(self.a.dtype())?;
        let p = self.runtime.dropout;
        if p > 0.0 && self.runtime.training.load(Ordering::Relaxed) {
            let mask = dropout_mask(xa.dims(), p, &self.runtime, x.device())?;
            xa = (xa * mask)?;
        }
        (xa.matmul(&self.a.t()?)?.matmul(&self.b.t()?)? * self.scale)?.to_dtype(x.dtype())
    }

    /// `scale · B·A` (`[out, in]`, float32).
    pub fn delta(&self) -> candle_core::Result<Tensor> {
        self.b.matmul(&self.a)? * self.scale
    }
}

/// Inverted-dropout mask: 0 with probability `p`, else `1/(1-p)`. Seeded on the CPU; on a
/// GPU drawn by the device generator (seed it with `Device::set_seed`).
fn dropout_mask(
    dims: &[usize],
    p: f64,
    rt: &LoraRuntime,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let keep = 1.0 / (1.0 - p);
    if device.is_cpu() {
        let n: usize = dims.iter().product();
        let mut rng = rt
            .rng
            .lock()
            .map_err(|_| candle_core::Error::Msg("lora dropout rng poisoned".into()))?;
        let kept = keep as f32;
        let data: Vec<f32> = (0..n)
            .map(|_| if rng.gen::<f64>() < p { 0.0 } else { kept })
            .collect();
        Tensor::from_vec(data, dims, device)
    } else {
        let u = Tensor::rand(0f32, 1f32, dims, device)?;
        u.ge(p)?.to_dtype(DType::F32)? * keep
    }
}
