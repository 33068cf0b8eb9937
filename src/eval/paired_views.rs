//! [`Methods::paired`] as a display table and as a polars DataFrame (`mllmu compare` prints
//! the table; a notebook shows either).

use crate::display::Table;
use crate::eval::Methods;
use crate::Result;
use polars::prelude::{Column, DataFrame, NamedFrom, Series};

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
        let paired = self.paired(baseline)?;
        let text = |name: &str, f: &dyn Fn(&crate::eval::methods::Paired) -> &str| {
            Column::from(Series::new(
                name.into(),
                paired.iter().map(f).collect::<Vec<&str>>(),
            ))
        };
        let num = |name: &str, f: &dyn Fn(&crate::eval::methods::Paired) -> f64| {
            Column::from(Series::new(
                name.into(),
                paired.iter().map(f).collect::<Vec<f64>>(),
            ))
        };
        let columns = vec![
            text("run", &|p| &p.run),
            text("baseline", &|p| &p.baseline),
            text("set", &|p| &p.set),
            text("task", &|p| &p.task),
            text("modality", &|p| &p.modality),
            text("metric", &|p| &p.metric),
            num("diff", &|p| p.diff),
            num("ci95_low", &|p| p.ci95[0]),
            num("ci95_high", &|p| p.ci95[1]),
            num("p_value", &|p| p.p_value),
        ];
        Ok(DataFrame::new(paired.len(), columns)?)
    }
}
