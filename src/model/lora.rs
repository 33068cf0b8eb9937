//! LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") as
//! PEFT attaches them for the benchmark: `y = W·x + (α/r)·B·A·dropout(x)`.
//!
//! The reference (SPEC.md §4) uses r = 16, α = 16, dropout 0.05, PEFT's "gaussian" init
//! (`A ~ N(0, σ = 1/r)`, `B = 0`) on the language model's q/k/v/o/gate/up/down projections.
//! Because PEFT matches target names by suffix, the reference also adapts the CLIP vision
//! tower's q/k/v projections; [`LoraConfig::include_vision_qkv`] reproduces that.
//!
//! Adapter tensors are float32 [`candle_core::Var`]s in a [`candle_nn::VarMap`] named like
//! PEFT's `adapter_model.safetensors` keys; the base weights stay plain tensors and receive
//! no gradient.

use super::llava::Llava;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
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
    /// use mllmu::model::lora::LoraConfig;
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

    fn check(&self) -> Result<()> {
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
    training: AtomicBool,
    dropout: f64,
    rng: Mutex<ChaCha8Rng>,
}

/// The adapters attached to a model.
#[derive(Debug, Clone)]
pub(crate) struct LoraState {
    pub(crate) config: LoraConfig,
    runtime: Arc<LoraRuntime>,
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
    runtime: Arc<LoraRuntime>,
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
        let data: Vec<f32> = (0..n)
            .map(|_| {
                if rng.gen::<f64>() < p {
                    0.0
                } else {
                    keep as f32
                }
            })
            .collect();
        Tensor::from_vec(data, dims, device)
    } else {
        let u = Tensor::rand(0f32, 1f32, dims, device)?;
        u.ge(p)?.to_dtype(DType::F32)? * keep
    }
}

/// Standard normal draws (Box–Muller) from a seeded generator.
fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.gen();
        let r = (-2.0 * u1.ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * u2;
        out.push((r * th.cos() * std) as f32);
        if out.len() < n {
            out.push((r * th.sin() * std) as f32);
        }
    }
    out
}

/// The PEFT key of an adapter matrix (`"A"` or `"B"`) of linear `name`.
///
/// ```
/// assert_eq!(mllmu::model::lora::peft_key("language_model.model.layers.0.self_attn.q_proj", "A"),
///            "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight");
/// ```
pub fn peft_key(name: &str, which: &str) -> String {
    format!("base_model.model.{name}.lora_{which}.weight")
}

fn insert(varmap: &candle_nn::VarMap, name: String, var: Var) -> Result<()> {
    varmap
        .data()
        .lock()
        .map_err(|_| {
            Error::param(
                "varmap",
                "poisoned",
                "a previous panic left the variable map locked",
            )
        })?
        .insert(name, var);
    Ok(())
}

impl Llava {
    /// Attaches fresh adapters (A gaussian with σ = 1/r from `cfg.seed`, B = 0) to every
    /// linear `cfg` selects and returns their variables. Replaces adapters already attached.
    pub fn add_lora(&mut self, cfg: &LoraConfig) -> Result<candle_nn::VarMap> {
        cfg.check()?;
        let runtime = Arc::new(LoraRuntime {
            training: AtomicBool::new(false),
            dropout: cfg.dropout,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x10ba_d20f)),
        });
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let varmap = candle_nn::VarMap::new();
        let device = self.device().clone();
        let mut count = 0;
        for lin in self.linears_mut() {
            if !cfg.matches(&lin.name) {
                continue;
            }
            let (out_f, in_f) = (lin.out_features(), lin.in_features());
            let a = Var::from_tensor(&Tensor::from_vec(
                normal(&mut rng, cfg.r * in_f, 1.0 / cfg.r as f64),
                (cfg.r, in_f),
                &device,
            )?)?;
            let b = Var::zeros((out_f, cfg.r), DType::F32, &device)?;
            lin.lora = Some(LoraAdapter {
                a: a.as_tensor().clone(),
                b: b.as_tensor().clone(),
                scale: cfg.alpha / cfg.r as f64,
                runtime: runtime.clone(),
            });
            insert(&varmap, peft_key(&lin.name, "A"), a)?;
            insert(&varmap, peft_key(&lin.name, "B"), b)?;
            count += 1;
        }
        if count == 0 {
            return Err(Error::param(
                "lora.targets",
                cfg.targets.join(","),
                "no linear layer matches",
            ));
        }
        self.lora = Some(LoraState {
            config: cfg.clone(),
            runtime,
        });
        Ok(varmap)
    }

    /// The configuration of the attached adapters, if any.
    pub fn lora_config(&self) -> Option<&LoraConfig> {
        self.lora.as_ref().map(|s| &s.config)
    }

    /// Switches LoRA dropout on (training) or off (evaluation, the default).
    pub fn set_training(&self, on: bool) {
        if let Some(s) = &self.lora {
            s.runtime.training.store(on, Ordering::Relaxed);
        }
    }

    /// Restarts the CPU dropout generator at `(seed, stream)`: a training loop that calls it
    /// before every micro-batch draws the same masks after a resume as without one. No-op
    /// without adapters (on a GPU the masks come from the device generator).
    pub fn reseed_lora_dropout(&self, seed: u64, stream: u64) -> Result<()> {
        if let Some(s) = &self.lora {
            let mut rng = s.runtime.rng.lock().map_err(|_| {
                Error::param(
                    "lora dropout",
                    "poisoned",
                    "a previous panic left the dropout generator locked",
                )
            })?;
            let mut fresh = ChaCha8Rng::seed_from_u64(seed ^ 0x10ba_d20f);
            fresh.set_stream(stream);
            *rng = fresh;
        }
        Ok(())
    }

    /// `(weight name, W + scale·B·A)` for every adapted linear, in the weight's dtype.
    pub fn merged_lora_weights(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for lin in self.linears() {
            if let Some(ad) = &lin.lora {
                let w = (lin.weight.to_dtype(DType::F32)? + ad.delta()?)?
                    .to_dtype(lin.weight.dtype())?;
                out.push((format!("{}.weight", lin.name), w.detach()));
            }
        }
        Ok(out)
    }

    /// Folds every adapter into its base weight (`merge_and_unload`) and removes them.
    pub fn merge_lora(&mut self) -> Result<()> {
        for lin in self.linears_mut() {
            if let Some(ad) = lin.lora.take() {
                let w = (lin.weight.to_dtype(DType::F32)? + ad.delta()?)?
                    .to_dtype(lin.weight.dtype())?;
                lin.weight = w.detach();
            }
        }
        self.lora = None;
        Ok(())
    }

    /// Writes the adapters alone as PEFT does: `adapter_model.safetensors` (keys
    /// `base_model.model.<linear>.lora_{A,B}.weight`) and `adapter_config.json`.
    pub fn save_lora(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        let Some(state) = &self.lora else {
            return Err(Error::param(
                "lora",
                "none",
                "the model has no LoRA adapters to save",
            ));
        };
        let mut tensors = Vec::new();
        let mut modules = std::collections::BTreeSet::new();
        for lin in self.linears() {
            if let Some(ad) = &lin.lora {
                tensors.push((peft_key(&lin.name, "A"), ad.a.clone()));
                tensors.push((peft_key(&lin.name, "B"), ad.b.clone()));
                modules.insert(lin.name.rsplit('.').next().unwrap_or("").to_string());
            }
        }
        let files_opts = super::weights::SaveOptions {
            dtype: None,
            max_shard_bytes: usize::MAX,
        };
        let mut files = super::weights::save_tensors(dir, &tensors, &files_opts)?;
        let model_file = dir.join("model.safetensors");
        let adapter_file = dir.join("adapter_model.safetensors");
        std::fs::rename(&model_file, &adapter_file)
            .map_err(|e| Error::io("rename", &model_file, e))?;
        files[0] = adapter_file;
        let c = &state.config;
        let cfg = serde_json::json!({
            "peft_type": "LORA",
            "task_type": null,
            "base_model_name_or_path": self.source_dir().map(|p| p.display().to_string()),
            "r": c.r,
            "lora_alpha": if c.alpha.fract() == 0.0 { serde_json::json!(c.alpha as i64) } else { serde_json::json!(c.alpha) },
            "lora_dropout": c.dropout,
            "target_modules": modules.into_iter().collect::<Vec<_>>(),
            "init_lora_weights": "gaussian",
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "mllmu": {"include_vision_qkv": c.include_vision_qkv, "seed": c.seed, "targets": c.targets},
        });
        let path = dir.join("adapter_config.json");
        crate::io::write_json(&path, &cfg)?;
        files.push(path);
        Ok(files)
    }

    /// Attaches adapters saved by [`Llava::save_lora`] (or PEFT, for the layers mllmu
    /// names) and returns their variables.
    pub fn load_lora(&mut self, dir: impl AsRef<Path>) -> Result<candle_nn::VarMap> {
        let dir = dir.as_ref();
        let cfg_path = dir.join("adapter_config.json");
        let v: serde_json::Value = crate::io::read_json(&cfg_path)?;
        let field = |k: &str| {
            v.get(k).ok_or_else(|| Error::Config {
                file: cfg_path.display().to_string(),
                field: k.into(),
                reason: "missing".into(),
            })
        };
        let r = field("r")?.as_u64().unwrap_or(0) as usize;
        let alpha = field("lora_alpha")?.as_f64().unwrap_or(r as f64);
        let dropout = v
            .get("lora_dropout")
            .and_then(|d| d.as_f64())
            .unwrap_or(0.0);
        let path = dir.join("adapter_model.safetensors");
        let tensors =
            candle_core::safetensors::load(&path, self.device()).map_err(|e| Error::Weights {
                dir: path.display().to_string(),
                details: e.to_string(),
            })?;
        let mut cfg = LoraConfig {
            r,
            alpha,
            dropout,
            ..LoraConfig::default()
        };
        cfg.check()?;
        let runtime = Arc::new(LoraRuntime {
            training: AtomicBool::new(false),
            dropout,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x10ba_d20f)),
        });
        let varmap = candle_nn::VarMap::new();
        let mut used = 0;
        let mut problems = Vec::new();
        let mut names = Vec::new();
        for lin in self.linears_mut() {
            let (ka, kb) = (peft_key(&lin.name, "A"), peft_key(&lin.name, "B"));
            let (Some(a), Some(b)) = (tensors.get(&ka), tensors.get(&kb)) else {
                continue;
            };
            if a.dims() != [r, lin.in_features()] || b.dims() != [lin.out_features(), r] {
                problems.push(format!(
                    "{ka}: shapes {:?} / {:?} do not fit {}",
                    a.dims(),
                    b.dims(),
                    lin.name
                ));
                continue;
            }
            let a = Var::from_tensor(&a.to_dtype(DType::F32)?)?;
            let b = Var::from_tensor(&b.to_dtype(DType::F32)?)?;
            lin.lora = Some(LoraAdapter {
                a: a.as_tensor().clone(),
                b: b.as_tensor().clone(),
                scale: alpha / r as f64,
                runtime: runtime.clone(),
            });
            names.push(lin.name.clone());
            insert(&varmap, ka, a)?;
            insert(&varmap, kb, b)?;
            used += 2;
        }
        if used != tensors.len() {
            let known: std::collections::HashSet<String> = names
                .iter()
                .flat_map(|n| [peft_key(n, "A"), peft_key(n, "B")])
                .collect();
            let mut extra: Vec<_> = tensors
                .keys()
                .filter(|k| !known.contains(*k))
                .cloned()
                .collect();
            extra.sort();
            problems.extend(
                extra
                    .into_iter()
                    .map(|k| format!("unexpected tensor `{k}`")),
            );
        }
        if !problems.is_empty() {
            for lin in self.linears_mut() {
                lin.lora = None;
            }
            return Err(Error::Weights {
                dir: path.display().to_string(),
                details: problems.join("\n"),
            });
        }
        cfg.include_vision_qkv = names.iter().any(|n| n.starts_with("vision_tower."));
        self.lora = Some(LoraState {
            config: cfg,
            runtime,
        });
        Ok(varmap)
    }
}
