//! [`Figure`]: a drawn chart, as SVG (notebooks) and PNG (files).

use crate::display::{html_error, print_evcxr};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Something that draws itself on any plotters backend.
pub(crate) trait Draw {
    /// Draws on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Maps a plotters error into [`Error::Plot`].
pub(crate) fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

/// Draws `chart` on `backend`, filled white first.
fn paint<DB: DrawingBackend>(chart: &impl Draw, backend: DB) -> Result<()> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    chart.draw(&root)?;
    root.present().map_err(plot_err)
}

/// A rendered figure: SVG text and PNG bytes of the same drawing.
#[derive(Clone)]
pub struct Figure {
    svg: String,
    png: Vec<u8>,
    size: (u32, u32),
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figure")
            .field("size", &self.size)
            .field("svg_bytes", &self.svg.len())
            .field("png_bytes", &self.png.len())
            .finish()
    }
}

impl Figure {
    /// Draws `chart` twice: on an SVG and on a bitmap of `size` pixels.
    pub(crate) fn render(chart: &impl Draw, size: (u32, u32)) -> Result<Figure> {
        crate::plot::font::register()?;
        let mut svg = String::new();
        paint(chart, SVGBackend::with_string(&mut svg, size))?;
        let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
        paint(chart, BitMapBackend::with_buffer(&mut buf, size))?;
        let img = image::RgbImage::from_raw(size.0, size.1, buf)
            .ok_or_else(|| Error::Plot("bitmap buffer has the wrong size".into()))?;
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(plot_err)?;
        Ok(Figure { svg, png, size })
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The SVG document.
    pub fn to_svg(&self) -> &str {
        &self.svg
    }

    /// PNG bytes.
    pub fn png_bytes(&self) -> &[u8] {
        &self.png
    }

    /// The SVG inside a `div`, for notebooks.
    pub fn to_html(&self) -> String {
        format!("<div class=\"mllmu-figure\">{}</div>", self.svg)
    }

    /// Shows the figure in a notebook cell (one `text/html` block).
    pub fn evcxr_display(&self) {
        if self.svg.is_empty() {
            print_evcxr("text/html", &html_error("figure", &"empty SVG"));
        } else {
            print_evcxr("text/html", &self.to_html());
        }
    }

    /// Writes the SVG (atomically).
    pub fn save_svg(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_atomic(path.as_ref(), self.svg.as_bytes())
    }

    /// Writes the PNG (atomically).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_atomic(path.as_ref(), &self.png)
    }
}
