//! (judge: filled in by its owner)
