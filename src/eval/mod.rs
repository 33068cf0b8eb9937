//! Evaluation: the benchmark's prompts, few-shot selection, answer extraction, metrics and
//! output files, reproducing `eval.py` of MLLMU-Bench (SPEC.md §2.2–§3).
//!
//! | module | what |
//! |---|---|
//! | [`items`] | the evaluation sets and tasks ([`items::EvalMode`], [`items::Task`]) |
//! | [`prompts`] | classification, cloze and generation prompts, to the byte |
//! | [`fewshot`] | seeded, recorded few-shot selection and the skip rule |
//! | [`extract`] | answer extraction from decoded text, format-failure detection |
//! | [`metrics`] | ROUGE, BLEU, accuracy, bootstrap intervals |
//! | [`reference_files`] | the JSON files `eval.py` writes, with its exact keys |
//! | [`pyjson`] | JSON text exactly as Python's `json.dump(indent=4)` writes it |
//! | [`pytext`] | Python `str` semantics (`split`, `strip`, `lower`) the scoring relies on |
//! | [`options`] | [`Evaluate`]: options and presets of a run |
//! | [`plan`] | the questions of a run: rows, few-shot and test-image draws, skips, prompts |
//! | [`cache`] | the append-only generation cache (resume, no recomputation) |
//! | [`run`] | [`Evaluate::run`]: batched generation with a reused few-shot prefix, scoring |
//! | [`report`] | [`Report`]: every question, summaries with intervals, manifest, files |
//! | [`frame`] | [`Report::to_dataframe`] |
//! | [`compare`] | paired comparison of two reports |

/// `to_html`, `evcxr_display` and `Display` of a type from its `fn tables(&self) ->
/// Vec<Table>`: the tables one after the other (a blank line apart as text).
macro_rules! table_views {
    ($t:ty, $html_doc:literal) => {
        impl $t {
            #[doc = $html_doc]
            pub fn to_html(&self) -> String {
                self.tables().iter().map(|t| t.to_html()).collect()
            }

            /// Rich display in evcxr notebooks (one `text/html` block).
            pub fn evcxr_display(&self) {
                crate::display::print_evcxr("text/html", &self.to_html());
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                for (i, t) in self.tables().iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    std::fmt::Display::fmt(t, f)?;
                }
                Ok(())
            }
        }
    };
}

mod answers;
pub mod beyond;
pub mod cache;
mod choices;
pub mod compare;
pub mod extract;
pub mod fewshot;
pub mod frame;
pub mod items;
pub mod methods;
pub mod metrics;
pub mod options;
mod paired_views;
pub mod plan;
pub mod prompts;
pub mod pyjson;
pub mod pytext;
pub mod reference_files;
pub mod report;
pub mod run;

pub use compare::{compare, Comparison};
pub use methods::Methods;
pub use options::Evaluate;
pub use report::Report;
