//! [`Methods`]: the reports of several models on the same benchmark, side by side (the
//! vanilla model and every unlearning method), as one table, one JSON and one display.

use crate::display::Table;
use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::report::Report;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// Named reports in the order given (the first is usually `vanilla`).
///
/// ```no_run
/// # fn demo(vanilla: mllmu::eval::Report, ga: mllmu::eval::Report) -> mllmu::Result<()> {
/// let m = mllmu::eval::Methods::new(vec![("vanilla".into(), vanilla), ("ga".into(), ga)])?;
/// println!("{m}"); // one row per set × task × modality, one column per method
/// let json = m.summary_json(); // {"vanilla": {"sets": ..}, "ga": {"sets": ..}}
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Methods {
    /// `(method name, report)`, in display order.
    pub reports: Vec<(String, Report)>,
}

impl Methods {
    /// Collects named reports; names must be unique and non-empty.
    pub fn new(reports: Vec<(String, Report)>) -> Result<Methods> {
        for (i, (name, _)) in reports.iter().enumerate() {
            if name.trim().is_empty() || reports[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::param(
                    "methods",
                    name,
                    "each method needs its own non-empty name",
                ));
            }
        }
        Ok(Methods { reports })
    }

    /// The report of `name`.
    pub fn get(&self, name: &str) -> Option<&Report> {
        self.reports.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// `(name, report)` pairs borrowed, the shape the figures take.
    pub fn labelled(&self) -> Vec<(&str, &Report)> {
        self.reports.iter().map(|(n, r)| (n.as_str(), r)).collect()
    }

    /// `{name: <Report::summary_json>}`, in display order.
    pub fn summary_json(&self) -> Value {
        let mut m = Map::new();
        for (name, r) in &self.reports {
            m.insert(name.clone(), r.summary_json());
        }
        Value::Object(m)
    }

    /// One row per evaluated set × task × modality, one column per method: accuracy (%)
    /// for classification and cloze, ROUGE-L for generation.
    pub fn table(&self) -> Table {
        let mut header = vec!["set".to_string(), "task".into(), "modality".into()];
        header.extend(self.reports.iter().map(|(n, _)| n.clone()));
        let mut t = Table::new(
            "Scores by method (accuracy %, generation ROUGE-L)",
            header,
        );
        let sets: Vec<EvalMode> = EvalMode::ALL
            .into_iter()
            .filter(|s| self.reports.iter().any(|(_, r)| r.manifest.sets.contains(s)))
            .collect();
        for set in sets {
            for task in [Task::Classification, Task::Cloze, Task::Generation] {
                for m in Modality::ALL {
                    let mut row = vec![
                        set.as_str().to_string(),
                        task.as_str().to_string(),
                        m.as_str().to_string(),
                    ];
                    for (_, r) in &self.reports {
                        row.push(match r.cell(set, task, m) {
                            Some(c) if c.n > 0 => match task {
                                Task::Generation => {
                                    c.rouge_l.map_or("-".into(), |v| format!("{v:.3}"))
                                }
                                _ => c.accuracy.map_or("-".into(), |v| format!("{v:.1}")),
                            },
                            _ => "-".into(),
                        });
                    }
                    t.push(row);
                }
            }
        }
        t
    }

    /// The table as HTML.
    pub fn to_html(&self) -> String {
        self.table().to_html()
    }

    /// Rich display in evcxr notebooks.
    pub fn evcxr_display(&self) {
        crate::display::print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for Methods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table().fmt(f)
    }
}
