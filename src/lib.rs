//! # mllmu: MLLMU-Bench from Rust and Jupyter
//!
//! (crate guide written at integration)

#![deny(missing_docs)]

pub mod bench;
pub mod display;
pub mod error;
pub mod eval;
pub mod io;
#[cfg(feature = "judge")]
pub mod judge;
pub mod model;
pub mod plot;
pub mod train;

pub use error::{Error, Result};

/// The names a notebook needs: `use mllmu::prelude::*;`.
pub mod prelude {
    pub use crate::bench::{Bench, MiniConfig, Modality, Profile, ProfileId, Split, Summary};
    pub use crate::error::{Error, Result};
}
