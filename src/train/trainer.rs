//! The training loop: trainable parameters (LoRA or every weight), AdamW, the schedule,
//! accumulation and clipping, seeded batches, checkpoints, resume, and the NaN guard.
//!
//! One optimizer step runs `grad_accum` micro-batches ([`Unit`]s) of an epoch. An epoch is
//!
//! * for one-set objectives, the primary set's batches in a seeded order;
//! * for two-set objectives in [`Pairing::Paired`], the primary set's batches, each with
//!   the next batch of the retain set (the retain order restarts, reshuffled, whenever it
//!   runs out);
//! * for [`Pairing::Sequential`] (GradDiff and KL_Min as the reference runs them), every
//!   forget batch, then every retain batch.
//!
//! The schedule's length is the number of optimizer steps of the run; it advances per
//! step or per epoch ([`Stepping`]). The sample order, the LoRA dropout masks (CPU) and
//! every counter are functions of the seed and the position, so a run resumed from a
//! checkpoint ends bit for bit where an uninterrupted one does.

use crate::model::{ImageProcessor, Llava, LlavaTokenizer, Model};
use crate::train::checkpoint::TrainState;
use crate::train::checkpoints::{self, Checkpoint};
use crate::train::clip::{clip_grad_norm, grad_norm, GradAccumulator};
use crate::train::collate::{Batch, CollateOptions};
use crate::train::data::{PixelCache, SampleSet};
use crate::train::history::LossRecord;
use crate::train::objectives::ObjectiveSpec;
use crate::train::optim::{AdamW, AdamWParams};
use crate::train::options::TrainOptions;
use crate::train::passes::Unit;
use crate::train::persist::{run_settings, trainable_copy};
use crate::train::plan::{plan, Plan};
use crate::train::run_log::RunStatus;
use crate::train::schedule::{LrSchedule, Scheduler};
use crate::{Error, Result};
use candle_core::{DType, Tensor, Var};
use std::path::PathBuf;
use std::time::Instant;

/// The data of a run.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// The fine-tuning set, or the forget set.
    pub primary: SampleSet,
    /// The retain set (objectives with a retain term).
    pub retain: Option<SampleSet>,
}

/// A training run in progress: build it with [`Trainer::new`], call [`Trainer::run`] (as
/// often as budgets require), then [`Trainer::finish`]. [`Finetune`](crate::train::Finetune)
/// and [`Unlearn`](crate::train::Unlearn) do all three.
pub struct Trainer {
    pub(crate) model: Llava,
    pub(crate) reference: Option<Llava>,
    pub(crate) tokenizer: LlavaTokenizer,
    pub(crate) processor: ImageProcessor,
    pub(crate) data: TrainData,
    pub(crate) idk: Option<SampleSet>,
    pub(crate) pixels: PixelCache,
    pub(crate) collate: CollateOptions,
    pub(crate) objective: ObjectiveSpec,
    pub(crate) control: Option<Tensor>,
    pub(crate) base_dir: PathBuf,
    pub(crate) vars: Vec<Var>,
    pub(crate) var_names: Vec<String>,
    pub(crate) opt: AdamW,
    pub(crate) sched: Scheduler,
    pub(crate) state: TrainState,
    pub(crate) options: TrainOptions,
    pub(crate) plan: Plan,
    pub(crate) lora: bool,
    pub(crate) resumed_from: Option<usize>,
    pub(crate) seconds: f64,
    pub(crate) settings: serde_json::Value,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("objective", &self.objective.name())
            .field("step", &self.state.step)
            .field("plan", &self.plan)
            .field("trainable_tensors", &self.vars.len())
            .finish()
    }
}

/// What the step function reports.
enum StepResult {
    Done { loss: f64, grad_norm: f64, lr: f64 },
    NonFinite(String),
}

impl Trainer {
    /// Prepares a run of `objective` on `data`, starting from `base`.
    ///
    /// `reference` is the frozen model of KL_Min, NPO, IdkDPO and RMU; `None` uses the
    /// starting model itself (its tensors are shared with the trainable model's frozen
    /// base, nothing is copied). With `options.resume` and a checkpoint in
    /// `options.out_dir`, the weights, optimizer moments, schedule and position are
    /// restored from it (the settings must match); without `resume` any old checkpoints
    /// there are removed.
    pub fn new(
        base: &Model,
        objective: ObjectiveSpec,
        data: TrainData,
        options: TrainOptions,
        reference: Option<&Model>,
    ) -> Result<Trainer> {
        options.validate()?;
        let needs = objective.needs();
        if needs.retain && data.retain.as_ref().is_none_or(|r| r.is_empty()) {
            return Err(Error::param(
                "retain set",
                "none",
                format!(
                    "the {} objective needs retain samples\nhint: pass TrainData::retain",
                    objective.name()
                ),
            ));
        }
        let start = checkpoints::start_from(&base.llava)?;
        let device = start.device().clone();
        if let ObjectiveSpec::Rmu(o) = &objective {
            let n = start.config.text.num_hidden_layers;
            for &l in std::iter::once(&o.layer).chain(&o.update_layers) {
                if l >= n {
                    return Err(Error::param(
                        "rmu.layer",
                        l,
                        format!("the model has {n} decoder layers (0..{n})"),
                    ));
                }
            }
        }
        let needs_reference = needs.reference_forget
            || needs.reference_retain
            || needs.reference_idk
            || needs.hidden_layer.is_some();
        let reference = match (needs_reference, reference) {
            (false, _) => None,
            (true, Some(r)) => Some(checkpoints::start_from(&r.llava)?),
            (true, None) => Some(start.clone()),
        };
        let mut collate = options.collate.clone();
        collate.pad_id = base.tokenizer.pad_id();
        collate.eos_id = base.tokenizer.eos_id();
        let plan = plan(&objective, &data, &options);
        let settings = run_settings(&objective, &options, &data, base);

        // Resume or start over.
        let mut resume_from = None;
        if let Some(out) = &options.out_dir {
            match Checkpoint::latest(out)? {
                Some(c) if options.resume => {
                    checkpoints::check_same_run(&c, &settings)?;
                    resume_from = Some(c);
                }
                Some(_) => {
                    let root = out.join(checkpoints::CHECKPOINTS_DIR);
                    std::fs::remove_dir_all(&root).map_err(|e| Error::io("remove", &root, e))?;
                }
                None => {}
            }
        }

        let lora = options.lora.is_some();
        let (model, varmap) = match (&options.lora, &resume_from) {
            (Some(cfg), None) => {
                let mut m = start.clone();
                let cfg = crate::model::LoraConfig {
                    seed: options.seed,
                    ..cfg.clone()
                };
                let vars = m.add_lora(&cfg)?;
                (m, vars)
            }
            (Some(_), Some(c)) => {
                let mut m = start.clone();
                let vars = m.load_lora(&c.dir)?;
                (m, vars)
            }
            (None, None) => trainable_copy(&start)?,
            (None, Some(c)) => Llava::load_trainable(&c.dir, &device, DType::F32)?,
        };
        let mut named: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .map_err(|_| Error::param("varmap", "poisoned", "a previous panic left it locked"))?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        if let ObjectiveSpec::Rmu(o) = &objective {
            let keep: Vec<String> = o
                .update_layers
                .iter()
                .map(|l| format!("language_model.model.layers.{l}.mlp.down_proj."))
                .collect();
            named.retain(|(n, _)| keep.iter().any(|k| n.contains(k.as_str())));
        }
        let (var_names, vars): (Vec<String>, Vec<Var>) = named.into_iter().unzip();
        let mut opt = AdamW::new(
            vars.clone(),
            AdamWParams {
                lr: options.lr,
                weight_decay: options.weight_decay,
                ..AdamWParams::default()
            },
        )?;
        let mut sched = Scheduler::new(
            options.lr,
            LrSchedule::Linear {
                warmup_steps: options.warmup_steps.min(plan.total_steps),
                total_steps: plan.total_steps.max(1),
            },
            plan.stepping,
        )?;
        let mut state = TrainState::new(options.seed);
        let resumed_from = match resume_from {
            Some(c) => {
                let (s, opt_state) = TrainState::load(&c.dir, &device)?;
                opt.load_state(opt_state)?;
                sched.set_steps(s.scheduler_steps);
                state = s;
                Some(state.step)
            }
            None => None,
        };
        let control = match &objective {
            ObjectiveSpec::Rmu(o) => {
                Some(o.control_vector(start.config.text.hidden_size, &device)?)
            }
            _ => None,
        };
        let idk = needs
            .idk
            .then(|| data.primary.with_idk_answers(options.seed));
        Ok(Trainer {
            model,
            reference,
            tokenizer: base.tokenizer.clone(),
            processor: base.processor.clone(),
            data,
            idk,
            pixels: PixelCache::new(1024),
            collate,
            objective,
            control,
            base_dir: base.dir.clone(),
            vars,
            var_names,
            opt,
            sched,
            state,
            options,
            plan,
            lora,
            resumed_from,
            seconds: 0.0,
            settings,
        })
    }

    /// The model being trained (adapters attached in LoRA runs).
    pub fn model(&self) -> &Llava {
        &self.model
    }

    /// The frozen reference model, when the objective has one.
    pub fn reference(&self) -> Option<&Llava> {
        self.reference.as_ref()
    }

    /// The resolved collation (pad and EOS ids of the model's tokenizer).
    pub fn collate(&self) -> &CollateOptions {
        &self.collate
    }

    /// Counters, seed and loss history.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Batches and steps of the run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The trainable tensors' names (PEFT keys for LoRA, checkpoint names otherwise).
    pub fn trainable_names(&self) -> &[String] {
        &self.var_names
    }

    /// Number of trainable scalars.
    pub fn trainable_parameters(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// The step at which this run was resumed, if it was.
    pub fn resumed_from(&self) -> Option<usize> {
        self.resumed_from
    }

    /// Runs micro-batches and one optimizer step. On a non-finite loss or gradient norm,
    /// the weights are left untouched.
    fn train_units(&mut self, units: &[(u64, &Unit)]) -> Result<StepResult> {
        let accum = self.options.grad_accum;
        let mut acc = GradAccumulator::new(accum)?;
        let mut single = None;
        let mut losses = Vec::with_capacity(units.len());
        self.model.set_training(true);
        for (key, unit) in units {
            self.model.reseed_lora_dropout(self.options.seed, *key)?;
            let loss = self.objective_loss(unit)?;
            let mut value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if self.options.inject_nan_at_step == Some(self.state.step + 1) {
                value = f64::NAN;
            }
            if !value.is_finite() {
                return Ok(StepResult::NonFinite(format!("{value}")));
            }
            let grads = loss.backward()?;
            if accum == 1 {
                single = Some(grads);
            } else {
                acc.add(&grads, &self.vars)?;
            }
            losses.push(value);
        }
        let mut grads = match single {
            Some(g) => g,
            None => acc.take(),
        };
        let norm = match self.options.max_grad_norm {
            Some(max) => clip_grad_norm(&mut grads, &self.vars, max)?,
            None => grad_norm(&grads, &self.vars)?,
        };
        if !norm.is_finite() {
            return Ok(StepResult::NonFinite(format!("{norm} (gradient norm)")));
        }
        let lr = self.sched.lr();
        self.opt.set_lr(lr);
        self.opt.step(&grads)?;
        let loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
        Ok(StepResult::Done {
            loss,
            grad_norm: norm,
            lr,
        })
    }

    /// One optimizer step of the fine-tuning loss on a batch collated by the caller (e.g.
    /// a reference batch): returns the loss before the step. Uses the run's optimizer and
    /// schedule, and counts as a step.
    pub fn step_on_batch(&mut self, batch: &Batch, pixel_values: Option<&Tensor>) -> Result<f64> {
        self.model.set_training(true);
        self.model
            .reseed_lora_dropout(self.options.seed, u64::MAX - self.state.step as u64)?;
        let logits =
            self.model
                .forward(&batch.input_ids, pixel_values, Some(&batch.attention_mask))?;
        let loss = crate::train::loss::token_mean_nll(&batch.pass(&logits))?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = loss.backward()?;
        let lr = self.sched.lr();
        self.opt.set_lr(lr);
        self.opt.step(&grads)?;
        self.state.step += 1;
        self.sched.batch_end();
        self.state.scheduler_steps = self.sched.steps();
        Ok(value)
    }

    /// One optimizer step on the given micro-batch; returns the loss before the step.
    pub fn step_on(&mut self, unit: &Unit) -> Result<f64> {
        let key = u64::MAX / 2 + self.state.step as u64;
        match self.train_units(&[(key, unit)])? {
            StepResult::Done { loss, .. } => {
                self.state.step += 1;
                self.sched.batch_end();
                self.state.scheduler_steps = self.sched.steps();
                Ok(loss)
            }
            StepResult::NonFinite(v) => Err(Error::NonFiniteLoss {
                step: self.state.step + 1,
                value: v,
                checkpoint: "(not saved: a manual step)".into(),
            }),
        }
    }

    /// Whether every epoch has run.
    pub fn is_complete(&self) -> bool {
        self.state.epoch >= self.options.epochs
    }

    /// Trains until the end, or until `max_steps` / `max_seconds` stop it; saves a
    /// checkpoint then (and every `checkpoint_every` steps) when there is an output folder.
    /// Returns whether the run is complete. A non-finite loss or gradient stops it with
    /// [`Error::NonFiniteLoss`], after saving the last good state.
    pub fn run(&mut self) -> Result<bool> {
        let started = Instant::now();
        let bar = progress_bar(&self.options, self.plan.total_steps, self.state.step);
        let result = self.run_inner(started, &bar);
        bar.finish_and_clear();
        self.seconds += started.elapsed().as_secs_f64();
        self.model.set_training(false);
        if let Err(Error::NonFiniteLoss { .. }) = &result {
            self.write_log(RunStatus::NonFiniteLoss)?;
        }
        let done = result?;
        self.save_checkpoint()?;
        if !done {
            self.write_log(RunStatus::Stopped)?;
        }
        Ok(done)
    }

    fn run_inner(&mut self, started: Instant, bar: &indicatif::ProgressBar) -> Result<bool> {
        let accum = self.options.grad_accum;
        while self.state.epoch < self.options.epochs {
            let epoch = self.state.epoch;
            let units = self.units(epoch)?;
            let n = units.len();
            if n == 0 {
                self.state.epoch += 1;
                continue;
            }
            while self.state.epoch == epoch && self.state.batch_in_epoch < n {
                if self.options.max_steps.is_some_and(|m| self.state.step >= m)
                    || self
                        .options
                        .max_seconds
                        .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
                {
                    return Ok(false);
                }
                let (from, to) = (
                    self.state.batch_in_epoch,
                    (self.state.batch_in_epoch + accum).min(n),
                );
                let chunk: Vec<(u64, &Unit)> = (from..to)
                    .map(|i| ((epoch * n + i) as u64, &units[i]))
                    .collect();
                let samples: usize = chunk.iter().map(|(_, u)| u.samples()).sum();
                let t0 = Instant::now();
                match self.train_units(&chunk)? {
                    StepResult::NonFinite(value) => {
                        let ckpt = self.save_checkpoint()?;
                        return Err(Error::NonFiniteLoss {
                            step: self.state.step + 1,
                            value,
                            checkpoint: ckpt.map_or_else(
                                || "(none: no output folder)".to_string(),
                                |p| p.display().to_string(),
                            ),
                        });
                    }
                    StepResult::Done {
                        loss,
                        grad_norm,
                        lr,
                    } => {
                        let secs = t0.elapsed().as_secs_f64();
                        self.state.step += 1;
                        self.state.batch_in_epoch = to;
                        self.state.samples_seen += samples as u64;
                        self.sched.batch_end();
                        if to == n {
                            self.state.epoch += 1;
                            self.state.batch_in_epoch = 0;
                            self.sched.epoch_end();
                        }
                        self.state.scheduler_steps = self.sched.steps();
                        let rate = samples as f64 / secs.max(1e-9);
                        self.state.history.push(LossRecord {
                            step: self.state.step,
                            epoch,
                            loss,
                            lr,
                            samples_per_sec: rate,
                            grad_norm: Some(grad_norm),
                        });
                        bar.set_position(self.state.step as u64);
                        bar.set_message(format!(
                            "loss {loss:.4}  lr {lr:.2e}  {rate:.2} samples/s"
                        ));
                        if self
                            .options
                            .checkpoint_every
                            .is_some_and(|k| self.state.step % k == 0)
                        {
                            self.save_checkpoint()?;
                        }
                    }
                }
            }
        }
        Ok(true)
    }
}

fn progress_bar(options: &TrainOptions, total: usize, position: usize) -> indicatif::ProgressBar {
    if !options.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(position as u64);
    bar
}
