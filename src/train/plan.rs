//! The shape of a run: batches per epoch, optimizer steps, and the micro-batches of each
//! epoch (which forget and retain samples go together).

use crate::train::data::SampleSet;
use crate::train::objectives::{ObjectiveSpec, Pairing};
use crate::train::options::TrainOptions;
use crate::train::passes::Unit;
use crate::train::sampler::EpochSampler;
use crate::train::schedule::Stepping;
use crate::train::trainer::{TrainData, Trainer};
use crate::Result;
use std::collections::HashMap;

/// Salt of the retain set's sample order (independent of the primary order).
const RETAIN_SALT: u64 = 0x7265_7461_696e;

/// The shape of a run, in batches and steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// How forget and retain batches are combined.
    pub pairing: Pairing,
    /// Whether micro-batches carry a retain batch.
    pub uses_retain: bool,
    /// Batches of the primary set per epoch.
    pub primary_batches: usize,
    /// Batches of the retain set per pass over it (0 when unused).
    pub retain_batches: usize,
    /// Micro-batches per epoch.
    pub units_per_epoch: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// How the schedule advances.
    pub stepping: Stepping,
}

/// The run's plan from the objective, the data and the options.
pub(crate) fn plan(objective: &ObjectiveSpec, data: &TrainData, options: &TrainOptions) -> Plan {
    let bs = options.batch_size;
    let needs = objective.needs();
    let uses_retain = needs.retain;
    let pairing = objective.pairing();
    let primary_batches = data.primary.len().div_ceil(bs);
    let retain_batches = if uses_retain {
        data.retain.as_ref().map_or(0, |r| r.len().div_ceil(bs))
    } else {
        0
    };
    let units_per_epoch = if uses_retain && pairing == Pairing::Sequential {
        primary_batches + retain_batches
    } else {
        primary_batches
    };
    let steps_per_epoch = units_per_epoch.div_ceil(options.grad_accum);
    Plan {
        pairing,
        uses_retain,
        primary_batches,
        retain_batches,
        units_per_epoch,
        steps_per_epoch,
        total_steps: steps_per_epoch * options.epochs,
        stepping: options.stepping.unwrap_or(objective.reference_stepping()),
    }
}

impl Trainer {
    /// The micro-batches of `epoch`, in order.
    pub fn units(&self, epoch: usize) -> Result<Vec<Unit>> {
        let bs = self.options.batch_size;
        let primary = EpochSampler::new(self.options.seed, self.data.primary.len(), bs)?;
        let forget: Vec<Vec<usize>> = primary.batches_from(epoch, 0);
        if !self.plan.uses_retain {
            return Ok(forget
                .into_iter()
                .map(|b| Unit {
                    primary: Some(b),
                    retain: None,
                })
                .collect());
        }
        let retain_len = self.data.retain.as_ref().map_or(0, SampleSet::len);
        let retain = EpochSampler::new(self.options.seed ^ RETAIN_SALT, retain_len, bs)?;
        let nr = retain.num_batches().max(1);
        Ok(match self.plan.pairing {
            Pairing::Sequential => {
                let mut units: Vec<Unit> = forget
                    .into_iter()
                    .map(|b| Unit {
                        primary: Some(b),
                        retain: None,
                    })
                    .collect();
                units.extend(retain.batches_from(epoch, 0).into_iter().map(|b| Unit {
                    primary: None,
                    retain: Some(b),
                }));
                units
            }
            Pairing::Paired => {
                let nf = forget.len();
                let mut cache: HashMap<usize, Vec<Vec<usize>>> = HashMap::new();
                let mut units = Vec::with_capacity(nf);
                for (k, b) in forget.into_iter().enumerate() {
                    let g = epoch * nf + k;
                    let pass = cache
                        .entry(g / nr)
                        .or_insert_with(|| retain.batches_from(g / nr, 0));
                    units.push(Unit {
                        primary: Some(b),
                        retain: pass.get(g % nr).cloned(),
                    });
                }
                units
            }
        })
    }
}
