//! The MLLMU-Bench data: typed rows, loading the Hugging Face folder layout with polars,
//! forget/retain splits, summaries, and [`mini`], a deterministic synthetic benchmark written
//! in the very same layout.
//!
//! | type | what |
//! |---|---|
//! | [`Bench`] | an opened folder: [`EvalSet`]s (`Full_Set`, `Test_Set`, `Retain_Set`, `forget_N`, `retain_N`) and [`TrainSet`]s (`ft_Data`, `baseline_train_split`) |
//! | [`Profile`] | one evaluation row: [`Portrait`]s, [`Mcq`]s, [`OpenQuestion`]s |
//! | [`FtRow`] | one training row: a portrait and its [`QaPair`]s |
//! | [`Split`] | forget / retain / test / celebrity profiles for one forget ratio |
//! | [`Summary`] | counts per folder, as a table, HTML or JSON |

mod arrow_schema;
mod dataset;
mod ft;
mod load;
pub mod mini;
pub(crate) mod parquet;
mod portrait;
mod profile_card;
mod schema;
mod split;
mod summary;
mod write;

pub use dataset::{Bench, EvalSet, TrainSet, DEFAULT_REPO, FOLDERS, FORGET_RATIOS};
pub use ft::{parse_metadata, FtRow, QaPair};
pub use mini::MiniConfig;
pub use portrait::Portrait;
pub use schema::{Classification, Mcq, Modality, OpenQuestion, Profile, ProfileId};
pub use split::Split;
pub use summary::{EvalCounts, FolderCounts, ModalityCounts, Summary, TrainCounts};
pub use write::{write_eval_parquet, write_train_parquet};
