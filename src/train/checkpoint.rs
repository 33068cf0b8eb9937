//! Checkpoints: the resumable state of a run, in folders written so that a crash at any
//! moment leaves the previous checkpoint usable.
//!
//! ```text
//! <out>/checkpoints/latest.json              {"step": 12, "dir": "step-00000012"}: the commit point
//! <out>/checkpoints/step-00000012/
//!     adapter_model.safetensors, adapter_config.json     (LoRA runs: the adapters, float32)
//!     config.json, model.safetensors, tokenizer files    (full runs: every weight, float32)
//!     train_state.json, optimizer-00000012.safetensors   (TrainState: counters, history, AdamW)
//!     run.json                                            (what must match to resume)
//! ```
//!
//! A new checkpoint is written into its own `step-N` folder; `latest.json` is then replaced
//! atomically, and only after that are older `step-*` folders removed. Inside a folder,
//! [`TrainState::save`] writes the optimizer file under a new name, then replaces
//! `train_state.json` atomically (it names the optimizer file it belongs to), then removes
//! older optimizer files.

use crate::model::{Llava, Model, SaveOptions, Weights};
use crate::train::data::SetSummary;
use crate::train::history::LossHistory;
use crate::train::objectives::ObjectiveSpec;
use crate::train::optim::OptimizerState;
use crate::train::options::TrainOptions;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The state file's name inside a state folder.
pub const STATE_FILE: &str = "train_state.json";

/// Format version written into [`TrainState::format`].
pub const STATE_FORMAT: u32 = 1;

/// Where a run stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Format version ([`STATE_FORMAT`]).
    pub format: u32,
    /// Optimizer steps taken.
    pub step: usize,
    /// The current epoch (from 0).
    pub epoch: usize,
    /// Batches of the current epoch already consumed (the next batch to run).
    pub batch_in_epoch: usize,
    /// The run's seed (sample order, refusal choice, RMU direction are derived from it).
    pub seed: u64,
    /// `scheduler.step()` calls so far.
    pub scheduler_steps: usize,
    /// Samples consumed so far.
    pub samples_seen: u64,
    /// The loss curve.
    pub history: LossHistory,
    /// The optimizer file of this state (set by [`TrainState::save`]).
    #[serde(default)]
    pub optimizer_file: Option<String>,
}

impl TrainState {
    /// A fresh state at step 0.
    pub fn new(seed: u64) -> Self {
        TrainState {
            format: STATE_FORMAT,
            seed,
            ..TrainState::default()
        }
    }

    /// Whether `dir` holds a saved state.
    pub fn exists(dir: &Path) -> bool {
        dir.join(STATE_FILE).is_file()
    }

    /// Saves the state and the optimizer's into `dir` (see the module docs for the order).
    pub fn save(&mut self, dir: &Path, optimizer: &OptimizerState) -> Result<()> {
        let name = format!("optimizer-{:08}.safetensors", self.step);
        optimizer.save(&dir.join(&name))?;
        self.optimizer_file = Some(name.clone());
        crate::io::write_json(&dir.join(STATE_FILE), self)?;
        prune(dir, "optimizer-", &name);
        Ok(())
    }

    /// Loads a state saved by [`TrainState::save`], the optimizer moments on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<(TrainState, OptimizerState)> {
        let path = dir.join(STATE_FILE);
        if !path.is_file() {
            return Err(Error::MissingFile {
                path,
                hint: "no training state here; start a new run or point --resume at a checkpoint folder".into(),
            });
        }
        let state: TrainState = crate::io::read_json(&path)?;
        let bad = |reason: String| Error::Json {
            file: path.display().to_string(),
            reason,
            source: None,
        };
        if state.format != STATE_FORMAT {
            let v = state.format;
            return Err(bad(format!(
                "state format {v} is not supported (expected {STATE_FORMAT})"
            )));
        }
        let Some(name) = state.optimizer_file.clone() else {
            return Err(bad("missing `optimizer_file`".into()));
        };
        let opt_path = dir.join(&name);
        if !opt_path.is_file() {
            return Err(Error::MissingFile {
                path: opt_path,
                hint: format!("{STATE_FILE} refers to it; the folder is incomplete"),
            });
        }
        let optimizer = OptimizerState::load(&opt_path, device)?;
        Ok((state, optimizer))
    }
}

/// Sub-folder of the output folder holding the checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The pointer file naming the latest complete checkpoint.
pub const LATEST_FILE: &str = "latest.json";
/// The settings a checkpoint was made with.
pub const RUN_FILE: &str = "run.json";

#[derive(Debug, Serialize, Deserialize)]
struct Latest {
    step: usize,
    dir: String,
}

/// A complete checkpoint on disk.
///
/// ```no_run
/// use candle_core::Device;
/// use mllmu::model::Model;
/// use mllmu::train::Checkpoint;
/// let base = Model::load("vanilla", &Device::Cpu)?;
/// if let Some(ckpt) = Checkpoint::latest("runs/ga")? {
///     println!("step {}", ckpt.state.step);
///     let model = ckpt.load_model(&base)?; // LoRA merged into `base`, or the full weights
/// }
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The `step-N` folder.
    pub dir: PathBuf,
    /// Counters, seed and loss history at that step.
    pub state: TrainState,
}

impl Checkpoint {
    /// The latest checkpoint under a run's output folder, if any.
    pub fn latest(out_dir: impl AsRef<Path>) -> Result<Option<Checkpoint>> {
        let root = out_dir.as_ref().join(CHECKPOINTS_DIR);
        let pointer = root.join(LATEST_FILE);
        if !pointer.is_file() {
            return Ok(None);
        }
        let latest: Latest = crate::io::read_json(&pointer)?;
        let dir = root.join(&latest.dir);
        let state: TrainState = crate::io::read_json(&dir.join(STATE_FILE))?;
        Ok(Some(Checkpoint { dir, state }))
    }

    /// Whether it holds LoRA adapters (else every weight).
    pub fn is_lora(&self) -> bool {
        self.dir.join("adapter_config.json").is_file()
    }

    /// The model of this checkpoint: `base` with the adapters merged, or the saved full
    /// weights in `base`'s dtype; tokenizer and processor from `base`.
    pub fn load_model(&self, base: &Model) -> Result<Model> {
        let llava = if self.is_lora() {
            let mut m = start_from(&base.llava)?;
            m.load_lora(&self.dir)?;
            m.merge_lora()?;
            m
        } else {
            Llava::load(&self.dir, base.llava.device(), base.llava.dtype())?
        };
        Ok(Model {
            llava,
            tokenizer: base.tokenizer.clone(),
            processor: base.processor.clone(),
            dir: base.dir.clone(),
            processor_dir: base.processor_dir.clone(),
        })
    }

    /// The settings saved with the checkpoint.
    pub fn run_settings(&self) -> Result<serde_json::Value> {
        crate::io::read_json(&self.dir.join(RUN_FILE))
    }
}

/// The starting point of training: the network itself (tensors shared, nothing copied), or
/// a merged copy when adapters are attached.
pub(crate) fn start_from(base: &Llava) -> Result<Llava> {
    if base.lora_config().is_some() {
        base.frozen_copy()
    } else {
        Ok(base.clone())
    }
}

/// The folder a checkpoint at `step` is written to.
pub(crate) fn step_dir(out_dir: &Path, step: usize) -> PathBuf {
    out_dir
        .join(CHECKPOINTS_DIR)
        .join(format!("step-{step:08}"))
}

/// Makes the checkpoint in `dir` the latest and removes the other `step-*` folders.
pub(crate) fn commit(out_dir: &Path, step: usize, dir: &Path) -> Result<()> {
    let root = out_dir.join(CHECKPOINTS_DIR);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::io::write_json(
        &root.join(LATEST_FILE),
        &Latest {
            step,
            dir: name.clone(),
        },
    )?;
    prune(&root, "step-", &name);
    Ok(())
}

/// Removes, best effort, the entries of `dir` named `prefix*` other than `keep` (files
/// and folders: what is left over is harmless, the commit point names what counts).
fn prune(dir: &Path, prefix: &str, keep: &str) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && name != keep {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// The latest checkpoint under `out` to resume from (`resume`: it must have been made with
/// `settings`), or none; without `resume` the old checkpoints are removed.
pub(crate) fn resume_or_clear(
    out: &Path,
    resume: bool,
    settings: &serde_json::Value,
) -> Result<Option<Checkpoint>> {
    match Checkpoint::latest(out)? {
        Some(c) if resume => {
            check_same_run(&c, settings)?;
            Ok(Some(c))
        }
        Some(_) => {
            let root = out.join(CHECKPOINTS_DIR);
            std::fs::remove_dir_all(&root).map_err(|e| Error::io("remove", &root, e))?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Rejects resuming with settings other than the checkpoint's, naming the keys that differ.
pub(crate) fn check_same_run(ckpt: &Checkpoint, now: &serde_json::Value) -> Result<()> {
    let saved = ckpt.run_settings()?;
    if &saved == now {
        return Ok(());
    }
    let differ: Vec<&str> = match (saved.as_object(), now.as_object()) {
        (Some(a), Some(b)) => {
            let changed = a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k);
            let added = b.keys().filter(|k| !a.contains_key(*k));
            changed.chain(added).map(String::as_str).collect()
        }
        _ => Vec::new(),
    };
    Err(Error::param(
        "resume",
        ckpt.dir.display(),
        format!(
            "the checkpoint was made with other settings ({})\nhint: use the same settings, another --out folder, or turn resuming off",
            differ.join(", ")
        ),
    ))
}

/// Writes a checkpoint of `model` (the adapters when `lora`, else every weight in float32),
/// the run's `settings` and `state` with the optimizer's, at `state.step` under `out`, and
/// makes it the latest; returns its folder. Nothing is written when the latest checkpoint
/// is already at this step.
pub(crate) fn save(
    out: &Path,
    model: &Llava,
    lora: bool,
    settings: &serde_json::Value,
    state: &mut TrainState,
    optimizer: &OptimizerState,
) -> Result<PathBuf> {
    if let Some(c) = Checkpoint::latest(out)? {
        if c.state.step == state.step && c.state.epoch == state.epoch {
            return Ok(c.dir);
        }
    }
    let dir = step_dir(out, state.step);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    if lora {
        model.save_lora(&dir)?;
    } else {
        let opts = SaveOptions {
            dtype: Some(DType::F32),
            ..SaveOptions::default()
        };
        model.save(&dir, &opts)?;
    }
    crate::io::write_json(&dir.join(RUN_FILE), settings)?;
    state.save(&dir, optimizer)?;
    commit(out, state.step, &dir)?;
    Ok(dir)
}

/// What must match for a checkpoint to be resumed: the objective, the options' fingerprint,
/// the sets trained on and the starting model.
pub(crate) fn run_settings(
    objective: &ObjectiveSpec,
    options: &TrainOptions,
    data: &[SetSummary],
    base: &Path,
) -> serde_json::Value {
    serde_json::json!({
        "objective": objective,
        "options": options.fingerprint(),
        "data": data,
        "base": base.display().to_string(),
    })
}

/// The weights of `model`, each passed through `f`, remembering its source folder.
fn weights_of(model: &Llava, f: impl Fn(Tensor) -> Result<Tensor>) -> Result<Weights> {
    let tensors = (model.named_tensors().into_iter())
        .map(|(n, t)| Ok((n, f(t)?)))
        .collect::<Result<HashMap<String, Tensor>>>()?;
    let mut w = Weights::from_tensors(tensors);
    w.dir = model.source_dir().map(PathBuf::from).unwrap_or_default();
    Ok(w)
}

/// Every weight of `start` as a float32 variable, in new storage.
pub(crate) fn trainable_copy(start: &Llava) -> Result<(Llava, candle_nn::VarMap)> {
    let (w, vars) = weights_of(start, |t| Ok(t.to_dtype(DType::F32)?))?.into_vars()?;
    Ok((Llava::from_weights(start.config.clone(), &w)?, vars))
}

/// The same weights as plain tensors (no variable tracking), sharing storage.
pub(crate) fn plain_copy(model: &Llava) -> Result<Llava> {
    Llava::from_weights(
        model.config.clone(),
        &weights_of(model, |t| Ok(t.detach()))?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_points_at_the_new_folder_and_prunes_the_rest() {
        let out = tempfile::tempdir().unwrap();
        assert!(Checkpoint::latest(out.path()).unwrap().is_none());
        for step in [2, 4] {
            let dir = step_dir(out.path(), step);
            std::fs::create_dir_all(&dir).unwrap();
            let mut st = TrainState::new(9);
            st.step = step;
            st.save(&dir, &OptimizerState::default()).unwrap();
            crate::io::write_json(&dir.join(RUN_FILE), &serde_json::json!({"lr": 1})).unwrap();
            // Before the commit, the previous checkpoint is still the latest.
            if step == 4 {
                assert_eq!(
                    Checkpoint::latest(out.path()).unwrap().unwrap().state.step,
                    2
                );
            }
            commit(out.path(), step, &dir).unwrap();
        }
        let c = Checkpoint::latest(out.path()).unwrap().unwrap();
        assert_eq!(c.state.step, 4);
        assert!(c.dir.ends_with("step-00000004"));
        assert!(!step_dir(out.path(), 2).exists());
        assert!(!c.is_lora());
        check_same_run(&c, &serde_json::json!({"lr": 1})).unwrap();
        let e = check_same_run(&c, &serde_json::json!({"lr": 2, "epochs": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("other settings (lr, epochs)"), "{e}");
    }
}
