//! The loss curve of a run: one record per optimizer step.
//!
//! Floats are stored in JSON as strings (`"2.302585092994046"`, `"NaN"`) so that they read
//! back bit for bit (serde_json's default float parser is not correctly rounded, and JSON
//! has no NaN); plain JSON numbers are accepted on input.

use crate::display::{html_block, print_evcxr, Table};
use serde::{Deserialize, Serialize};

/// One optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossRecord {
    /// Optimizer step, from 1.
    pub step: usize,
    /// Epoch, from 0.
    pub epoch: usize,
    /// The loss of the step (what was differentiated).
    #[serde(with = "exact")]
    pub loss: f64,
    /// The learning rate used.
    #[serde(with = "exact")]
    pub lr: f64,
    /// Training throughput over the step.
    #[serde(with = "exact")]
    pub samples_per_sec: f64,
    /// Gradient norm before clipping, when measured.
    #[serde(with = "exact_opt", default)]
    pub grad_norm: Option<f64>,
}

/// All records of a run, in step order.
///
/// ```
/// use mllmu::train::{LossHistory, LossRecord};
/// let mut h = LossHistory::default();
/// h.push(LossRecord { step: 1, epoch: 0, loss: 2.5, lr: 2e-5, samples_per_sec: 3.0, grad_norm: None });
/// assert!(h.to_string().contains("2.5000"));
/// assert!(h.to_html().contains("<td>2.5000</td>"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossHistory {
    /// The records.
    pub records: Vec<LossRecord>,
}

impl LossHistory {
    /// Appends a record.
    pub fn push(&mut self, record: LossRecord) {
        self.records.push(record);
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The latest record.
    pub fn last(&self) -> Option<&LossRecord> {
        self.records.last()
    }

    /// Drops records after `step` (resume from an earlier checkpoint).
    pub fn truncate_after(&mut self, step: usize) {
        self.records.retain(|r| r.step <= step);
    }

    /// The mean loss of each epoch, `(epoch, mean)` in epoch order.
    pub fn epoch_means(&self) -> Vec<(usize, f64)> {
        let mut out: Vec<(usize, f64, usize)> = Vec::new();
        for r in &self.records {
            match out.last_mut() {
                Some((e, sum, n)) if *e == r.epoch => {
                    *sum += r.loss;
                    *n += 1;
                }
                _ => out.push((r.epoch, r.loss, 1)),
            }
        }
        out.into_iter().map(|(e, s, n)| (e, s / n as f64)).collect()
    }

    fn table(&self) -> Table {
        let mut t = Table::new(
            "loss history",
            ["step", "epoch", "loss", "lr", "samples/s", "grad norm"],
        );
        for r in &self.records {
            t.push([
                r.step.to_string(),
                r.epoch.to_string(),
                format!("{:.4}", r.loss),
                format!("{:.3e}", r.lr),
                format!("{:.2}", r.samples_per_sec),
                r.grad_norm
                    .map(|g| format!("{g:.3}"))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        t
    }

    /// One HTML table for notebooks.
    pub fn to_html(&self) -> String {
        html_block(&[self.table().to_html()])
    }

    /// evcxr rich display (one `text/html` block).
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for LossHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table().fmt(f)
    }
}

/// f64 as a shortest round-trip string; reads strings or numbers.
mod exact {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// What the JSON may hold: a string with a number (or `NaN`, `inf`), or a number.
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Exact {
        Text(String),
        Number(f64),
    }

    impl Exact {
        pub(super) fn value<E: Error>(self) -> Result<f64, E> {
            match self {
                Exact::Text(v) => v
                    .parse::<f64>()
                    .map_err(|_| E::custom(format!("`{v}` is not a number"))),
                Exact::Number(v) => Ok(v),
            }
        }
    }

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{x:?}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Exact::deserialize(d)?.value()
    }
}

/// `Option<f64>` with [`exact`]; `null` is `None`.
mod exact_opt {
    use super::exact::Exact;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) => super::exact::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Exact>::deserialize(d)?
            .map(Exact::value)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize, epoch: usize, loss: f64) -> LossRecord {
        LossRecord {
            step,
            epoch,
            loss,
            lr: 2e-5 / 3.0,
            samples_per_sec: 1.0 / 7.0,
            grad_norm: Some(0.1 + 0.2),
        }
    }

    #[test]
    fn json_round_trip_is_bit_exact_including_nan() {
        let mut h = LossHistory::default();
        let awkward = [
            0.1 + 0.2,
            1.0 / 3.0,
            2.302585092994045,
            1e-300,
            123456789.12345679,
            f64::NAN,
            f64::INFINITY,
        ];
        for (i, &x) in awkward.iter().enumerate() {
            h.push(LossRecord {
                grad_norm: if i % 2 == 0 { Some(x) } else { None },
                ..record(i + 1, 0, x)
            });
        }
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains("\"loss\":\"NaN\""), "{json}");
        let back: LossHistory = serde_json::from_str(&json).unwrap();
        for (a, b) in h.records.iter().zip(&back.records) {
            assert_eq!(a.loss.to_bits(), b.loss.to_bits());
            assert_eq!(a.lr.to_bits(), b.lr.to_bits());
            assert_eq!(a.grad_norm.map(f64::to_bits), b.grad_norm.map(f64::to_bits));
        }
    }

    #[test]
    fn accepts_plain_numbers_and_rejects_garbage() {
        let r: LossRecord = serde_json::from_str(
            r#"{"step":1,"epoch":0,"loss":1.5,"lr":2,"samples_per_sec":"3.25"}"#,
        )
        .unwrap();
        assert_eq!(
            (r.loss, r.lr, r.samples_per_sec, r.grad_norm),
            (1.5, 2.0, 3.25, None)
        );
        let e = serde_json::from_str::<LossRecord>(
            r#"{"step":1,"epoch":0,"loss":"x","lr":2,"samples_per_sec":1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`x` is not a number"), "{e}");
    }

    #[test]
    fn displays_and_summarises() {
        let mut h = LossHistory::default();
        h.push(record(1, 0, 2.0));
        h.push(record(2, 0, 4.0));
        h.push(record(3, 1, 1.0));
        assert_eq!(h.epoch_means(), vec![(0, 3.0), (1, 1.0)]);
        let text = h.to_string();
        assert!(text.starts_with("loss history (3 rows)"), "{text}");
        assert!(
            text.contains("6.667e-6") && text.contains("0.300"),
            "{text}"
        );
        assert_eq!(h.to_html().matches("<tr>").count(), 4);
        h.truncate_after(2);
        assert_eq!(h.len(), 2);
        assert_eq!(h.last().map(|r| r.step), Some(2));
    }
}
