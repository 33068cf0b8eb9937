//! Attaching LoRA adapters ([`super::adapter`]) to a [`Llava`], merging them, and saving
//! and loading them as PEFT does.
//!
//! Adapter tensors are float32 [`candle_core::Var`]s in a [`candle_nn::VarMap`] named like
//! PEFT's `adapter_model.safetensors` keys; the base weights stay plain tensors and receive
//! no gradient.

use super::adapter::{LoraAdapter, LoraConfig, LoraRuntime, LoraState};
use super::json;
use super::linear::Linear;
use super::llava::Llava;
use super::weights::{insert_var, weights_err};
use crate::{Error, Result};
use candle_core::{DType, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

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

/// Attaches the adapter `scale · B·A` to `lin`, registering `a` and `b` in `varmap` under
/// their PEFT keys.
fn attach(
    lin: &mut Linear,
    (a, b): (Var, Var),
    scale: f64,
    runtime: &Arc<LoraRuntime>,
    varmap: &candle_nn::VarMap,
) -> Result<()> {
    lin.lora = Some(LoraAdapter {
        a: a.as_tensor().clone(),
        b: b.as_tensor().clone(),
        scale,
        runtime: runtime.clone(),
    });
    insert_var(varmap, peft_key(&lin.name, "A"), a)?;
    insert_var(varmap, peft_key(&lin.name, "B"), b)
}

/// The fields of PEFT's `adapter_config.json` that mllmu reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PeftConfig {
    #[serde(deserialize_with = "json::uint")]
    r: Option<u64>,
    lora_alpha: Option<f64>,
    lora_dropout: f64,
}

impl Llava {
    /// Attaches fresh adapters (A gaussian with σ = 1/r from `cfg.seed`, B = 0) to every
    /// linear `cfg` selects and returns their variables. Replaces adapters already attached.
    pub fn add_lora(&mut self, cfg: &LoraConfig) -> Result<candle_nn::VarMap> {
        cfg.check()?;
        let runtime = LoraRuntime::new(cfg.dropout, cfg.seed);
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
            attach(lin, (a, b), cfg.alpha / cfg.r as f64, &runtime, &varmap)?;
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

    /// [`Llava::named_tensors`] with every adapter folded into its weight: the weights a
    /// saved checkpoint holds.
    pub fn merged_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut merged: HashMap<_, _> = self.merged_lora_weights()?.into_iter().collect();
        let mut named = self.named_tensors();
        for (n, t) in named.iter_mut() {
            if let Some(m) = merged.remove(n) {
                *t = m;
            }
        }
        Ok(named)
    }

    /// Folds every adapter into its base weight (`merge_and_unload`) and removes them.
    pub fn merge_lora(&mut self) -> Result<()> {
        for (key, w) in self.merged_lora_weights()? {
            self.replace_linear_weight(&key, w);
        }
        self.linears_mut().into_iter().for_each(|l| l.lora = None);
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
        let mut modules = BTreeSet::new();
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
        let peft: PeftConfig = json::read_fields(&cfg_path)?;
        let missing = |k: &str| json::config_err(&cfg_path.display().to_string(), k, "missing");
        let r = peft.r.ok_or_else(|| missing("r"))? as usize;
        let alpha = peft.lora_alpha.ok_or_else(|| missing("lora_alpha"))?;
        let path = dir.join("adapter_model.safetensors");
        let tensors = candle_core::safetensors::load(&path, self.device())
            .map_err(|e| weights_err(path.display(), e.to_string()))?;
        let mut cfg = LoraConfig {
            r,
            alpha,
            dropout: peft.lora_dropout,
            ..LoraConfig::default()
        };
        cfg.check()?;
        let runtime = LoraRuntime::new(cfg.dropout, cfg.seed);
        let varmap = candle_nn::VarMap::new();
        let mut problems = Vec::new();
        let mut unused: BTreeSet<&str> = tensors.keys().map(String::as_str).collect();
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
            attach(lin, (a, b), alpha / r as f64, &runtime, &varmap)?;
            unused.remove(ka.as_str());
            unused.remove(kb.as_str());
            cfg.include_vision_qkv |= lin.name.starts_with("vision_tower.");
        }
        problems.extend(unused.iter().map(|k| format!("unexpected tensor `{k}`")));
        if !problems.is_empty() {
            self.linears_mut().into_iter().for_each(|l| l.lora = None);
            return Err(weights_err(path.display(), problems.join("\n")));
        }
        self.lora = Some(LoraState {
            config: cfg,
            runtime,
        });
        Ok(varmap)
    }
}
