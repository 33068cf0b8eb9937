//! Figures for notebooks and files: SVG inline in HTML, PNG on disk.
//!
//! Text is drawn with an embedded DejaVu Sans (see `fonts/DejaVuSans-LICENSE.txt`), so
//! plotting works headless, without system fonts.
//!
//! ```
//! use mllmu::bench::{Bench, MiniConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let cfg = MiniConfig { profiles: 10, celebrities: 2, ..MiniConfig::default() };
//! let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg).unwrap()).unwrap();
//! let fig = mllmu::plot::question_counts(&bench.summary()).unwrap();
//! assert!(fig.to_svg().contains("Full_Set"));
//! ```

mod figure;
mod font;
mod question_counts;

pub use figure::Figure;
pub use question_counts::question_counts;
