//! # mllmu: MLLMU-Bench from Rust and Jupyter
//!
//! mllmu runs the [MLLMU-Bench](https://arxiv.org/abs/2410.22108) machine-unlearning workflow
//! for multimodal LLMs: load the benchmark, fine-tune a LLaVA-1.5 "vanilla" model, unlearn a
//! forget set, score every checkpoint with the reference protocol, ask an LLM judge for
//! factuality, and plot the results — from a Jupyter notebook on the evcxr Rust kernel or
//! from the `mllmu` command line. Models run on candle: the 7B LLaVA on a GPU, tiny ones on
//! any CPU.
//!
//! ## Quick start
//!
//! The paper's experiment on a CPU in a few minutes: the embedded mini benchmark, the embedded
//! `mini-llava` (a LLaVA-1.5 that mllmu pretrained on other synthetic people), a vanilla
//! fine-tune, gradient ascent on the forget set, the reference evaluation, the trade-off.
//!
//! ```no_run
//! use mllmu::prelude::*;
//! use mllmu::eval::{items::EvalMode, Methods};
//!
//! let bench = Bench::mini(&MiniConfig { profiles: 100, ..MiniConfig::default() })?;
//! let split = bench.split(10)?;                               // forget_10: 10 profiles
//! let dir = mllmu::model::embedded::write_mini_llava("mini-llava")?;
//! let base = Model::load(dir, &device::auto()?)?;
//! let vanilla = Finetune::mini().run(&base, &bench)?;        // Finetune::paper() for the 7B
//! let ga = Unlearn::grad_ascent().mini().run(&vanilla.model, &bench, &split)?;
//! let eval = Evaluate::paper().with_sample(EvalMode::RetainShared, 20);
//! let methods = Methods::new(vec![
//!     ("vanilla".into(), eval.run(&vanilla.model, &bench, &split, "eval/vanilla")?),
//!     ("GA".into(), eval.run(&ga.model, &bench, &split, "eval/ga")?),
//! ])?;
//! let figure = mllmu::plot::tradeoff(&methods.labelled(), Score::ClassificationAccuracy)?;
//! figure.save_svg("tradeoff.svg")?;
//! # Ok::<(), mllmu::Error>(())
//! ```
//!
//! Each step is also a command (`mllmu finetune`, `unlearn`, `eval`, `compare`), and
//! `mllmu demo` runs all of it with four unlearning methods. The pieces work alone too:
//!
//! ```
//! use mllmu::prelude::*;
//!
//! // The embedded mini benchmark: same parquet layout as `MLLMMU/MLLMU-Bench`, seeded.
//! let bench = Bench::mini(&MiniConfig { seed: 1, profiles: 10, celebrities: 2 })?;
//! let split = bench.split(10)?;                       // forget 10 % of the profiles
//! assert_eq!(split.forget().len(), 1);
//!
//! // A LLaVA-1.5 checkpoint folder in the Hugging Face layout (here a tiny random one).
//! let model = Model::load("tests/fixtures/tiny-llava", &device::auto()?)?;
//! let prompt = "USER: <image>\nWhat is this person's job?\nASSISTANT:";
//! let ids = model.tokenizer.encode(prompt)?;
//! let image = split.forget()[0].portrait().unwrap().decode()?;
//! let pixels = model.processor.preprocess_batch(&[image], model.llava.device())?;
//! let out = model.llava.generate(&[ids], Some(&pixels), &GenerationConfig::greedy_for(&model.llava, 5))?;
//! assert_eq!(out.new_ids[0].len(), 5);
//! # Ok::<(), mllmu::Error>(())
//! ```
//!
//! In a notebook the last expression of a cell displays itself: a [`bench::Bench`] or a
//! [`bench::Summary`] as an HTML table, a [`bench::Profile`] as a card with its portrait, a
//! [`plot::Figure`] as inline SVG, an [`eval::Methods`] as the table of scores by method.
//!
//! ## Contents
//!
//! | module | what |
//! |---|---|
//! | [`bench`] | the benchmark data: typed profiles and questions, the Hugging Face folder layout (polars), splits, the `mini` generator |
//! | [`model`] | LLaVA-1.5 on candle: config, weights, CLIP + projector + Llama, processor, tokenizer, batched KV-cache generation, LoRA |
//! | [`train`] | collation, objectives (fine-tune, GA, GradDiff, KL, NPO, SimNPO, IDK, RMU), AdamW, schedules, checkpoints |
//! | [`eval`] | the reference prompts, few-shot rules, answer extraction, exact ROUGE/BLEU, reports |
//! | `judge` | the factuality judge (feature `judge`) |
//! | [`plot`] | figures: SVG for notebooks, PNG files |
//! | [`display`] | evcxr rich output helpers |
//! | [`io`] | atomic writes and content hashes |
//! | [`progress`] | progress bars on a terminal, throttled lines in notebooks and logs |
//!
//! ## Cargo features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `cli` | yes | the `mllmu` binary |
//! | `hub` | no | downloads from the Hugging Face hub (hf-hub; same cache as Python) |
//! | `judge` | no | the factuality judge (async-openai) |
//! | `cuda` | no | candle's CUDA backend; needs `nvcc` at build time |
//! | `full` | no | `cli`, `hub` and `judge` |
//!
//! If a notebook fails to find `Bench::download` or `mllmu::judge`, enable `hub` or `judge` in
//! its `:dep` line.

#![deny(missing_docs)]

pub mod bench;
pub mod display;
pub mod error;
pub mod eval;
pub mod hub;
#[cfg(feature = "hub")]
pub mod hub_progress;
pub mod io;
pub mod judge;
pub mod model;
pub mod plot;
pub mod progress;
pub mod train;

pub use error::{Error, Result};
/// polars, re-exported so notebooks can name `mllmu::polars::prelude::DataFrame` without a `:dep`.
pub use polars;

/// The names a notebook needs: `use mllmu::prelude::*;`.
pub mod prelude {
    pub use crate::bench::{Bench, MiniConfig, Modality, Profile, ProfileId, Split, Summary};
    pub use crate::error::{Error, Result};
    pub use crate::eval::{Evaluate, Report};
    pub use crate::model::{device, GenerationConfig, Llava, LoraConfig, Model};
    pub use crate::plot::{Figure, Score};
    pub use crate::train::{Finetune, Trained, Unlearn};
}
