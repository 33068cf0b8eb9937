//! What a run writes and returns: checkpoints, `train_log.json`, the final model.

use crate::model::{Llava, Model, SaveOptions, Weights};
use crate::train::checkpoints::{self, Checkpoint};
use crate::train::data::{SampleSet, SetSummary};
use crate::train::objectives::ObjectiveSpec;
use crate::train::options::TrainOptions;
use crate::train::run_log::{RunLog, RunStatus, Trained};
use crate::train::trainer::{TrainData, Trainer};
use crate::{Error, Result};
use candle_core::{DType, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;

impl Trainer {
    /// Writes a checkpoint of the current state (if there is an output folder and the
    /// latest checkpoint is not already at this step); returns its folder.
    pub fn save_checkpoint(&mut self) -> Result<Option<PathBuf>> {
        let Some(out) = self.options.out_dir.clone() else {
            return Ok(None);
        };
        if let Some(c) = Checkpoint::latest(&out)? {
            if c.state.step == self.state.step && c.state.epoch == self.state.epoch {
                return Ok(Some(c.dir));
            }
        }
        let dir = checkpoints::step_dir(&out, self.state.step);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        if self.lora {
            self.model.save_lora(&dir)?;
        } else {
            let opts = SaveOptions {
                dtype: Some(DType::F32),
                ..SaveOptions::default()
            };
            self.model.save(&dir, &opts)?;
        }
        crate::io::write_json(&dir.join(checkpoints::RUN_FILE), &self.settings)?;
        self.state.save(&dir, &self.opt.state())?;
        checkpoints::commit(&out, self.state.step, &dir)?;
        Ok(Some(dir))
    }

    pub(crate) fn summaries(&self) -> Vec<SetSummary> {
        std::iter::once(self.data.primary.describe())
            .chain(
                self.data
                    .retain
                    .iter()
                    .filter(|_| self.plan.uses_retain)
                    .map(SampleSet::describe),
            )
            .collect()
    }

    /// The run's record (what `train_log.json` holds).
    pub fn log(&self, status: RunStatus) -> RunLog {
        let h = &self.state.history;
        RunLog {
            mllmu_version: env!("CARGO_PKG_VERSION").to_string(),
            status,
            objective: self.objective.clone(),
            options: self.options.clone(),
            seed: self.options.seed,
            data: self.summaries(),
            plan: self.plan,
            base_model: self.base_dir.display().to_string(),
            device: crate::model::device::describe(self.model.device()),
            dtype: format!("{:?}", self.model.dtype()),
            mode: if self.lora { "lora" } else { "full" }.to_string(),
            trainable_tensors: self.vars.len(),
            trainable_parameters: self.trainable_parameters(),
            steps: self.state.step,
            samples_seen: self.state.samples_seen,
            loss_first: h.records.first().map(|r| r.loss),
            loss_last: h.last().map(|r| r.loss),
            seconds: self.seconds,
            samples_per_sec: self.state.samples_seen as f64 / self.seconds.max(1e-9),
            resumed_from_step: self.resumed_from,
            history: h.clone(),
        }
    }

    pub(crate) fn write_log(&self, status: RunStatus) -> Result<()> {
        if let Some(out) = &self.options.out_dir {
            crate::io::write_json(&out.join("train_log.json"), &self.log(status))?;
        }
        Ok(())
    }

    /// Ends the run: merges the adapters, returns the model with plain (frozen) tensors,
    /// and, when complete and there is an output folder, saves it there (`Llava::save`:
    /// config, safetensors, tokenizer and processor files) with `train_log.json`.
    pub fn finish(self) -> Result<Trained> {
        let status = if self.is_complete() {
            RunStatus::Complete
        } else {
            RunStatus::Stopped
        };
        let log = self.log(status);
        let mut model = self.model;
        model.set_training(false);
        model.merge_lora()?;
        let llava = plain_copy(&model)?;
        let out_dir = self.options.out_dir.clone();
        if let Some(out) = &out_dir {
            if status == RunStatus::Complete {
                llava.save(out, &SaveOptions::default())?;
            }
            crate::io::write_json(&out.join("train_log.json"), &log)?;
        }
        Ok(Trained {
            model: Model {
                llava,
                tokenizer: self.tokenizer,
                processor: self.processor,
                dir: self.base_dir,
            },
            history: log.history.clone(),
            out_dir,
            log,
        })
    }
}

pub(crate) fn run_settings(
    objective: &ObjectiveSpec,
    options: &TrainOptions,
    data: &TrainData,
    base: &Model,
) -> serde_json::Value {
    let uses_retain = objective.needs().retain;
    let data: Vec<SetSummary> = std::iter::once(data.primary.describe())
        .chain(
            data.retain
                .iter()
                .filter(|_| uses_retain)
                .map(SampleSet::describe),
        )
        .collect();
    serde_json::json!({
        "objective": objective,
        "options": options.fingerprint(),
        "data": data,
        "base": base.dir.display().to_string(),
    })
}

/// Every weight of `start` as a float32 variable, in new storage.
pub(crate) fn trainable_copy(start: &Llava) -> Result<(Llava, candle_nn::VarMap)> {
    let mut tensors = HashMap::new();
    for (name, t) in start.named_tensors() {
        tensors.insert(name, t.to_dtype(DType::F32)?);
    }
    let mut w = Weights::from_tensors(tensors);
    w.dir = start.source_dir().map(PathBuf::from).unwrap_or_default();
    let (w, vars) = w.into_vars()?;
    Ok((Llava::from_weights(start.config.clone(), &w)?, vars))
}

/// The same weights as plain tensors (no variable tracking), sharing storage.
pub(crate) fn plain_copy(model: &Llava) -> Result<Llava> {
    let tensors: HashMap<String, Tensor> = model
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.detach()))
        .collect();
    let mut w = Weights::from_tensors(tensors);
    w.dir = model.source_dir().map(PathBuf::from).unwrap_or_default();
    Llava::from_weights(model.config.clone(), &w)
}
