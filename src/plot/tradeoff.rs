//! The utility-versus-forgetting trade-off: one point per model, forget-set score on x
//! (lower is more forgetting), retain-set score on y (higher is more utility), each with
//! 95 % whiskers on both axes from a profile bootstrap of the plotted score, and the Pareto
//! front (the methods no other method beats on both axes) as a dashed step line.

use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::metrics::bootstrap::{
    bootstrap_ci, BootstrapOptions, ConfidenceInterval, ProfileScore,
};
use crate::eval::report::CellSummary;
use crate::eval::Report;
use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::plot::labels::place_labels;
use crate::plot::style::{colour, error_bar, legend, require_some, set_name, swatches, titled};
use crate::plot::style::{Layout, Marker, CAP};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

    /// The task this score is read from.
    pub(crate) fn task(self) -> Task {
        match self {
            Score::RougeL => Task::Generation,
            Score::ClassificationAccuracy => Task::Classification,
            Score::ClozeAccuracy => Task::Cloze,
        }
    }

    /// This score of one summary cell; `None` when the cell has no scored question.
    pub(crate) fn cell_value(self, c: &CellSummary) -> Option<f64> {
        let v = match self {
            Score::RougeL => c.rouge_l,
            _ => c.accuracy,
        };
        v.filter(|_| c.n > 0)
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
            if let Some(v) = self.cell_value(c) {
                sum += v * c.n as f64;
                n += c.n;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }

    /// The bootstrap interval of [`Score::of`]: the set's questions of this score's task,
    /// both modalities pooled, resampled by profile with the report's own bootstrap settings
    /// and seed (as the per-cell intervals of [`Report::summary`]), so it repeats exactly.
    /// `None` when the set has no scored question of the task.
    ///
    /// The interval's `mean` is the plotted score itself (questions weigh equally, as in
    /// [`Score::of`]); ROUGE-L stays in 0-1, accuracies in percent.
    ///
    /// ```
    /// # fn demo(report: &mllmu::eval::Report) -> mllmu::Result<()> {
    /// use mllmu::eval::items::EvalMode;
    /// use mllmu::plot::Score;
    /// if let Some(ci) = Score::RougeL.ci(report, EvalMode::Forget)? {
    ///     println!("forget ROUGE-L {:.3} [{:.3}, {:.3}]", ci.mean, ci.low, ci.high);
    ///     assert!(ci.low <= ci.mean && ci.mean <= ci.high);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ci(self, report: &Report, set: EvalMode) -> Result<Option<ConfidenceInterval>> {
        let items: Vec<ProfileScore> = report
            .questions
            .iter()
            .filter(|q| q.set == set && q.task == self.task())
            .map(|q| ProfileScore::new(q.profile.clone(), q.score))
            .collect();
        if items.is_empty() {
            return Ok(None);
        }
        let opts = BootstrapOptions {
            seed: report.manifest.options.seed,
            ..report.manifest.options.bootstrap
        };
        bootstrap_ci(&items, &opts).map(Some)
    }
}

/// One method's point: the score on each axis with its interval.
struct Point {
    name: String,
    x: f64,
    y: f64,
    x_ci: Option<ConfidenceInterval>,
    y_ci: Option<ConfidenceInterval>,
}

struct Tradeoff {
    points: Vec<Point>,
    score: Score,
    utility_set: EvalMode,
}

/// The colour of the Pareto front.
const FRONT: RGBColor = RGBColor(60, 60, 60);

/// Width of the legend column right of the chart, in pixels.
const LEGEND_WIDTH: u32 = 180;

/// The indices of the points no other point dominates (lower or equal `x` and higher or
/// equal `y`, one of them strictly), sorted by `x` then `y`.
pub(crate) fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let dominated = |&(x, y): &(f64, f64)| {
        points
            .iter()
            .any(|&(ox, oy)| ox <= x && oy >= y && (ox < x || oy > y))
    };
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| !dominated(&points[i]))
        .collect();
    front.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[a].1.total_cmp(&points[b].1))
    });
    front
}

/// The staircase bounding the region the front dominates, through the sorted front points:
/// up from the bottom edge to the first point, then right and up through each next one,
/// then right to the edge.
fn staircase(front: &[(f64, f64)], bottom: f64, right: f64) -> Vec<(f64, f64)> {
    let mut path = Vec::with_capacity(2 * front.len() + 1);
    for (i, &(x, y)) in front.iter().enumerate() {
        let from = if i == 0 { bottom } else { front[i - 1].1 };
        path.push((x, from));
        path.push((x, y));
    }
    if let Some(&(_, y)) = front.last() {
        path.push((right, y));
    }
    path
}

impl Draw for Tradeoff {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let bounds =
            |v: f64, ci: &Option<ConfidenceInterval>| ci.map_or([v, v, v], |c| [v, c.low, c.high]);
        // Percentages stay near 0-100 (a margin keeps points at the ends visible).
        let clamp = |(lo, hi): (f64, f64)| match self.score {
            Score::RougeL => (lo, hi),
            _ => (lo.max(-5.0), hi.min(105.0)),
        };
        let (lo_x, hi_x) = clamp(span(self.points.iter().flat_map(|p| bounds(p.x, &p.x_ci))));
        let (lo_y, hi_y) = clamp(span(self.points.iter().flat_map(|p| bounds(p.y, &p.y_ci))));
        // Enough decimals to tell ticks about a tenth of the range apart.
        let digits =
            |lo: f64, hi: f64| (-((hi - lo) / 10.0).log10()).ceil().clamp(0.0, 4.0) as usize;
        let (dx, dy) = (digits(lo_x, hi_x), digits(lo_y, hi_y));
        let x_tick = |v: &f64| format!("{v:.dx$}");
        let y_tick = |v: &f64| format!("{v:.dy$}");
        let utility = set_name(self.utility_set);
        let body = titled(
            root,
            &format!("Utility vs forgetting ({})", self.score.label()),
        )?;
        let (w, _) = body.dim_in_pixel();
        let (plot, side) = body.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
        let mut entries = swatches(self.points.iter().map(|p| p.name.clone()));
        entries.push(("Pareto front".into(), Marker::Dashed(FRONT)));
        legend(&side.margin(30, 0, 6, 0), &entries, Layout::Column)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(60)
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
            .x_label_formatter(&x_tick)
            .y_label_formatter(&y_tick)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        let xy: Vec<(f64, f64)> = self.points.iter().map(|p| (p.x, p.y)).collect();
        let front: Vec<(f64, f64)> = pareto_front(&xy).into_iter().map(|i| xy[i]).collect();
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                staircase(&front, lo_y, hi_x),
                6,
                4,
                FRONT.stroke_width(2),
            )))
            .map_err(plot_err)?;
        for (i, p) in self.points.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            if let Some(c) = p.x_ci {
                error_bar(&mut chart, (c.low, p.y), (c.high, p.y), style)?;
            }
            if let Some(c) = p.y_ci {
                error_bar(&mut chart, (p.x, c.low), (p.x, c.high), style)?;
            }
        }
        let markers = self.points.iter().enumerate();
        chart
            .draw_series(markers.map(|(i, p)| Circle::new((p.x, p.y), 6, colour(i).filled())))
            .map_err(plot_err)?;
        // Labels go where they cover no other label, marker or whisker (see `labels`).
        let font: TextStyle = (FAMILY, 14).into_font().color(&BLACK);
        let px = |p: (f64, f64)| chart.backend_coord(&p);
        let mut obstacles = Vec::new();
        for p in &self.points {
            let (cx, cy) = px((p.x, p.y));
            obstacles.push((cx - 7, cy - 7, cx + 7, cy + 7));
            if let Some(c) = p.x_ci {
                let ((l, _), (r, _)) = (px((c.low, p.y)), px((c.high, p.y)));
                obstacles.push((l - 1, cy - CAP, r + 1, cy + CAP));
            }
            if let Some(c) = p.y_ci {
                let ((_, t), (_, b)) = (px((p.x, c.high)), px((p.x, c.low)));
                obstacles.push((cx - CAP, t - 1, cx + CAP, b + 1));
            }
        }
        let anchors: Vec<(i32, i32)> = self.points.iter().map(|p| px((p.x, p.y))).collect();
        let sizes: Vec<(i32, i32)> = self
            .points
            .iter()
            .map(|p| {
                plot.estimate_text_size(&p.name, &font)
                    .map(|(w, h)| (w as i32, h as i32))
                    .unwrap_or((8 * p.name.len() as i32, 14))
            })
            .collect();
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let boxes = place_labels(
            &anchors,
            &sizes,
            &obstacles,
            (xs.start, ys.start, xs.end, ys.end),
        );
        let (bx, by) = plot.get_base_pixel();
        for (p, b) in self.points.iter().zip(boxes) {
            plot.draw(&Text::new(
                p.name.clone(),
                (b.0 - bx, b.1 - by),
                font.pos(Pos::new(HPos::Left, VPos::Top)),
            ))
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
/// shared retain set (y), with 95 % whiskers on both axes ([`Score::ci`]), a legend and the
/// Pareto front. A report missing either set is an error naming it.
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
///
/// ```
/// # fn demo(vanilla: &mllmu::eval::Report) -> mllmu::Result<()> {
/// use mllmu::{eval::items::EvalMode, plot::Score};
/// let fig = mllmu::plot::tradeoff_against(&[("vanilla", vanilla)], Score::ClassificationAccuracy, EvalMode::RetainCelebrity)?;
/// fig.save_png("tradeoff_celebrity.png")?;
/// # Ok(()) }
/// ```
pub fn tradeoff_against(
    reports: &[(&str, &Report)],
    score: Score,
    utility_set: EvalMode,
) -> Result<Figure> {
    require_some(reports, "reports", "report")?;
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
        let at = |set| score.of(r, set).ok_or_else(|| missing(set));
        points.push(Point {
            name: name.to_string(),
            x: at(EvalMode::Forget)?,
            y: at(utility_set)?,
            x_ci: score.ci(r, EvalMode::Forget)?,
            y_ci: score.ci(r, utility_set)?,
        });
    }
    Figure::render(
        &Tradeoff {
            points,
            score,
            utility_set,
        },
        (900, 560),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_keeps_the_points_nothing_beats_on_both_axes() {
        // (forget, utility): lower forget and higher utility are better.
        let pts = [(0.5, 0.5), (0.2, 0.45), (0.6, 0.3), (0.2, 0.4), (0.1, 0.1)];
        assert_eq!(pareto_front(&pts), vec![4, 1, 0]);
        // Equal points do not dominate each other.
        assert_eq!(pareto_front(&[(0.3, 0.3), (0.3, 0.3)]), vec![0, 1]);
        assert_eq!(pareto_front(&[]), Vec::<usize>::new());
    }

    #[test]
    fn the_staircase_runs_from_the_bottom_edge_to_the_right_edge() {
        let path = staircase(&[(0.1, 0.2), (0.5, 0.6)], 0.0, 1.0);
        assert_eq!(
            path,
            vec![(0.1, 0.0), (0.1, 0.2), (0.5, 0.2), (0.5, 0.6), (1.0, 0.6)]
        );
    }
}
