//! [`Methods::paired`] as a display table and as a polars DataFrame (`mllmu compare` prints
//! the table; a notebook shows either).

use crate::display::Table;
use crate::eval::frame::column;
use crate::eval::Methods;
use crate::Result;
use polars::prelude::DataFrame;

impl Methods {
    /// The paired differences against `baseline` as a table: run, set, task, modality,
    /// metric, difference, 95 % interval over profiles and sign-flip p-value.
    ///
    /// ```no_run
    /// let m = mllmu::eval::Methods::load(&["mllmu-demo/eval/vanilla".into(), "mllmu-demo/eval/ga".into()])?;
    /// println!("{}", m.paired_table("vanilla")?);
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn paired_table(&self, baseline: &str) -> Result<Table> {
        let mut t = Table::new(
            format!("Paired differences against {baseline} (95 % CI over profiles, sign-flip p)"),
            [
                "run", "set", "task", "modality", "metric", "diff", "95% CI", "p",
            ],
        );
        for p in self.paired(baseline)? {
            t.push([
                p.run,
                p.set,
                p.task,
                p.modality,
                p.metric,
                format!("{:+.3}", p.diff),
                format!("[{:+.3}, {:+.3}]", p.ci95[0], p.ci95[1]),
                format!("{:.3}", p.p_value),
            ]);
        }
        Ok(t)
    }

    /// The paired differences against `baseline` as a DataFrame with the columns of
    /// `mllmu compare --json`'s `"paired"` entries (`ci95` split into `ci95_low` and
    /// `ci95_high`).
    ///
    /// ```no_run
    /// let m = mllmu::eval::Methods::load(&["mllmu-demo/eval/vanilla".into(), "mllmu-demo/eval/ga".into()])?;
    /// let df = m.paired_frame("vanilla")?;
    /// assert!(df.column("p_value").is_ok());
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn paired_frame(&self, baseline: &str) -> Result<DataFrame> {
        let p = self.paired(baseline)?;
        let columns = vec![
            column("run", &p, |p| p.run.clone()),
            column("baseline", &p, |p| p.baseline.clone()),
            column("set", &p, |p| p.set.clone()),
            column("task", &p, |p| p.task.clone()),
            column("modality", &p, |p| p.modality.clone()),
            column("metric", &p, |p| p.metric.clone()),
            column("diff", &p, |p| p.diff),
            column("ci95_low", &p, |p| p.ci95[0]),
            column("ci95_high", &p, |p| p.ci95[1]),
            column("p_value", &p, |p| p.p_value),
        ];
        Ok(DataFrame::new(p.len(), columns)?)
    }
}
