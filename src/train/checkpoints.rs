//! Checkpoint folders of a run, written so that a crash at any moment leaves the previous
//! checkpoint usable.
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
//! atomically, and only after that are older `step-*` folders removed.

use crate::model::{Llava, Model};
use crate::train::checkpoint::{TrainState, STATE_FILE};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    let entries = std::fs::read_dir(&root).map_err(|e| Error::io("read", &root, e))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with("step-") && file != name && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Rejects resuming with settings other than the checkpoint's, naming the keys that differ.
pub(crate) fn check_same_run(ckpt: &Checkpoint, now: &serde_json::Value) -> Result<()> {
    let saved = ckpt.run_settings()?;
    if &saved == now {
        return Ok(());
    }
    let mut differ = Vec::new();
    if let (Some(a), Some(b)) = (saved.as_object(), now.as_object()) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                differ.push(k.clone());
            }
        }
        for k in b.keys() {
            if !a.contains_key(k) {
                differ.push(k.clone());
            }
        }
    }
    Err(Error::param(
        "resume",
        ckpt.dir.display(),
        format!(
            "the checkpoint was made with other settings ({})\nhint: use the same settings, another --out folder, or turn resuming off",
            differ.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::OptimizerState;

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
