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
mod forget_quality;
mod judge_histogram;
mod labels;
mod loss_curves;
mod method_bars;
mod page;
mod question_counts;
mod style;
mod tradeoff;

pub use figure::Figure;
pub use forget_quality::forget_quality;
pub use judge_histogram::judge_histogram;
pub use loss_curves::loss_curves;
pub use method_bars::method_bars;
pub use page::Page;
pub use question_counts::question_counts;
pub use tradeoff::{tradeoff, tradeoff_against, Score};
