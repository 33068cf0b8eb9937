//! Forget quality against model utility, as the text-unlearning papers plot it (TOFU,
//! open-unlearning): one point per method, model utility (a retain-set score) on x, forget
//! quality (the KS p-value against the retain-only model) on a log-scale y. Up is forgetting
//! like a model never trained on the forget set; right is keeping what it should.

use crate::eval::items::EvalMode;
use crate::eval::Report;
use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::plot::style::colour;
use crate::plot::Score;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Smallest forget quality drawn (a p-value that underflowed to 0 sits on this floor).
const FLOOR: f64 = 1e-300;

struct Point {
    name: String,
    utility: f64,
    /// log10 of the forget quality.
    log_fq: f64,
}

struct ForgetQuality {
    points: Vec<Point>,
    score: Score,
}

/// `1e-3` for an integer decade, nothing between decades.
fn decade_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("1e{}", v.round() as i64)
    } else {
        String::new()
    }
}

impl Draw for ForgetQuality {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let lowest = self.points.iter().map(|p| p.log_fq).fold(0.0f64, f64::min);
        let (lo_y, hi_y) = (lowest.floor().min(-2.0) - 0.3, 0.3);
        let (mut lo_x, mut hi_x) = self
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.utility), b.max(p.utility))
            });
        let pad = ((hi_x - lo_x) * 0.15).max(if hi_x.abs() > 1.5 { 2.0 } else { 0.02 });
        (lo_x, hi_x) = (lo_x - pad, hi_x + pad);
        let decades = (hi_y - lo_y).ceil() as usize + 1;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Forget quality vs model utility ({})", self.score.label()),
                (FAMILY, 20),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(lo_x..hi_x, lo_y..hi_y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(format!("model utility: retain set {}", self.score.label()))
            .y_desc("forget quality (KS p vs retain-only model, log)")
            .y_labels(decades)
            .y_label_formatter(&decade_label)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for (i, p) in self.points.iter().enumerate() {
            chart
                .plotting_area()
                .draw(&Circle::new((p.utility, p.log_fq), 6, colour(i).filled()))
                .map_err(plot_err)?;
            chart
                .plotting_area()
                .draw(&Text::new(
                    p.name.clone(),
                    (p.utility, p.log_fq),
                    (FAMILY, 14).into_font().color(&BLACK),
                ))
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

/// Plots one point per labelled report that has a forget quality
/// ([`Report::beyond`] measured against a retain-only model): `utility` on the retain set
/// (x) against forget quality (log y). Reports without one are left out; none at all is an
/// error.
///
/// ```
/// # fn demo(reports: &[(&str, &mllmu::eval::Report)]) -> mllmu::Result<()> {
/// let fig = mllmu::plot::forget_quality(reports, mllmu::plot::Score::ClassificationAccuracy)?;
/// fig.save_svg("forget_quality.svg")?;
/// # Ok(()) }
/// ```
pub fn forget_quality(reports: &[(&str, &Report)], utility: Score) -> Result<Figure> {
    let points: Vec<Point> = reports
        .iter()
        .filter_map(|(name, r)| {
            let fq = r.beyond.as_ref()?.beyond.forget_quality?;
            Some(Point {
                name: name.to_string(),
                utility: utility.of(r, EvalMode::RetainShared)?,
                log_fq: fq.max(FLOOR).log10(),
            })
        })
        .collect();
    if points.is_empty() {
        return Err(Error::param(
            "reports",
            reports.len(),
            "no report has a forget quality and a retain-set score\nhint: evaluate with a retain-only model (eval --retain-model)",
        ));
    }
    Figure::render(
        &ForgetQuality {
            points,
            score: utility,
        },
        (900, 560),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn decades_are_labelled_and_nothing_between() {
        assert_eq!(super::decade_label(&-3.0), "1e-3");
        assert_eq!(super::decade_label(&0.0), "1e0");
        assert_eq!(super::decade_label(&-2.5), "");
    }
}
