//! Training loss per optimiser step, one line per run.

use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::plot::style::Ticks;
use crate::train::LossHistory;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

struct Curves {
    runs: Vec<(String, Vec<(f64, f64)>)>,
    /// The largest step of any run.
    last_step: u64,
}

/// Integer tick positions from 0 past `last`: a round step (1, 2 or 5 times a power of ten)
/// giving at most ten intervals; the last tick is the first multiple at or after `last`.
pub(crate) fn step_ticks(last: u64) -> Vec<u64> {
    let last = last.max(1);
    let mut step = 1u64;
    'search: for scale in std::iter::successors(Some(1u64), |s| s.checked_mul(10)) {
        for m in [1, 2, 5] {
            step = m * scale;
            if last.div_ceil(step) <= 10 {
                break 'search;
            }
        }
    }
    let n = last.div_ceil(step);
    (0..=n).map(|k| k * step).collect()
}

impl Draw for Curves {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let pts = self.runs.iter().flat_map(|r| r.1.iter());
        let (mut y_lo, mut y_hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &(_, y) in pts {
            y_lo = y_lo.min(y);
            y_hi = y_hi.max(y);
        }
        let ticks = step_ticks(self.last_step);
        let x_hi = *ticks.last().unwrap_or(&1) as f64;
        let x_range = Ticks::new(0.0..x_hi, ticks.iter().map(|&t| t as f64).collect());
        let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption("Training loss", (FAMILY, 20))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range, (y_lo - pad)..(y_hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for (i, (name, line)) in self.runs.iter().enumerate() {
            let colour = crate::plot::style::colour(i);
            chart
                .draw_series(LineSeries::new(
                    line.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        crate::plot::style::series_labels(&mut chart)
    }
}

/// Plots the loss of each labelled run against its step (integer ticks on a round step, up
/// to the runs' last step). Non-finite losses are left out
/// (a diverged run's last point); a run with no finite loss is an error naming it.
///
/// ```
/// use mllmu::train::{LossHistory, LossRecord};
/// let mut h = LossHistory::default();
/// for step in 1..=3 {
///     h.push(LossRecord { step, epoch: 0, loss: 4.0 / step as f64, lr: 1e-3, samples_per_sec: 1.0, grad_norm: None });
/// }
/// let fig = mllmu::plot::loss_curves(&[("finetune", &h)])?;
/// assert!(fig.to_svg().contains("finetune"));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn loss_curves(runs: &[(&str, &LossHistory)]) -> Result<Figure> {
    crate::plot::style::require_some(runs, "runs", "loss history")?;
    let mut out = Vec::with_capacity(runs.len());
    for (name, h) in runs {
        let line: Vec<(f64, f64)> = h
            .records
            .iter()
            .filter(|r| r.loss.is_finite())
            .map(|r| (r.step as f64, r.loss))
            .collect();
        if line.is_empty() {
            return Err(Error::param(
                "runs",
                name,
                "the run has no finite loss to plot",
            ));
        }
        out.push((name.to_string(), line));
    }
    let last_step = runs
        .iter()
        .flat_map(|(_, h)| h.records.iter().map(|r| r.step as u64))
        .max()
        .unwrap_or(1);
    Figure::render(
        &Curves {
            runs: out,
            last_step,
        },
        (720, 440),
    )
}

#[cfg(test)]
mod tests {
    use super::step_ticks;

    #[test]
    fn ticks_are_round_integers_covering_the_last_step() {
        assert_eq!(step_ticks(0), vec![0, 1]);
        assert_eq!(step_ticks(3), vec![0, 1, 2, 3]);
        assert_eq!(step_ticks(10), (0..=10).collect::<Vec<_>>());
        assert_eq!(step_ticks(11), vec![0, 2, 4, 6, 8, 10, 12]);
        assert_eq!(step_ticks(250), vec![0, 50, 100, 150, 200, 250]);
        assert_eq!(step_ticks(251).last(), Some(&300));
        assert_eq!(step_ticks(1234).len(), 8);
    }
}
