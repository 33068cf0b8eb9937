//! The settings shared by fine-tuning and unlearning runs.

use crate::error::check_positive;
use crate::model::LoraConfig;
use crate::train::collate::{CollateOptions, PromptTemplate};
use crate::train::schedule::Stepping;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a run trains, what it saves, and when it stops. `Default` is the reference recipe
/// (SPEC.md §4): LoRA r 16 / α 16 / dropout 0.05 on the language model's projections,
/// `transformers.AdamW` (lr 2e-5, betas 0.9/0.999, eps 1e-6, no weight decay), a linear
/// schedule without warm-up, batch 4, 5 epochs, no clipping, no accumulation, seed 0.
///
/// ```
/// let o = mllmu::train::TrainOptions::default();
/// assert_eq!((o.lr, o.batch_size, o.epochs, o.seed), (2e-5, 4, 5, 0));
/// assert_eq!(o.lora.as_ref().map(|l| l.r), Some(16));
/// assert!(o.max_grad_norm.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Peak learning rate.
    pub lr: f64,
    /// Samples per micro-batch.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Seed of the sample order, LoRA initialisation and dropout, refusal choice.
    pub seed: u64,
    /// LoRA adapters to train (their `seed` is replaced by [`TrainOptions::seed`]);
    /// `None` trains every weight in float32 (full fine-tuning).
    pub lora: Option<LoraConfig>,
    /// Micro-batches per optimizer step (1: none). Losses are divided by it, as in the
    /// reference's `--gradient_accumulation` path.
    pub grad_accum: usize,
    /// Global gradient-norm clipping (`None`: off, the reference's default path).
    pub max_grad_norm: Option<f64>,
    /// Decoupled weight decay of AdamW (0 in the reference).
    pub weight_decay: f64,
    /// Linear warm-up steps (0 in the reference).
    pub warmup_steps: usize,
    /// When the schedule advances; `None` follows the objective's reference script (once
    /// per epoch for GradDiff and KL_Min in sequence, per optimizer step otherwise).
    pub stepping: Option<Stepping>,
    /// Prompt template and label mask (reference: multimodal, every non-pad token). The pad
    /// and EOS ids are taken from the model's tokenizer.
    pub collate: CollateOptions,
    /// Where checkpoints, the final model and `train_log.json` go (`None`: nothing is
    /// written and the run cannot be resumed).
    pub out_dir: Option<PathBuf>,
    /// Save a checkpoint every N optimizer steps (always at the end and when stopped).
    pub checkpoint_every: Option<usize>,
    /// Stop after this many optimizer steps in total (counting steps done before a
    /// resume), keeping a checkpoint: a budget for notebooks, where interrupting is unsafe.
    pub max_steps: Option<usize>,
    /// Stop after this many seconds of this call (checked after each step).
    pub max_seconds: Option<f64>,
    /// Continue from the latest checkpoint in `out_dir` when there is one.
    pub resume: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lr: 2e-5,
            batch_size: 4,
            epochs: 5,
            seed: 0,
            lora: Some(LoraConfig::default()),
            grad_accum: 1,
            max_grad_norm: None,
            weight_decay: 0.0,
            warmup_steps: 0,
            stepping: None,
            collate: CollateOptions::reference(),
            out_dir: None,
            checkpoint_every: None,
            max_steps: None,
            max_seconds: None,
            resume: true,
            progress: true,
        }
    }
}

impl TrainOptions {
    /// Checks the ranges; every problem names its field.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return Err(Error::param("lr", self.lr, "must be a finite number >= 0"));
        }
        for (name, v) in [
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
            ("grad_accum", self.grad_accum),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if let Some(n) = self.max_grad_norm {
            check_positive("max_grad_norm", n)?;
        }
        if self.checkpoint_every == Some(0) {
            return Err(Error::param("checkpoint_every", 0, "must be at least 1"));
        }
        if let Some(l) = &self.lora {
            l.check()?;
        }
        Ok(())
    }

    /// Text-only training: the `USER: {q}\nASSISTANT: {a}` template, images dropped.
    pub fn text_only(mut self) -> Self {
        self.collate.template = PromptTemplate::TextOnly;
        self
    }

    /// The settings that must match for a checkpoint to be resumed: everything but where
    /// to write, when to stop or save, and the progress bar.
    pub(crate) fn fingerprint(&self) -> serde_json::Value {
        let mut o = self.clone();
        o.out_dir = None;
        o.checkpoint_every = None;
        o.max_steps = None;
        o.max_seconds = None;
        o.resume = false;
        o.progress = false;
        serde_json::to_value(o).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let bad = |o: TrainOptions| o.validate().unwrap_err().to_string();
        let e = bad(TrainOptions {
            batch_size: 0,
            ..Default::default()
        });
        assert!(e.contains("invalid batch_size = 0"), "{e}");
        let e = bad(TrainOptions {
            lr: f64::NAN,
            ..Default::default()
        });
        assert!(e.contains("invalid lr = NaN"), "{e}");
        let e = bad(TrainOptions {
            max_grad_norm: Some(0.0),
            ..Default::default()
        });
        assert!(e.contains("max_grad_norm"), "{e}");
        let lora = |r, dropout| TrainOptions {
            lora: Some(crate::model::LoraConfig {
                r,
                dropout,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(bad(lora(0, 0.0)).contains("invalid lora.r = 0"));
        assert!(bad(lora(8, 1.0)).contains("invalid lora.dropout = 1"));
        assert!(lora(8, 0.05).validate().is_ok());
        assert!(TrainOptions::default().validate().is_ok());
    }

    #[test]
    fn fingerprint_ignores_stop_and_output_settings_only() {
        let a = TrainOptions::default();
        let b = TrainOptions {
            max_steps: Some(3),
            out_dir: Some("x".into()),
            progress: false,
            ..Default::default()
        };
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = TrainOptions {
            lr: 1e-3,
            ..Default::default()
        };
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(
            TrainOptions::default().text_only().collate.template,
            PromptTemplate::TextOnly
        );
    }
}
