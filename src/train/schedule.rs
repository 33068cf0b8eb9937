//! Learning-rate schedules and when they advance.
//!
//! The benchmark uses `transformers.get_scheduler("linear", num_warmup_steps=0,
//! num_training_steps=N)`. After `k` calls to `scheduler.step()` the learning rate is
//!
//! ```text
//! lr_k = lr · k/W                       for k < W (warm-up, W = 0 in the benchmark)
//! lr_k = lr · max(0, (N − k) / max(1, N − W))   otherwise
//! ```
//!
//! Fine-tuning, GA and NPO call `step()` after every batch ([`Stepping::PerBatch`]);
//! GA_Difference and KL_Min call it once per epoch although N counts batches
//! ([`Stepping::PerEpoch`]), which keeps the rate near `lr` for the whole run (SPEC.md §5.2,
//! §5.3, Q21).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The shape of the learning-rate curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// transformers' "linear": optional linear warm-up, then linear decay to 0 at `total_steps`.
    Linear {
        /// Warm-up steps W (0 in the benchmark).
        warmup_steps: usize,
        /// N, the `num_training_steps` given to transformers.
        total_steps: usize,
    },
}

/// When the scheduler advances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stepping {
    /// After every optimizer step (fine-tuning, GA, NPO in the reference; the default).
    #[default]
    PerBatch,
    /// Once at the end of each epoch (GA_Difference and KL_Min in the reference).
    PerEpoch,
}

/// A learning-rate scheduler with its progress, serialisable for resume.
///
/// ```
/// use mllmu::train::{Scheduler, Stepping};
/// let mut s = Scheduler::linear(1e-3, 4, Stepping::PerBatch).unwrap();
/// assert_eq!(s.lr(), 1e-3);
/// s.batch_end();
/// assert!((s.lr() - 0.75e-3).abs() < 1e-15);
/// s.epoch_end(); // no effect when stepping per batch
/// assert_eq!(s.steps(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scheduler {
    /// The optimizer's base learning rate.
    pub base_lr: f64,
    /// The curve.
    pub schedule: LrSchedule,
    /// When it advances.
    pub stepping: Stepping,
    /// `scheduler.step()` calls so far.
    steps: usize,
}

impl Scheduler {
    /// A scheduler at step 0 (checked: finite `base_lr >= 0`, `total_steps >= 1`,
    /// `warmup_steps <= total_steps`).
    pub fn new(base_lr: f64, schedule: LrSchedule, stepping: Stepping) -> Result<Self> {
        if !(base_lr >= 0.0 && base_lr.is_finite()) {
            return Err(Error::param(
                "lr",
                base_lr,
                "the learning rate must be a finite number >= 0",
            ));
        }
        if let LrSchedule::Linear {
            warmup_steps,
            total_steps,
        } = schedule
        {
            if total_steps == 0 {
                return Err(Error::param(
                    "total_steps",
                    0,
                    "a linear schedule needs at least one training step\nhint: is the training set empty?",
                ));
            }
            if warmup_steps > total_steps {
                return Err(Error::param(
                    "warmup_steps",
                    warmup_steps,
                    format!("cannot exceed total_steps = {total_steps}"),
                ));
            }
        }
        Ok(Scheduler {
            base_lr,
            schedule,
            stepping,
            steps: 0,
        })
    }

    /// The benchmark's schedule: linear decay without warm-up over `total_steps`.
    pub fn linear(base_lr: f64, total_steps: usize, stepping: Stepping) -> Result<Self> {
        Self::new(
            base_lr,
            LrSchedule::Linear {
                warmup_steps: 0,
                total_steps,
            },
            stepping,
        )
    }

    /// A constant rate.
    pub fn constant(base_lr: f64) -> Result<Self> {
        Self::new(base_lr, LrSchedule::Constant, Stepping::PerBatch)
    }

    /// The rate after `k` scheduler steps.
    pub fn lr_at(&self, k: usize) -> f64 {
        match self.schedule {
            LrSchedule::Constant => self.base_lr,
            LrSchedule::Linear {
                warmup_steps: w,
                total_steps: n,
            } => {
                let factor = if k < w {
                    k as f64 / w.max(1) as f64
                } else {
                    (n as f64 - k as f64).max(0.0) / (n - w).max(1) as f64
                };
                self.base_lr * factor
            }
        }
    }

    /// The rate to use for the next optimizer step.
    pub fn lr(&self) -> f64 {
        self.lr_at(self.steps)
    }

    /// `scheduler.step()` calls so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Sets the progress (resume).
    pub fn set_steps(&mut self, steps: usize) {
        self.steps = steps;
    }

    /// Call after every optimizer step; advances when stepping per batch.
    pub fn batch_end(&mut self) {
        self.steps += usize::from(self.stepping == Stepping::PerBatch);
    }

    /// Call at the end of every epoch; advances when stepping per epoch.
    pub fn epoch_end(&mut self) {
        self.steps += usize::from(self.stepping == Stepping::PerEpoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_transformers_lambda() {
        // N = 10 batches: lr_k = lr (10 - k) / 10, clamped at 0 after N.
        let mut s = Scheduler::linear(2e-5, 10, Stepping::PerBatch).unwrap();
        for k in 0..13 {
            let want = 2e-5 * ((10.0 - k as f64).max(0.0) / 10.0);
            assert!((s.lr() - want).abs() < 1e-20, "k={k}: {} vs {want}", s.lr());
            s.batch_end();
        }
        assert_eq!(s.lr(), 0.0);
    }

    /// A linear schedule stepped per batch, with a warm-up.
    fn warmed(lr: f64, warmup_steps: usize, total_steps: usize) -> Result<Scheduler> {
        let linear = LrSchedule::Linear {
            warmup_steps,
            total_steps,
        };
        Scheduler::new(lr, linear, Stepping::PerBatch)
    }

    #[test]
    fn warmup_then_decay() {
        let s = warmed(1.0, 2, 6).unwrap();
        let got: Vec<f64> = (0..7).map(|k| s.lr_at(k)).collect();
        assert_eq!(got, vec![0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]);
    }

    #[test]
    fn per_epoch_stepping_keeps_the_rate_within_an_epoch() {
        // GA_Difference: N = (forget + retain batches) * epochs = (2 + 38) * 2 = 80.
        let mut s = Scheduler::linear(1e-4, 80, Stepping::PerEpoch).unwrap();
        for _ in 0..40 {
            assert_eq!(s.lr(), 1e-4);
            s.batch_end();
        }
        s.epoch_end();
        assert!((s.lr() - 1e-4 * 79.0 / 80.0).abs() < 1e-18);
    }

    #[test]
    fn constant_and_checks() {
        let mut s = Scheduler::constant(3e-4).unwrap();
        s.batch_end();
        s.epoch_end();
        assert_eq!(s.lr(), 3e-4);
        let e = Scheduler::linear(1e-3, 0, Stepping::PerBatch)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid total_steps = 0"), "{e}");
        let e = warmed(1e-3, 5, 4).unwrap_err().to_string();
        assert!(e.contains("cannot exceed total_steps = 4"), "{e}");
    }

    #[test]
    fn serialises_progress() {
        let mut s = Scheduler::linear(1e-3, 8, Stepping::PerEpoch).unwrap();
        s.epoch_end();
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains("\"stepping\":\"per_epoch\"") && json.contains("\"kind\":\"linear\""),
            "{json}"
        );
        let back: Scheduler = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.steps(), 1);
    }
}
