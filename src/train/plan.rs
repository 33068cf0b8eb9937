//! The shape of a run: batches per epoch, optimizer steps, and the micro-batches ([`Unit`]s)
//! of each epoch (which forget and retain samples go together). Plain functions of the
//! objective, the set sizes and the options, so that any epoch can be recomputed alone.

use crate::train::objectives::{ObjectiveSpec, Pairing};
use crate::train::options::TrainOptions;
use crate::train::sampler::EpochSampler;
use crate::train::schedule::Stepping;
use crate::Result;
use std::collections::HashMap;

/// The samples of one micro-batch, as indices into the run's sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// Indices into the primary set (fine-tuning set or forget set).
    pub primary: Option<Vec<usize>>,
    /// Indices into the retain set.
    pub retain: Option<Vec<usize>>,
}

impl Unit {
    /// Samples in the micro-batch.
    pub fn samples(&self) -> usize {
        self.primary.as_ref().map_or(0, Vec::len) + self.retain.as_ref().map_or(0, Vec::len)
    }
}

/// Salt of the retain set's sample order (independent of the primary order).
const RETAIN_SALT: u64 = 0x7265_7461_696e;

/// The shape of a run, in batches and steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
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

impl Plan {
    /// The plan of `objective` over `primary` samples and `retain` samples (0: none).
    pub fn new(
        objective: &ObjectiveSpec,
        primary: usize,
        retain: usize,
        options: &TrainOptions,
    ) -> Plan {
        let bs = options.batch_size;
        let uses_retain = objective.needs().retain;
        let pairing = objective.pairing();
        let primary_batches = primary.div_ceil(bs);
        let retain_batches = if uses_retain { retain.div_ceil(bs) } else { 0 };
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

    /// The micro-batches of `epoch`, in order, for sets of `primary` and `retain` samples
    /// visited in batches of `batch_size` in the order `seed` draws.
    pub fn units(
        &self,
        epoch: usize,
        seed: u64,
        batch_size: usize,
        primary: usize,
        retain: usize,
    ) -> Result<Vec<Unit>> {
        let unit = |primary, retain| Unit { primary, retain };
        let forget = EpochSampler::new(seed, primary, batch_size)?.batches_from(epoch, 0);
        if !self.uses_retain {
            return Ok(forget.into_iter().map(|b| unit(Some(b), None)).collect());
        }
        let retain = EpochSampler::new(seed ^ RETAIN_SALT, retain, batch_size)?;
        let nr = retain.num_batches().max(1);
        Ok(match self.pairing {
            Pairing::Sequential => {
                let retain = retain.batches_from(epoch, 0).into_iter();
                let forget = forget.into_iter().map(|b| unit(Some(b), None));
                forget.chain(retain.map(|b| unit(None, Some(b)))).collect()
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
                    units.push(unit(Some(b), pass.get(g % nr).cloned()));
                }
                units
            }
        })
    }
}
