//! The forward passes of one micro-batch and the objective's loss on them.
//!
//! A [`Unit`] names the samples of one micro-batch: a batch of the primary set (the
//! fine-tuning set, or the forget set), a batch of the retain set, or both. The passes run
//! are those [`ObjectiveSpec::needs`] lists for the parts present; the reference model
//! runs without gradient.

use crate::model::Llava;
use crate::train::collate::{Batch, TrainSample};
use crate::train::objectives::{Hidden, ObjectiveSpec};
use crate::train::trainer::Trainer;
use crate::{Error, Result};
use candle_core::Tensor;

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

/// Which set a batch is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    Retain,
    /// The primary set's questions with refusal answers (same portraits).
    Idk,
}

/// A collated batch and its pixel values.
pub(crate) struct Encoded {
    pub(crate) batch: Batch,
    pub(crate) pixels: Option<Tensor>,
}

fn forward(model: &Llava, e: &Encoded) -> Result<Tensor> {
    model.forward(
        &e.batch.input_ids,
        e.pixels.as_ref(),
        Some(&e.batch.attention_mask),
    )
}

fn hidden(model: &Llava, e: &Encoded, layer: usize) -> Result<Tensor> {
    let mut out = model.forward_hidden_states(
        &e.batch.input_ids,
        e.pixels.as_ref(),
        Some(&e.batch.attention_mask),
    )?;
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

fn need<T>(x: Option<T>, what: &str, objective: &str) -> Result<T> {
    x.ok_or_else(|| {
        Error::param(
            "unit",
            what,
            format!("the {objective} objective needs a {what} batch here"),
        )
    })
}

impl Trainer {
    /// Tokenizes and collates samples `idx` of a set, with their pixel values.
    pub(crate) fn encode(&mut self, role: Role, idx: &[usize]) -> Result<Encoded> {
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
    pub fn objective_loss(&mut self, unit: &Unit) -> Result<Tensor> {
        let objective = self.objective.clone();
        let name = objective.name();
        let needs = objective.needs();
        let primary = match (&unit.primary, needs.forget) {
            (Some(idx), true) => Some(self.encode(Role::Primary, idx)?),
            _ => None,
        };
        let idk = match (&unit.primary, needs.idk) {
            (Some(idx), true) => Some(self.encode(Role::Idk, idx)?),
            _ => None,
        };
        let retain = match &unit.retain {
            Some(idx) => Some(self.encode(Role::Retain, idx)?),
            None => None,
        };
        let model = &self.model;
        let reference = self.reference.as_ref();
        let frozen = |e: &Encoded| -> Result<Tensor> {
            let m = reference.ok_or_else(|| {
                Error::param("reference model", "none", format!("{name} needs one"))
            })?;
            Ok(forward(m, e)?.detach())
        };
        let logits = |e: &Option<Encoded>| -> Result<Option<Tensor>> {
            e.as_ref().map(|e| forward(model, e)).transpose()
        };
        match &objective {
            ObjectiveSpec::Finetune(o) => {
                let p = need(primary.as_ref(), "training", name)?;
                let l = forward(model, p)?;
                o.loss(&p.batch.pass(&l))
            }
            ObjectiveSpec::GradAscent(o) => {
                let p = need(primary.as_ref(), "forget", name)?;
                let l = forward(model, p)?;
                o.loss(&p.batch.pass(&l))
            }
            ObjectiveSpec::GradDiff(o) => {
                let (lf, lr) = (logits(&primary)?, logits(&retain)?);
                let f = primary
                    .as_ref()
                    .zip(lf.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                let r = retain
                    .as_ref()
                    .zip(lr.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                o.loss(f.as_ref(), r.as_ref())
            }
            ObjectiveSpec::KlMin(o) => {
                let (lf, lr) = (logits(&primary)?, logits(&retain)?);
                let vanilla = retain.as_ref().map(frozen).transpose()?;
                let f = primary
                    .as_ref()
                    .zip(lf.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                let r = retain
                    .as_ref()
                    .zip(lr.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                o.loss(f.as_ref(), r.as_ref().zip(vanilla.as_ref()))
            }
            ObjectiveSpec::Npo(o) => {
                let p = need(primary.as_ref(), "forget", name)?;
                let (l, reference_logits) = (forward(model, p)?, frozen(p)?);
                let lr = logits(&retain)?;
                let r = retain
                    .as_ref()
                    .zip(lr.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                o.loss(&p.batch.pass(&l), &reference_logits, r.as_ref())
            }
            ObjectiveSpec::SimNpo(o) => {
                let p = need(primary.as_ref(), "forget", name)?;
                let l = forward(model, p)?;
                let lr = logits(&retain)?;
                let r = retain
                    .as_ref()
                    .zip(lr.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                o.loss(&p.batch.pass(&l), r.as_ref())
            }
            ObjectiveSpec::IdkNll(o) => {
                let i = need(idk.as_ref(), "refusal", name)?;
                let l = forward(model, i)?;
                let lr = logits(&retain)?;
                let r = retain
                    .as_ref()
                    .zip(lr.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                o.loss(&i.batch.pass(&l), r.as_ref())
            }
            ObjectiveSpec::IdkDpo(o) => {
                let i = need(idk.as_ref(), "refusal", name)?;
                let p = need(primary.as_ref(), "forget", name)?;
                let (li, lf) = (forward(model, i)?, forward(model, p)?);
                let (ri, rf) = (frozen(i)?, frozen(p)?);
                let lr = logits(&retain)?;
                let r = retain
                    .as_ref()
                    .zip(lr.as_ref())
                    .map(|(e, l)| e.batch.pass(l));
                o.loss(&i.batch.pass(&li), &p.batch.pass(&lf), &ri, &rf, r.as_ref())
            }
            ObjectiveSpec::Rmu(o) => {
                let p = need(primary.as_ref(), "forget", name)?;
                let r = need(retain.as_ref(), "retain", name)?;
                let control = need(self.control.as_ref(), "control vector", name)?;
                let m = reference
                    .ok_or_else(|| Error::param("reference model", "none", "rmu needs one"))?;
                let (hf, hr) = (hidden(model, p, o.layer)?, hidden(model, r, o.layer)?);
                let frozen_r = hidden(m, r, o.layer)?.detach();
                o.loss(
                    control,
                    &Hidden {
                        states: &hf,
                        attention_mask: Some(&p.batch.attention_mask),
                    },
                    &Hidden {
                        states: &hr,
                        attention_mask: Some(&r.batch.attention_mask),
                    },
                    &frozen_r,
                )
            }
        }
    }
}
