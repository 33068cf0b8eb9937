//! (eval: filled in by its owner)
