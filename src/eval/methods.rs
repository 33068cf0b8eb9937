//! [`Methods`]: the reports of several models on the same benchmark, side by side (the
//! vanilla model and every unlearning method), as one table, one JSON and one display.

use crate::display::Table;
use crate::eval::compare::compare;
use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::report::{set_key, task_key, Report};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

/// One paired difference of a run against the baseline on one set × task × modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The run.
    pub run: String,
    /// The baseline run.
    pub baseline: String,
    /// `forget`, `test`, `retain` or `celebrity`.
    pub set: String,
    /// `classification`, `cloze` or `generation`.
    pub task: String,
    /// `image_textual` or `pure_text`.
    pub modality: String,
    /// `accuracy` (percent) or `rougeL`.
    pub metric: String,
    /// Mean of run − baseline over the paired questions.
    pub diff: f64,
    /// 95 % bootstrap interval over profiles.
    pub ci95: [f64; 2],
    /// Two-sided sign-flip permutation p-value.
    pub p_value: f64,
}

/// A cell's headline score as the tables show it: accuracy (%) to one decimal, generation
/// ROUGE-L to three; `-` for a cell with no scored question.
fn headline(report: &Report, set: EvalMode, task: Task, m: Modality) -> String {
    match report.cell(set, task, m) {
        Some(c) if c.n > 0 => match task {
            Task::Generation => c.rouge_l.map_or("-".into(), |v| format!("{v:.3}")),
            _ => c.accuracy.map_or("-".into(), |v| format!("{v:.1}")),
        },
        _ => "-".into(),
    }
}

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

    /// Loads the `report.json` of each run folder (an `mllmu eval` output), named by the
    /// folder's name.
    ///
    /// ```no_run
    /// let m = mllmu::eval::Methods::load(&["mllmu-demo/eval/vanilla".into(), "mllmu-demo/eval/ga".into()])?;
    /// assert_eq!(m.reports[1].0, "ga");
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn load(dirs: &[PathBuf]) -> Result<Methods> {
        let mut reports = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string());
            let path = dir.join(crate::eval::report::REPORT_FILE);
            if !path.is_file() {
                return Err(Error::param(
                    "RUN_DIR",
                    dir.display(),
                    format!(
                        "{} has no report.json\nhint: give folders written by `mllmu eval --out`",
                        dir.display()
                    ),
                ));
            }
            reports.push((name, Report::load(&path)?));
        }
        Methods::new(reports)
    }

    /// Loads every run folder under `root` (each subfolder holding a `report.json`, as
    /// `mllmu demo` writes them under `DIR/eval/`), in name order with `vanilla` first.
    ///
    /// ```no_run
    /// let m = mllmu::eval::Methods::load_all("mllmu-demo/eval")?;
    /// assert_eq!(m.reports[0].0, "vanilla");
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn load_all(root: impl AsRef<std::path::Path>) -> Result<Methods> {
        let root = root.as_ref();
        let entries = std::fs::read_dir(root).map_err(|e| Error::io("read", root, e))?;
        let entries = entries.map(|e| e.map(|e| e.path()));
        let mut dirs = (entries.collect::<std::io::Result<Vec<_>>>())
            .map_err(|e| Error::io("read", root, e))?;
        dirs.retain(|dir| dir.join(crate::eval::report::REPORT_FILE).is_file());
        if dirs.is_empty() {
            return Err(Error::param(
                "RUN_DIR",
                root.display(),
                format!(
                    "no folder under {} holds a report.json\nhint: run `mllmu demo --out DIR` and give DIR/eval",
                    root.display()
                ),
            ));
        }
        dirs.sort_by_key(|d| (d.file_name().is_none_or(|n| n != "vanilla"), d.clone()));
        Methods::load(&dirs)
    }

    /// Paired differences of every other run against `baseline` (each cell both evaluated).
    pub fn paired(&self, baseline: &str) -> Result<Vec<Paired>> {
        let names: Vec<&str> = self.reports.iter().map(|(n, _)| n.as_str()).collect();
        let unknown = format!("no run of that name; the runs are {}", names.join(", "));
        let base = self
            .get(baseline)
            .ok_or_else(|| Error::param("--baseline", baseline, unknown))?;
        let mut out = Vec::new();
        for (name, r) in &self.reports {
            if name == baseline {
                continue;
            }
            for row in compare(base, r)?.rows {
                out.push(Paired {
                    run: name.clone(),
                    baseline: baseline.to_string(),
                    set: set_key(row.set).into(),
                    task: task_key(row.task).into(),
                    modality: row.modality.as_str().to_lowercase(),
                    metric: if row.task == Task::Generation {
                        "rougeL"
                    } else {
                        "accuracy"
                    }
                    .into(),
                    diff: row.difference,
                    ci95: [row.low, row.high],
                    p_value: row.p_value,
                });
            }
        }
        Ok(out)
    }

    /// The JSON of `mllmu compare --json`: `{"runs": [NAME...], "table": {NAME: <eval --json
    /// summary, with "beyond" / "beyond_ci95" when measured>}, "paired": [{"run", "baseline", "set", "task", "modality", "metric", "diff",
    /// "ci95": [lo, hi], "p_value"}]}`.
    pub fn compare_json(&self, baseline: &str) -> Result<Value> {
        Ok(json!({
            "runs": self.reports.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            "table": self.summary_json(),
            "paired": self.paired(baseline)?,
        }))
    }

    /// The paper's table: one row per method; columns set × task × modality (accuracy %,
    /// generation ROUGE-L), the cells no run evaluated left out.
    pub fn paper_table(&self) -> Table {
        let mut cols = Vec::new();
        for set in EvalMode::ALL {
            for task in [Task::Classification, Task::Cloze, Task::Generation] {
                for m in Modality::ALL {
                    if self
                        .reports
                        .iter()
                        .any(|(_, r)| r.cell(set, task, m).is_some_and(|c| c.n > 0))
                    {
                        cols.push((set, task, m));
                    }
                }
            }
        }
        let mut header = vec!["method".to_string()];
        header.extend(cols.iter().map(|(s, t, m)| {
            let t = match t {
                Task::Classification => "MC",
                Task::Cloze => "cloze",
                Task::Generation => "gen",
            };
            let m = match m {
                Modality::ImageTextual => "img",
                Modality::PureText => "txt",
            };
            format!("{} {t} {m}", set_key(*s))
        }));
        let mut t = Table::new(
            "Scores by method (accuracy %, generation ROUGE-L; img = with the portrait, txt = text only)",
            header,
        );
        for (name, r) in &self.reports {
            let cells = cols.iter().map(|&(set, task, m)| headline(r, set, task, m));
            t.push(std::iter::once(name.clone()).chain(cells));
        }
        t
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
        let runs = self.reports.iter();
        Value::Object(
            runs.map(|(name, r)| (name.clone(), r.summary_json()))
                .collect(),
        )
    }

    /// One row per evaluated set × task × modality, one column per method: accuracy (%)
    /// for classification and cloze, ROUGE-L for generation.
    pub fn table(&self) -> Table {
        let mut header = vec!["set".to_string(), "task".into(), "modality".into()];
        header.extend(self.reports.iter().map(|(n, _)| n.clone()));
        let mut t = Table::new("Scores by method (accuracy %, generation ROUGE-L)", header);
        let sets: Vec<EvalMode> = EvalMode::ALL
            .into_iter()
            .filter(|s| {
                self.reports
                    .iter()
                    .any(|(_, r)| r.manifest.sets.contains(s))
            })
            .collect();
        for set in sets {
            for task in [Task::Classification, Task::Cloze, Task::Generation] {
                for m in Modality::ALL {
                    let mut row = vec![
                        set.as_str().to_string(),
                        task.as_str().to_string(),
                        m.as_str().to_string(),
                    ];
                    row.extend(self.reports.iter().map(|(_, r)| headline(r, set, task, m)));
                    t.push(row);
                }
            }
        }
        t
    }

    /// The beyond numbers of the runs that have them, one column per run ([`beyond_table`]);
    /// `None` when no run was measured.
    ///
    /// [`beyond_table`]: crate::eval::beyond::table::beyond_table
    pub fn beyond_table(&self) -> Option<Table> {
        let runs: Vec<(&str, &crate::eval::beyond::BeyondRun)> = self
            .reports
            .iter()
            .filter_map(|(n, r)| r.beyond.as_ref().map(|b| (n.as_str(), b)))
            .collect();
        (!runs.is_empty()).then(|| crate::eval::beyond::table::beyond_table(&runs))
    }

    fn tables(&self) -> Vec<Table> {
        std::iter::once(self.table())
            .chain(self.beyond_table())
            .collect()
    }
}

table_views!(
    Methods,
    "The table as HTML (and the beyond table, when a run has the numbers)."
);
