//! The resumable state of a training run (weights are saved by the model module).
//!
//! A state folder holds
//!
//! ```text
//! train_state.json             TrainState (counters, seed, scheduler progress, loss history)
//! optimizer-<step>.safetensors the AdamW moments and per-tensor step counters
//! ```
//!
//! Saving writes the optimizer file under a new name, then replaces `train_state.json`
//! atomically (the commit point: it names the optimizer file it belongs to), then removes
//! older optimizer files. A crash at any moment leaves a consistent pair on disk.

use crate::train::history::LossHistory;
use crate::train::optim::OptimizerState;
use crate::{Error, Result};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The state file's name inside a state folder.
pub const STATE_FILE: &str = "train_state.json";

/// Format version written into [`TrainState::format`].
pub const STATE_FORMAT: u32 = 1;

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            seed,
            scheduler_steps: 0,
            samples_seen: 0,
            history: LossHistory::default(),
            optimizer_file: None,
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
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.starts_with("optimizer-") && file.ends_with(".safetensors") && file != name
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
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
        if state.format != STATE_FORMAT {
            return Err(Error::Json {
                file: path.display().to_string(),
                reason: format!(
                    "state format {} is not supported (expected {STATE_FORMAT})",
                    state.format
                ),
            });
        }
        let Some(name) = state.optimizer_file.clone() else {
            return Err(Error::Json {
                file: path.display().to_string(),
                reason: "missing `optimizer_file`".into(),
            });
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
