//! The training loop: trainable parameters (LoRA or every weight), AdamW, the schedule,
//! accumulation and clipping, seeded batches, checkpoints, resume, and the NaN guard.
//!
//! One optimizer step runs `grad_accum` micro-batches ([`Unit`]s) of an epoch; each runs
//! the forward passes its [`Objective`](crate::train::objectives::Objective) needs and that
//! objective's loss. An epoch ([`Plan::units`]) is
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
//!
//! [`Pairing::Paired`]: crate::train::objectives::Pairing::Paired
//! [`Pairing::Sequential`]: crate::train::objectives::Pairing::Sequential
//! [`Stepping`]: crate::train::Stepping

use crate::model::fused;
use crate::model::{ImageProcessor, Llava, LlavaTokenizer, LoraConfig, Model};
use crate::train::checkpoint::{self, TrainState};
use crate::train::collate::{Batch, CollateOptions, TrainSample};
use crate::train::data::{PixelCache, SampleSet, SetSummary};
use crate::train::grad_clip::{clip_grad_norm, grad_norm, GradAccumulator};
use crate::train::history::LossRecord;
use crate::train::loss::{token_mean_nll, Pass};
use crate::train::objectives::{ObjectiveSpec, Passes};
use crate::train::optim::{AdamW, AdamWParams};
use crate::train::options::TrainOptions;
use crate::train::plan::{Plan, Unit};
use crate::train::run_log::{RunLog, RunStatus, Trained};
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

impl TrainData {
    /// The sets a run trains on, for logs (the retain set when it is used).
    fn summaries(&self, uses_retain: bool) -> Vec<SetSummary> {
        let retain = self.retain.iter().filter(|_| uses_retain);
        std::iter::once(&self.primary)
            .chain(retain)
            .map(SampleSet::describe)
            .collect()
    }
}

/// A training run in progress: build it with [`Trainer::new`], call [`Trainer::run`] (as
/// often as budgets require), then [`Trainer::finish`]. [`Finetune`](crate::train::Finetune)
/// and [`Unlearn`](crate::train::Unlearn) do all three.
pub struct Trainer {
    model: Llava,
    reference: Option<Llava>,
    tokenizer: LlavaTokenizer,
    processor: ImageProcessor,
    data: TrainData,
    idk: Option<SampleSet>,
    pixels: PixelCache,
    collate: CollateOptions,
    objective: ObjectiveSpec,
    base_dir: PathBuf,
    processor_dir: PathBuf,
    vars: Vec<Var>,
    var_names: Vec<String>,
    opt: AdamW,
    sched: Scheduler,
    state: TrainState,
    options: TrainOptions,
    plan: Plan,
    resumed_from: Option<usize>,
    seconds: f64,
    settings: serde_json::Value,
    nan_at_step: Option<usize>,
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

/// What the step function reports: the step's loss, gradient norm and learning rate, or
/// the non-finite value that stopped it (the weights untouched).
type StepResult = std::result::Result<(f64, f64, f64), String>;

/// Which set a batch is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Retain,
    /// The primary set's questions with refusal answers (same portraits).
    Idk,
}

/// A collated batch and its pixel values.
struct Encoded {
    batch: Batch,
    pixels: Option<Tensor>,
}

/// The logits of `model` on a batch, or the hidden states after decoder `layer`.
fn output(model: &Llava, e: &Encoded, layer: Option<usize>) -> Result<Tensor> {
    let (ids, pixels, mask) = (
        &e.batch.input_ids,
        e.pixels.as_ref(),
        &e.batch.attention_mask,
    );
    let Some(layer) = layer else {
        return model.forward(ids, pixels, Some(mask));
    };
    let mut out = model.forward_hidden_states(ids, pixels, Some(mask))?;
    let n = out.hidden_states.len();
    if layer + 1 >= n {
        return Err(Error::param(
            "rmu.layer",
            layer,
            format!("the model has {} decoder layers", n.saturating_sub(1)),
        ));
    }
    Ok(out.hidden_states.swap_remove(layer + 1))
}

/// The loss view of a batch with a model's output on it.
fn pass<'a>(e: &'a Option<Encoded>, out: &'a Option<Tensor>) -> Option<Pass<'a>> {
    e.as_ref().zip(out.as_ref()).map(|(e, o)| e.batch.pass(o))
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
        let start = checkpoint::start_from(&base.llava)?;
        let device = start.device().clone();
        objective
            .objective()
            .check(start.config.text.num_hidden_layers)?;
        let reference = match (needs.reference(), reference) {
            (false, _) => None,
            (true, Some(r)) => Some(checkpoint::start_from(&r.llava)?),
            (true, None) => Some(start.clone()),
        };
        let mut collate = options.collate.clone();
        collate.pad_id = base.tokenizer.pad_id();
        collate.eos_id = base.tokenizer.eos_id();
        let retain_len = data.retain.as_ref().map_or(0, SampleSet::len);
        let plan = Plan::new(&objective, data.primary.len(), retain_len, &options);
        let summaries = data.summaries(plan.uses_retain);
        let settings = checkpoint::run_settings(&objective, &options, &summaries, &base.dir);

        let resume_from = match &options.out_dir {
            Some(out) => checkpoint::resume_or_clear(out, options.resume, &settings)?,
            None => None,
        };

        let (model, varmap) = match (&options.lora, &resume_from) {
            (Some(cfg), ckpt) => {
                let mut m = start.clone();
                let vars = match ckpt {
                    Some(c) => m.load_lora(&c.dir)?,
                    None => m.add_lora(&LoraConfig {
                        seed: options.seed,
                        ..cfg.clone()
                    })?,
                };
                (m, vars)
            }
            (None, None) => checkpoint::trainable_copy(&start)?,
            (None, Some(c)) => Llava::load_trainable(&c.dir, &device, DType::F32)?,
        };
        // A panic elsewhere cannot leave the map half-written: read it even if poisoned.
        let mut named: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(k, _)| objective.objective().trains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
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
        if let Some(c) = &resume_from {
            let (s, opt_state) = TrainState::load(&c.dir, &device)?;
            opt.load_state(opt_state)?;
            sched.set_steps(s.scheduler_steps);
            state = s;
        }
        let resumed_from = resume_from.map(|_| state.step);
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
            base_dir: base.dir.clone(),
            processor_dir: base.processor_dir.clone(),
            vars,
            var_names,
            opt,
            sched,
            state,
            options,
            plan,
            resumed_from,
            seconds: 0.0,
            settings,
            nan_at_step: None,
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

    /// The micro-batches of `epoch`, in order ([`Plan::units`]).
    pub fn units(&self, epoch: usize) -> Result<Vec<Unit>> {
        let (o, retain) = (&self.options, self.data.retain.as_ref());
        let (primary, retain) = (self.data.primary.len(), retain.map_or(0, SampleSet::len));
        self.plan
            .units(epoch, o.seed, o.batch_size, primary, retain)
    }

    /// Fault injection for tests: the loss of optimizer step `step` (from 1) reads as NaN.
    #[doc(hidden)]
    pub fn inject_nan_at_step(&mut self, step: usize) {
        self.nan_at_step = Some(step);
    }

    /// Tokenizes and collates samples `idx` of a set, with their pixel values.
    fn encode(&mut self, role: Role, idx: &[usize]) -> Result<Encoded> {
        let set = match role {
            Role::Primary => &self.data.primary,
            Role::Retain => self.data.retain.as_ref().ok_or_else(|| {
                Error::param("retain set", "none", "this objective needs a retain set")
            })?,
            Role::Idk => self.idk.as_ref().ok_or_else(|| {
                Error::param("refusal set", "none", "only IdkNLL and IdkDPO use refusals")
            })?,
        };
        let samples: Vec<TrainSample> = idx
            .iter()
            .map(|&i| {
                set.samples.get(i).cloned().ok_or_else(|| {
                    Error::param(
                        "sample index",
                        i,
                        format!("{} has {} samples", set.name, set.samples.len()),
                    )
                })
            })
            .collect::<Result<_>>()?;
        let tokenizer = &self.tokenizer;
        let device = self.model.device().clone();
        let batch = self
            .collate
            .batch(&samples, &|t| tokenizer.encode(t), &device)?;
        // Refusals share the primary set's portraits.
        let key = if role == Role::Retain { 1 } else { 0 };
        let pixels = self
            .pixels
            .pixel_values(key, set, &batch.images, &self.processor, &device)?;
        Ok(Encoded { batch, pixels })
    }

    /// The objective's loss on one micro-batch, with the current model's graph attached
    /// (call `backward` on it). Dropout follows the model's training switch.
    ///
    /// The passes the objective needs run in one fixed order, which fixes the order of the
    /// LoRA dropout draws: current model on the refusal batch, on the forget batch,
    /// reference model on those two, then current and reference model on the retain batch.
    pub fn objective_loss(&mut self, unit: &Unit) -> Result<Tensor> {
        let needs = self.objective.needs();
        let mut encode = |role, idx: &Option<Vec<usize>>, on: bool| match idx {
            Some(idx) if on => self.encode(role, idx).map(Some),
            _ => Ok(None),
        };
        let forget = encode(Role::Primary, &unit.primary, needs.forget)?;
        let idk = encode(Role::Idk, &unit.primary, needs.idk)?;
        let retain = encode(Role::Retain, &unit.retain, needs.retain)?;
        let (model, layer, name) = (&self.model, needs.hidden_layer, self.objective.name());
        let current = |e: &Option<Encoded>| e.as_ref().map(|e| output(model, e, layer)).transpose();
        let frozen = |e: &Option<Encoded>, on: bool| -> Result<Option<Tensor>> {
            let (Some(e), true) = (e, on) else {
                return Ok(None);
            };
            let m = self.reference.as_ref().ok_or_else(|| {
                Error::param("reference model", "none", format!("{name} needs one"))
            })?;
            Ok(Some(output(m, e, layer)?.detach()))
        };
        let current_idk = current(&idk)?;
        let current_forget = current(&forget)?;
        let reference_idk = frozen(&idk, needs.reference_idk)?;
        let reference_forget = frozen(&forget, needs.reference_forget)?;
        let current_retain = current(&retain)?;
        let reference_retain = frozen(&retain, needs.reference_retain)?;
        self.objective.objective().loss_on(&Passes {
            forget: pass(&forget, &current_forget),
            retain: pass(&retain, &current_retain),
            idk: pass(&idk, &current_idk),
            reference_forget: reference_forget.as_ref(),
            reference_retain: reference_retain.as_ref(),
            reference_idk: reference_idk.as_ref(),
        })
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
            if self.nan_at_step == Some(self.state.step + 1) {
                value = f64::NAN;
            }
            if !value.is_finite() {
                return Ok(Err(format!("{value}")));
            }
            let grads = fused::backward(&loss)?;
            if accum == 1 {
                single = Some(grads);
            } else {
                acc.add(&grads, &self.vars)?;
            }
            losses.push(value);
        }
        let mut grads = single.unwrap_or_else(|| acc.take());
        let norm = match self.options.max_grad_norm {
            Some(max) => clip_grad_norm(&mut grads, &self.vars, max)?,
            None => grad_norm(&grads, &self.vars)?,
        };
        if !norm.is_finite() {
            return Ok(Err(format!("{norm} (gradient norm)")));
        }
        let lr = self.apply(&grads)?;
        let loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
        Ok(Ok((loss, norm, lr)))
    }

    /// One AdamW update at the schedule's rate; returns the rate.
    fn apply(&mut self, grads: &candle_core::backprop::GradStore) -> Result<f64> {
        let lr = self.sched.lr();
        self.opt.set_lr(lr);
        self.opt.step(grads)?;
        Ok(lr)
    }

    /// Counts an optimizer step (and a scheduler step when stepping per batch).
    fn count_step(&mut self) {
        self.state.step += 1;
        self.sched.batch_end();
        self.state.scheduler_steps = self.sched.steps();
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
        let loss = token_mean_nll(&batch.pass(&logits))?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        self.apply(&fused::backward(&loss)?)?;
        self.count_step();
        Ok(value)
    }

    /// One optimizer step on the given micro-batch; returns the loss before the step.
    pub fn step_on(&mut self, unit: &Unit) -> Result<f64> {
        let key = u64::MAX / 2 + self.state.step as u64;
        match self.train_units(&[(key, unit)])? {
            Ok((loss, ..)) => {
                self.count_step();
                Ok(loss)
            }
            Err(v) => Err(Error::NonFiniteLoss {
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
        let bar = crate::progress::Progress::new(
            self.options.progress,
            "train",
            "steps",
            self.plan.total_steps as u64,
        );
        bar.set_position(self.state.step as u64);
        let result = self.run_inner(started, &bar);
        bar.finish();
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

    fn run_inner(&mut self, started: Instant, bar: &crate::progress::Progress) -> Result<bool> {
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
                let (loss, grad_norm, lr) = match self.train_units(&chunk)? {
                    Ok(done) => done,
                    Err(value) => {
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
                };
                let secs = t0.elapsed().as_secs_f64();
                self.count_step();
                self.state.batch_in_epoch = to;
                self.state.samples_seen += samples as u64;
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
                bar.set_message(format!("loss {loss:.4}  lr {lr:.2e}  {rate:.2} samples/s"));
                let every = self.options.checkpoint_every;
                if every.is_some_and(|k| self.state.step.is_multiple_of(k)) {
                    self.save_checkpoint()?;
                }
            }
        }
        Ok(true)
    }

    /// Writes a checkpoint of the current state (if there is an output folder and the
    /// latest checkpoint is not already at this step); returns its folder.
    pub fn save_checkpoint(&mut self) -> Result<Option<PathBuf>> {
        let Some(out) = &self.options.out_dir else {
            return Ok(None);
        };
        let opt = self.opt.state();
        let (model, lora, settings) = (&self.model, self.options.lora.is_some(), &self.settings);
        checkpoint::save(out, model, lora, settings, &mut self.state, &opt).map(Some)
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
            data: self.data.summaries(self.plan.uses_retain),
            plan: self.plan,
            base_model: self.base_dir.display().to_string(),
            device: crate::model::device::describe(self.model.device()),
            dtype: format!("{:?}", self.model.dtype()),
            mode: self.options.lora.as_ref().map_or("full", |_| "lora").into(),
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

    fn write_log(&self, status: RunStatus) -> Result<()> {
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
        let llava = checkpoint::plain_copy(&model)?;
        let out_dir = self.options.out_dir.clone();
        if let Some(out) = &out_dir {
            if status == RunStatus::Complete {
                llava.save(out, &crate::model::SaveOptions::default())?;
                // A weight-only base borrowed its tokenizer and processor: save them too, so
                // the trained model loads on its own.
                crate::model::weights::copy_side_files(&self.processor_dir, out)?;
            }
            crate::io::write_json(&out.join("train_log.json"), &log)?;
        }
        Ok(Trained {
            model: Model {
                llava,
                tokenizer: self.tokenizer,
                processor: self.processor,
                dir: self.base_dir,
                processor_dir: self.processor_dir,
            },
            history: log.history.clone(),
            out_dir,
            log,
        })
    }
}
