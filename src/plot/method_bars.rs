//! The paper's results table as bars: one panel per set (forget, test, retain, celebrity)
//! and task (classification accuracy, cloze accuracy, generation ROUGE-L), the two
//! modalities side by side, one bar per method with its 95 % interval.

use crate::bench::Modality;
use crate::eval::items::EvalMode;
use crate::eval::Report;
use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::plot::style::{colour, error_bar, legend, require_some, set_name, swatches, titled};
use crate::plot::style::{Layout, Ticks};
use crate::plot::Score;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// The three panels of a set, in the paper's column order.
const TASKS: [Score; 3] = [
    Score::ClassificationAccuracy,
    Score::ClozeAccuracy,
    Score::RougeL,
];

/// Figure width in pixels.
const WIDTH: u32 = 1200;
/// Height of one row of panels.
const ROW_HEIGHT: u32 = 270;
/// Height of the title and of the legend row.
const HEADER: u32 = 40;

/// One method's bar: its value and interval (`None` when the cell has no question).
type Bar = Option<(f64, Option<(f64, f64)>)>;

/// One panel: per modality, one bar per method.
struct Panel {
    set: EvalMode,
    score: Score,
    bars: [Vec<Bar>; 2],
}

struct MethodBars {
    methods: Vec<String>,
    panels: Vec<Panel>,
    rows: usize,
}

/// The short modality names on the x axis.
fn modality_name(m: Modality) -> &'static str {
    match m {
        Modality::ImageTextual => "image+text",
        Modality::PureText => "text only",
    }
}

/// The top of a ROUGE-L axis: a round value above every bar and whisker, at most 1.
fn rouge_top(max: f64) -> f64 {
    let want = (max * 1.15).max(0.01);
    [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
        .into_iter()
        .find(|&t| t >= want)
        .unwrap_or(1.0)
}

impl Panel {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let caption = format!("{} set: {}", set_name(self.set), self.score.label());
        let empty = self.bars.iter().flatten().all(Option::is_none);
        let top = match self.score {
            Score::RougeL => rouge_top(
                self.bars
                    .iter()
                    .flatten()
                    .flatten()
                    .map(|(v, ci)| ci.map_or(*v, |c| c.1.max(*v)))
                    .fold(0.0, f64::max),
            ),
            // A little headroom keeps a full bar's interval cap visible.
            _ => 105.0,
        };
        let x = Ticks::new(0.0..2.0, vec![0.5, 1.5]);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FAMILY, 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(x, 0f64..top)
            .map_err(plot_err)?;
        let digits = if top <= 0.1 {
            3
        } else if top <= 1.0 {
            2
        } else {
            0
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| {
                modality_name(Modality::ALL[if *v < 1.0 { 0 } else { 1 }]).into()
            })
            .y_label_formatter(&|v| format!("{v:.digits$}"))
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .label_style((FAMILY, 12))
            .draw()
            .map_err(plot_err)?;
        if empty {
            chart
                .plotting_area()
                .draw(&Text::new(
                    "no scored questions",
                    (0.75, top * 0.5),
                    (FAMILY, 13).into_font().color(&BLACK.mix(0.6)),
                ))
                .map_err(plot_err)?;
            return Ok(());
        }
        let n = self.bars[0].len().max(1) as f64;
        let width = 0.8 / n;
        for (g, bars) in self.bars.iter().enumerate() {
            for (m, bar) in bars.iter().enumerate() {
                let Some((v, ci)) = *bar else { continue };
                let left = g as f64 + 0.1 + m as f64 * width;
                let (l, r) = (left + 0.08 * width, left + 0.92 * width);
                chart
                    .plotting_area()
                    .draw(&Rectangle::new([(l, 0.0), (r, v)], colour(m).filled()))
                    .map_err(plot_err)?;
                // The top edge as a line, so a bar of 0 still shows (no bar means no
                // questions).
                chart
                    .plotting_area()
                    .draw(&PathElement::new(
                        vec![(l, v), (r, v)],
                        colour(m).stroke_width(2),
                    ))
                    .map_err(plot_err)?;
                if let Some((lo, hi)) = ci {
                    let mid = (l + r) / 2.0;
                    error_bar(&mut chart, (mid, lo), (mid, hi), BLACK.stroke_width(1))?;
                }
            }
        }
        Ok(())
    }
}

impl Draw for MethodBars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let title = "Results per set and task (bars: methods; whiskers: 95 % CI over profiles)";
        let (key, grid) = titled(root, title)?.split_vertically(HEADER);
        let entries = swatches(self.methods.iter().cloned());
        legend(&key, &entries, Layout::Row)?;
        let cells = grid.split_evenly((self.rows, TASKS.len()));
        for (panel, area) in self.panels.iter().zip(cells.iter()) {
            panel.draw(area)?;
        }
        Ok(())
    }
}

/// Grouped bars of every labelled report: one panel per evaluated set (forget, test,
/// retain, celebrity; only sets some report holds) and task (classification accuracy %,
/// cloze accuracy %, generation ROUGE-L); in each panel the two modalities (image+text,
/// text only), one bar per method in a colour kept across panels, with the 95 % interval
/// of [`CellSummary::ci`](crate::eval::report::CellSummary::ci) as whiskers. A cell without
/// questions has no bar (its 0 would read as a score).
///
/// ```
/// # fn demo(vanilla: &mllmu::eval::Report, ga: &mllmu::eval::Report) -> mllmu::Result<()> {
/// let fig = mllmu::plot::method_bars(&[("vanilla", vanilla), ("GA", ga)])?;
/// fig.save_png("results.png")?;
/// # Ok(()) }
/// ```
pub fn method_bars(reports: &[(&str, &Report)]) -> Result<Figure> {
    require_some(reports, "reports", "report")?;
    let sets: Vec<EvalMode> = EvalMode::ALL
        .into_iter()
        .filter(|&set| {
            reports
                .iter()
                .any(|(_, r)| r.summary.iter().any(|c| c.set == set && c.n > 0))
        })
        .collect();
    if sets.is_empty() {
        let names: Vec<&str> = reports.iter().map(|(n, _)| *n).collect();
        return Err(Error::param(
            "reports",
            names.join(", "),
            "no report has a scored question\nhint: evaluate at least one set (Evaluate::with_sets)",
        ));
    }
    let mut panels = Vec::with_capacity(sets.len() * TASKS.len());
    for &set in &sets {
        for score in TASKS {
            let bars = Modality::ALL.map(|m| {
                reports
                    .iter()
                    .map(|(_, r)| {
                        let c = r.cell(set, score.task(), m)?;
                        let v = score.cell_value(c)?;
                        Some((v, c.ci.map(|ci| (ci.low, ci.high))))
                    })
                    .collect()
            });
            panels.push(Panel { set, score, bars });
        }
    }
    let rows = sets.len();
    Figure::render(
        &MethodBars {
            methods: reports.iter().map(|(n, _)| n.to_string()).collect(),
            panels,
            rows,
        },
        (WIDTH, 2 * HEADER + 10 + rows as u32 * ROW_HEIGHT),
    )
}

#[cfg(test)]
mod tests {
    use super::rouge_top;

    #[test]
    fn the_rouge_axis_ends_on_a_round_value_above_the_data() {
        assert_eq!(rouge_top(0.0), 0.01);
        assert_eq!(rouge_top(0.07), 0.1);
        assert_eq!(rouge_top(0.42), 0.5);
        assert_eq!(rouge_top(0.95), 1.0);
    }
}
