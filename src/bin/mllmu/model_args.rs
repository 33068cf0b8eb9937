//! `--model` and `--processor-from`: one definition, flattened into every command that loads
//! a model, resolved by the library's one resolver ([`mllmu::hub::resolve_model`]).

use candle_core::{DType, Device};
use mllmu::hub::{self, Fetch};
use mllmu::model::bundle::processor_source;
use mllmu::model::Model;
use mllmu::Result;
use std::path::{Path, PathBuf};

/// The model a command loads, and where its tokenizer and processor come from.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Load this checkpoint folder (llava-hf layout) or hub id with an optional `@revision`
    /// (`llava-hf/llava-1.5-7b-hf`; feature `hub`: fetched into the HF cache, offline when cached)
    #[arg(long, value_name = "DIR_OR_HUB_ID")]
    pub model: String,
    /// Take the tokenizer and processor from this folder or hub id, for weight-only checkpoints
    /// like MLLMMU/LLaVA_Vanilla [default: the model's own, else its config's `_name_or_path`]
    #[arg(long, value_name = "ID_OR_DIR")]
    pub processor_from: Option<String>,
}

impl ModelArgs {
    /// The checkpoint folder `--model` names (downloading a hub id if needed).
    pub fn dir(&self) -> Result<PathBuf> {
        hub::resolve_model(&self.model, Fetch::Download)
    }

    /// The folder the tokenizer and processor of checkpoint `dir` are read from.
    pub fn processor_dir(&self, dir: &Path) -> Result<PathBuf> {
        processor_source(dir, self.processor_from.as_deref())
    }

    /// Resolves and loads the model on `device` in `dtype`.
    pub fn load(&self, device: &Device, dtype: DType) -> Result<Model> {
        Model::load_with_processor(self.dir()?, self.processor_from.as_deref(), device, dtype)
    }
}
