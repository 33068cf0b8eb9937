//! (plot: filled in by its owner)
