//! What the figures share: one colour per method (the same order in every figure), the
//! paper's short set names, and error-bar drawing.

use crate::eval::items::EvalMode;
use crate::plot::figure::plot_err;
use crate::Result;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor;
use std::ops::Range;

/// Ten distinguishable colours (the Tableau 10 set), cycled for more methods.
const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of the `i`-th method (or run, or model) of a figure.
pub(crate) fn colour(i: usize) -> RGBColor {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    RGBColor(r, g, b)
}

/// The set as the paper names it in tables: forget, test, retain, celebrity.
pub(crate) fn set_name(set: EvalMode) -> &'static str {
    match set {
        EvalMode::Forget => "forget",
        EvalMode::Test => "test",
        EvalMode::RetainShared => "retain",
        EvalMode::RetainCelebrity => "celebrity",
    }
}

/// An `f64` axis with tick marks exactly at the given values (group centres, integer
/// steps, scores) and no minor grid lines; label them with a formatter.
pub(crate) struct Ticks {
    axis: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticks {
    /// The axis over `range` with ticks at `ticks`.
    pub(crate) fn new(range: Range<f64>, ticks: Vec<f64>) -> Self {
        Ticks {
            axis: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticks {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.axis.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.axis.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

/// Errs when a figure is given no `items` to draw (parameter `name`: "give at least one
/// labelled {what}").
pub(crate) fn require_some<T>(items: &[T], name: &str, what: &str) -> Result<()> {
    if items.is_empty() {
        let reason = format!("give at least one labelled {what}");
        return Err(crate::Error::param(name, "[]", reason));
    }
    Ok(())
}

/// The area under a figure's `title` (with a top margin).
pub(crate) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>> {
    root.margin(8, 0, 0, 0)
        .titled(title, (crate::plot::font::FAMILY, 20))
        .map_err(plot_err)
}

/// Legend entries with one colour swatch per name, in [`colour`] order.
pub(crate) fn swatches(names: impl Iterator<Item = String>) -> Vec<(String, Marker)> {
    names
        .enumerate()
        .map(|(i, n)| (n, Marker::Swatch(colour(i))))
        .collect()
}

/// Draws the series labels in a framed box at the upper right of `chart`.
pub(crate) fn series_labels<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((crate::plot::font::FAMILY, 12))
        .draw()
        .map_err(plot_err)
}

/// Half the width of an error bar's end caps, in pixels.
pub(crate) const CAP: i32 = 4;

/// Draws an error bar from `a` to `b` (a horizontal or vertical segment, data coordinates)
/// with end caps across it: one polyline for the bar, one per cap.
pub(crate) fn error_bar<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    a: (f64, f64),
    b: (f64, f64),
    style: ShapeStyle,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let vertical = a.0 == b.0;
    let cap = move |p: (f64, f64)| {
        let across: Vec<(i32, i32)> = if vertical {
            vec![(-CAP, 0), (CAP, 0)]
        } else {
            vec![(0, -CAP), (0, CAP)]
        };
        EmptyElement::at(p) + PathElement::new(across, style)
    };
    chart
        .draw_series(std::iter::once(PathElement::new(vec![a, b], style)))
        .map_err(plot_err)?;
    chart.draw_series([cap(a), cap(b)]).map_err(plot_err)?;
    Ok(())
}

/// How a legend entry shows its series.
#[derive(Clone, Copy)]
pub(crate) enum Marker {
    /// A filled square of the series colour (points, bars).
    Swatch(RGBColor),
    /// A short dashed line (the Pareto front).
    Dashed(RGBColor),
}

/// How legend entries are laid out.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Layout {
    /// One row, centred (above a figure).
    Row,
    /// One column from the top (beside a figure).
    Column,
}

/// Draws a legend on its own `area` (never over the data): one entry per `(name, marker)`.
pub(crate) fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Marker)],
    layout: Layout,
) -> Result<()> {
    let font: TextStyle = (crate::plot::font::FAMILY, 14).into();
    let text_width = |name: &str| {
        area.estimate_text_size(name, &font)
            .map_or(8 * name.len() as i32, |(w, _)| w as i32)
    };
    let (w, h) = area.dim_in_pixel();
    let step = |name: &str| match layout {
        Layout::Row => (text_width(name) + 22 + 24, 0),
        Layout::Column => (0, 24),
    };
    let (mut x, mut y) = match layout {
        Layout::Row => {
            let total: i32 = entries.iter().map(|(n, _)| step(n).0).sum::<i32>() - 24;
            (((w as i32 - total) / 2).max(4), h as i32 / 2)
        }
        Layout::Column => (4, 20),
    };
    for (name, marker) in entries {
        match *marker {
            Marker::Swatch(c) => area
                .draw(&Rectangle::new(
                    [(x + 2, y - 6), (x + 14, y + 6)],
                    c.filled(),
                ))
                .map_err(plot_err)?,
            Marker::Dashed(c) => area
                .draw(&DashedPathElement::new(
                    vec![(x, y), (x + 16, y)],
                    4,
                    3,
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?,
        }
        area.draw(&Text::new(
            name.clone(),
            (x + 22, y),
            font.color(&BLACK).pos(text_anchor::Pos::new(
                text_anchor::HPos::Left,
                text_anchor::VPos::Center,
            )),
        ))
        .map_err(plot_err)?;
        let (dx, dy) = step(name);
        x += dx;
        y += dy;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_cycle_and_differ() {
        assert_ne!(colour(0), colour(1));
        assert_eq!(colour(0), colour(10));
        assert_eq!(set_name(EvalMode::RetainCelebrity), "celebrity");
    }
}
