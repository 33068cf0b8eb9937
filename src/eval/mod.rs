//! Evaluation: the benchmark's prompts, few-shot selection, answer extraction, metrics and
//! output files, reproducing `eval.py` of MLLMU-Bench (SPEC.md §2.2–§3).
//!
//! | module | what |
//! |---|---|
//! | [`items`] | the question records evaluation consumes |
//! | [`prompts`] | classification, cloze and generation prompts, to the byte |
//! | [`fewshot`] | seeded, recorded few-shot selection and the skip rule |
//! | [`extract`] | answer extraction from decoded text, format-failure detection |
//! | [`metrics`] | ROUGE, BLEU, accuracy, bootstrap intervals |
//! | [`reference_files`] | the JSON files `eval.py` writes, with its exact keys |
//! | [`pyjson`] | JSON text exactly as Python's `json.dump(indent=4)` writes it |
//! | [`pytext`] | Python `str` semantics (`split`, `strip`, `lower`) the scoring relies on |

pub mod extract;
pub mod fewshot;
pub mod items;
pub mod metrics;
pub mod prompts;
pub mod pyjson;
pub mod pytext;
pub mod reference_files;
