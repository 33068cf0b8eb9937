//! The embedded font, registered with plotters before every drawing.
//!
//! plotters keeps registered fonts in a process-wide static; in evcxr every cell links its
//! own copy of the statics, so registering once is not enough: each plot call registers
//! (it is cheap: the bytes are static and only parsed).

use crate::{Error, Result};
use plotters::style::FontStyle;

/// DejaVu Sans 2.37 (Bitstream Vera license, see `fonts/DejaVuSans-LICENSE.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// The family name figures use.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font as `sans-serif` (normal and bold styles).
pub(crate) fn register() -> Result<()> {
    for style in [FontStyle::Normal, FontStyle::Bold] {
        plotters::style::register_font(FAMILY, style, DEJAVU_SANS)
            .map_err(|_| Error::Plot("the embedded DejaVu Sans font could not be parsed".into()))?;
    }
    Ok(())
}
