//! Training loss per optimiser step, one line per run.

use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::train::LossHistory;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

struct Curves {
    runs: Vec<(String, Vec<(f64, f64)>)>,
}

impl Draw for Curves {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let pts = self.runs.iter().flat_map(|r| r.1.iter());
        let (mut x_hi, mut y_lo, mut y_hi) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y) in pts {
            x_hi = x_hi.max(x);
            y_lo = y_lo.min(y);
            y_hi = y_hi.max(y);
        }
        let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption("Training loss", (FAMILY, 20))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_hi, (y_lo - pad)..(y_hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for (i, (name, line)) in self.runs.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
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
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 12))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}

/// Plots the loss of each labelled run against its step. Non-finite losses are left out
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
    if out.is_empty() {
        return Err(Error::param(
            "runs",
            "[]",
            "give at least one labelled loss history",
        ));
    }
    Figure::render(&Curves { runs: out }, (720, 440))
}
