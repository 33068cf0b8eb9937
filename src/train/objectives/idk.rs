//! IdkNLL: teach the model to refuse on the forget questions.
//!
//! Each forget question is paired with a refusal answer drawn from [`IDK_TEMPLATES`]
//! ([`IdkAnswers`], seeded per sample) and the model is fine-tuned on those pairs:
//!
//! ```text
//! L = NLL(idk batch) + w_r · NLL(retain)
//! ```
//!
//! TOFU's "idk" (locuslab/tofu `dataloader.py`) concatenates the refusal and retain batches
//! into one token mean; the two means are kept separate here so that the retain weight
//! means the same thing for every batch size. The templates are this project's own
//! wording.

use super::{check_retain, plus_retain, required, Needs, Objective, Passes};
use crate::train::loss::{token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Refusal answers used by IdkNLL and IdkDPO.
pub const IDK_TEMPLATES: &[&str] = &[
    "I don't know.",
    "I'm not sure.",
    "I have no idea.",
    "I can't answer that.",
    "I don't have that information.",
    "I'm afraid I don't know the answer to that.",
    "That is something I don't know.",
    "I can't say.",
    "I'm unable to answer that question.",
    "I don't have any knowledge about that.",
    "Sorry, I don't know.",
    "I have no information about this.",
    "That's not something I can tell you.",
    "I really couldn't say.",
    "I'm not aware of that.",
    "I don't recall anything about that.",
    "I have no way of knowing that.",
    "Unfortunately, I can't help with that question.",
    "I'm not able to provide that information.",
    "I lack the information needed to answer.",
    "I can't recall that.",
    "Nothing I know answers that.",
    "I'm uncertain, so I can't answer.",
    "I don't know anything about this person.",
];

/// Seeded choice of a refusal for each sample: the same `(seed, key)` always gives the same
/// template, whatever the order in which samples are visited (resume-safe).
///
/// ```
/// use mllmu::train::objectives::{IdkAnswers, IDK_TEMPLATES};
/// let idk = IdkAnswers { seed: 7 };
/// assert_eq!(idk.pick(42), idk.pick(42));
/// assert!(IDK_TEMPLATES.contains(&idk.pick(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdkAnswers {
    /// The run's seed.
    pub seed: u64,
}

impl IdkAnswers {
    /// The refusal for the sample with this key (e.g. its index in the forget set):
    /// ChaCha8 seeded with `seed`, stream `key`, one uniform draw over the templates.
    pub fn pick(&self, key: u64) -> &'static str {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(key);
        IDK_TEMPLATES[rng.gen_range(0..IDK_TEMPLATES.len())]
    }
}

/// IdkNLL hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdkNll {
    /// Weight of the retain NLL (1, as TOFU's "idk" which trains on both).
    pub retain_weight: f64,
}

impl Default for IdkNll {
    fn default() -> Self {
        IdkNll { retain_weight: 1.0 }
    }
}

impl IdkNll {
    /// `NLL(idk) + w_r·NLL(retain)`.
    pub fn loss(&self, idk: &Pass, retain: Option<&Pass>) -> Result<Tensor> {
        let retain = check_retain("idk_nll", self.retain_weight, retain)?;
        plus_retain(token_mean_nll(idk)?, self.retain_weight, retain)
    }
}

impl Objective for IdkNll {
    fn name(&self) -> &'static str {
        "idk_nll"
    }

    fn needs(&self) -> Needs {
        Needs {
            idk: true,
            retain: self.retain_weight > 0.0,
            ..Needs::default()
        }
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        let idk = required(p.idk, "refusal", self.name())?;
        self.loss(&idk, p.retain.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn picks_are_seeded_spread_and_order_free() {
        let a = IdkAnswers { seed: 1 };
        let forward: Vec<&str> = (0..200).map(|k| a.pick(k)).collect();
        let backward: Vec<&str> = (0..200).rev().map(|k| a.pick(k)).collect();
        assert_eq!(forward, backward.into_iter().rev().collect::<Vec<_>>());
        let distinct: std::collections::HashSet<&str> = forward.iter().copied().collect();
        assert!(
            distinct.len() >= 20,
            "only {} templates used",
            distinct.len()
        );
        let other: Vec<&str> = (0..200).map(|k| IdkAnswers { seed: 2 }.pick(k)).collect();
        assert_ne!(forward, other);
    }

    #[test]
    fn templates_are_distinct_sentences() {
        let set: std::collections::HashSet<&&str> = IDK_TEMPLATES.iter().collect();
        assert_eq!(set.len(), IDK_TEMPLATES.len());
        assert!(IDK_TEMPLATES
            .iter()
            .all(|t| t.ends_with('.') && !t.contains('\n')));
    }

    #[test]
    fn loss_is_idk_nll_plus_weighted_retain() {
        let (di, dr) = (logits_data(0.1), logits_data(0.9));
        let (li, lr, labels) = (tensor(&di), tensor(&dr), labels());
        let o = IdkNll {
            retain_weight: 0.25,
        };
        let (pi, pr) = (Pass::new(&li, &labels, None), Pass::new(&lr, &labels, None));
        let got = scalar(&o.loss(&pi, Some(&pr)).unwrap());
        assert!((got - (mean_nll(&di) + 0.25 * mean_nll(&dr))).abs() < 1e-5);
        assert!(o.loss(&pi, None).is_err());
    }
}
