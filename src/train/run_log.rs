//! What a run leaves behind: `train_log.json` ([`RunLog`]) and the in-memory result
//! ([`Trained`]).

use crate::display::{html_block, print_evcxr, Table};
use crate::model::Model;
use crate::train::data::SetSummary;
use crate::train::history::LossHistory;
use crate::train::objectives::ObjectiveSpec;
use crate::train::options::TrainOptions;
use crate::train::plan::Plan;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every epoch ran.
    Complete,
    /// A step or time budget stopped it; a checkpoint was kept.
    Stopped,
    /// The loss or gradient became NaN or infinite; the last good state was kept.
    NonFiniteLoss,
}

/// The record of a run, written as `train_log.json` in its output folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunLog {
    /// The crate version.
    pub mllmu_version: String,
    /// How the run ended.
    pub status: RunStatus,
    /// The objective and its hyper-parameters.
    pub objective: ObjectiveSpec,
    /// Every training setting.
    pub options: TrainOptions,
    /// The seed.
    pub seed: u64,
    /// The sets trained on.
    pub data: Vec<SetSummary>,
    /// Batches and steps (when deserialised from an older log, zeros).
    #[serde(skip_deserializing)]
    pub plan: Plan,
    /// The starting model's folder.
    pub base_model: String,
    /// The device, in words.
    pub device: String,
    /// The compute dtype of the frozen base.
    pub dtype: String,
    /// `"lora"` or `"full"`.
    pub mode: String,
    /// Trainable tensors (in the optimizer).
    pub trainable_tensors: usize,
    /// Trainable scalars.
    pub trainable_parameters: usize,
    /// Optimizer steps done.
    pub steps: usize,
    /// Samples seen.
    pub samples_seen: u64,
    /// The first step's loss.
    pub loss_first: Option<f64>,
    /// The last step's loss.
    pub loss_last: Option<f64>,
    /// Seconds spent training (all calls of this process).
    pub seconds: f64,
    /// Samples per second over those seconds.
    pub samples_per_sec: f64,
    /// The step this process resumed from.
    pub resumed_from_step: Option<usize>,
    /// The loss curve.
    pub history: LossHistory,
}

/// A finished (or budget-stopped) run: the trained model with adapters merged, its loss
/// curve, and where it was saved.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The trained model (plain tensors, LoRA merged).
    pub model: Model,
    /// The loss curve (also in `log`).
    pub history: LossHistory,
    /// The output folder, when one was given.
    pub out_dir: Option<PathBuf>,
    /// The full record.
    pub log: RunLog,
}

impl Trained {
    /// Whether every epoch ran.
    pub fn is_complete(&self) -> bool {
        self.log.status == RunStatus::Complete
    }

    /// The CLI's `--json` summary: steps, first and last loss, output folder, status.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "steps": self.log.steps,
            "loss_first": self.log.loss_first,
            "loss_last": self.log.loss_last,
            "out": self.out_dir.as_ref().map(|p| p.display().to_string()),
            "status": self.log.status,
            "objective": self.log.objective.name(),
            "seconds": self.log.seconds,
            "samples_per_sec": self.log.samples_per_sec,
        })
    }

    fn table(&self) -> Table {
        let l = &self.log;
        let f = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        let mut t = Table::new(format!("{} run", l.objective.name()), ["field", "value"]);
        let rows = [
            ("status", format!("{:?}", l.status).to_lowercase()),
            ("steps", format!("{} / {}", l.steps, l.plan.total_steps)),
            (
                "loss first → last",
                format!("{} → {}", f(l.loss_first), f(l.loss_last)),
            ),
            (
                "trainable",
                format!("{} ({} parameters)", l.mode, l.trainable_parameters),
            ),
            (
                "lr / batch / epochs",
                format!(
                    "{:e} / {} / {}",
                    l.options.lr, l.options.batch_size, l.options.epochs
                ),
            ),
            (
                "data",
                l.data
                    .iter()
                    .map(|d| format!("{} ({})", d.name, d.samples))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "time",
                format!("{:.1} s, {:.2} samples/s", l.seconds, l.samples_per_sec),
            ),
            ("device", l.device.clone()),
            (
                "out",
                self.out_dir
                    .as_ref()
                    .map_or_else(|| "-".into(), |p| p.display().to_string()),
            ),
        ];
        for (k, v) in rows {
            t.push([k.to_string(), v]);
        }
        t
    }

    /// The summary and the loss history as one HTML block.
    pub fn to_html(&self) -> String {
        html_block(&[self.table().to_html(), self.history.to_html()])
    }

    /// evcxr rich display (one `text/html` block).
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.table())
    }
}

impl std::fmt::Display for RunLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}): {} steps, loss {:?} → {:?}",
            self.objective.name(),
            self.status,
            self.steps,
            self.loss_first,
            self.loss_last
        )
    }
}
