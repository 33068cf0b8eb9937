//! The utility-versus-forgetting trade-off: one point per model, forget-set score on x
//! (lower is more forgetting), retain-set score on y (higher is more utility).

use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::Report;
use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Which score a trade-off axis shows.
///
/// ```
/// use mllmu::plot::Score;
/// assert_eq!(Score::default(), Score::RougeL);
/// assert_eq!(Score::ClassificationAccuracy.label(), "classification accuracy (%)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Score {
    /// Mean generation ROUGE-L F (0-1), the benchmark's most stable number.
    #[default]
    RougeL,
    /// Classification accuracy in percent.
    ClassificationAccuracy,
    /// Cloze (fill-in-the-blank) accuracy in percent.
    ClozeAccuracy,
}

impl Score {
    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            Score::RougeL => "generation ROUGE-L",
            Score::ClassificationAccuracy => "classification accuracy (%)",
            Score::ClozeAccuracy => "cloze accuracy (%)",
        }
    }

    fn task(self) -> Task {
        match self {
            Score::RougeL => Task::Generation,
            Score::ClassificationAccuracy => Task::Classification,
            Score::ClozeAccuracy => Task::Cloze,
        }
    }

    /// This score of `report` on `set`, the question-weighted mean over both modalities;
    /// `None` when the set was not evaluated or has no scored question.
    ///
    /// The weighting follows the question counts, so a modality with more questions counts
    /// more (the reference reports the two modalities apart; see [`Report::cell`]).
    pub fn of(self, report: &Report, set: EvalMode) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0usize);
        for m in Modality::ALL {
            let Some(c) = report.cell(set, self.task(), m) else {
                continue;
            };
            let v = match self {
                Score::RougeL => c.rouge_l,
                _ => c.accuracy,
            };
            if let (Some(v), true) = (v, c.n > 0) {
                sum += v * c.n as f64;
                n += c.n;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }
}

struct Tradeoff {
    points: Vec<(String, f64, f64)>,
    score: Score,
    utility_set: EvalMode,
}

impl Draw for Tradeoff {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (lo_x, hi_x) = span(self.points.iter().map(|p| p.1));
        let (lo_y, hi_y) = span(self.points.iter().map(|p| p.2));
        let utility = match self.utility_set {
            EvalMode::RetainCelebrity => "celebrity",
            EvalMode::Test => "test",
            _ => "retain",
        };
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Utility vs forgetting ({})", self.score.label()),
                (FAMILY, 20),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(lo_x..hi_x, lo_y..hi_y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(format!(
                "forget set {} (lower = forgotten)",
                self.score.label()
            ))
            .y_desc(format!(
                "{utility} set {} (higher = kept)",
                self.score.label()
            ))
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for (i, (name, x, y)) in self.points.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(std::iter::once(Circle::new((*x, *y), 6, colour.filled())))
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (*x, *y),
                    (FAMILY, 14).into_font().color(&BLACK),
                )))
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

/// A padded axis range around some values (a unit span around a single value).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let pad = ((hi - lo) * 0.15).max(if hi.abs() > 1.5 { 2.0 } else { 0.02 });
    (lo - pad, hi + pad)
}

/// Plots one point per labelled report: `score` on the forget set (x) against `score` on the
/// shared retain set (y). A report missing either set is an error naming it.
///
/// ```
/// # fn demo(vanilla: &mllmu::eval::Report, ga: &mllmu::eval::Report) -> mllmu::Result<()> {
/// let fig = mllmu::plot::tradeoff(&[("vanilla", vanilla), ("GA", ga)], mllmu::plot::Score::RougeL)?;
/// fig.save_svg("tradeoff.svg")?;
/// # Ok(()) }
/// ```
pub fn tradeoff(reports: &[(&str, &Report)], score: Score) -> Result<Figure> {
    tradeoff_against(reports, score, EvalMode::RetainShared)
}

/// As [`tradeoff`], with the utility axis on another set (e.g. the celebrities).
pub fn tradeoff_against(
    reports: &[(&str, &Report)],
    score: Score,
    utility_set: EvalMode,
) -> Result<Figure> {
    if reports.is_empty() {
        return Err(Error::param(
            "reports",
            "[]",
            "give at least one labelled report",
        ));
    }
    let mut points = Vec::with_capacity(reports.len());
    for (name, r) in reports {
        let missing = |set: EvalMode| {
            Error::param(
                "reports",
                name,
                format!(
                    "the report has no scored {} questions on the {} set\nhint: evaluate that set (Evaluate::with_sets)",
                    score.label(),
                    set.as_str()
                ),
            )
        };
        let x = score
            .of(r, EvalMode::Forget)
            .ok_or_else(|| missing(EvalMode::Forget))?;
        let y = score
            .of(r, utility_set)
            .ok_or_else(|| missing(utility_set))?;
        points.push((name.to_string(), x, y));
    }
    Figure::render(
        &Tradeoff {
            points,
            score,
            utility_set,
        },
        (720, 520),
    )
}
