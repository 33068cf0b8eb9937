//! [`Model`]: what every later stage works with — the LLaVA network together with the
//! tokenizer and image processor of its checkpoint folder (or, for a weight-only checkpoint
//! as the reference scripts save, of its base model: [`processor_source`]), and a content
//! hash of its weights.

use super::{device, ImageProcessor, Llava, LlavaTokenizer};
use crate::hub::{self, Fetch};
use crate::{Error, Result};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// The files the tokenizer and image processor are built from, besides `config.json`.
/// Checkpoints saved by the reference scripts (`MLLMMU/LLaVA_Vanilla`) lack them.
pub const PROCESSOR_FILES: [&str; 3] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
];

/// The [`PROCESSOR_FILES`] missing from `dir`, in that order.
fn missing_processor_files(dir: &Path) -> Vec<&'static str> {
    PROCESSOR_FILES
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

/// Where the tokenizer and processor of checkpoint `dir` come from: `processor_from` when
/// given (a folder, or a hub id with an optional `@revision` whose JSON files are fetched
/// through [`hub::resolve_processor`]); else `dir` itself when it holds
/// [`PROCESSOR_FILES`]; else the base model named by `_name_or_path` in its `config.json`
/// when that resolves (a folder, or a hub id the resolver finds); else an error naming the
/// missing files and `--processor-from`.
///
/// ```
/// use mllmu::model::bundle::processor_source;
/// use std::path::Path;
/// let dir = Path::new("tests/fixtures/tiny-llava");
/// assert_eq!(processor_source(dir, None)?, dir);
/// let weights_only = tempfile::tempdir().unwrap();
/// std::fs::copy(dir.join("config.json"), weights_only.path().join("config.json")).unwrap();
/// let err = processor_source(weights_only.path(), None).unwrap_err().to_string();
/// assert!(err.contains("--processor-from") && err.contains("tokenizer.json"), "{err}");
/// assert_eq!(processor_source(weights_only.path(), Some("tests/fixtures/tiny-llava"))?, dir);
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn processor_source(dir: &Path, processor_from: Option<&str>) -> Result<PathBuf> {
    if let Some(spec) = processor_from {
        let src = hub::resolve_processor(spec, Fetch::Download)?;
        let missing = missing_processor_files(&src);
        if let Some(first) = missing.first() {
            return Err(Error::MissingFile {
                path: src.join(first),
                hint: format!(
                    "--processor-from {spec} lacks {}; give the base model the checkpoint was trained from (e.g. llava-hf/llava-1.5-7b-hf)",
                    missing.join(", ")
                ),
            });
        }
        return Ok(src);
    }
    let missing = missing_processor_files(dir);
    let Some(first) = missing.first() else {
        return Ok(dir.to_path_buf());
    };
    let base = base_model_name(dir);
    let tried = match &base {
        None => "its config.json names no base model (`_name_or_path`)".to_string(),
        Some(name) => match hub::resolve_processor(name, Fetch::Download) {
            Ok(src) if missing_processor_files(&src).is_empty() => return Ok(src),
            Ok(src) => format!(
                "its base model `{name}` (config.json `_name_or_path`) resolves to {}, which lacks them too",
                src.display()
            ),
            Err(e) => format!(
                "its base model `{name}` (config.json `_name_or_path`) did not resolve: {}",
                e.to_string().replace('\n', " ")
            ),
        },
    };
    Err(Error::MissingFile {
        path: dir.join(first),
        hint: format!(
            "{} holds no {} (a weight-only checkpoint, as the reference scripts save) and {tried}; take them from the base model with `--processor-from ID_OR_DIR` (e.g. `--processor-from llava-hf/llava-1.5-7b-hf`; library: `Model::load_with_processor`)",
            dir.display(),
            missing.join(", ")
        ),
    })
}

/// `_name_or_path` of `dir/config.json`, when it is a non-empty string.
fn base_model_name(dir: &Path) -> Option<String> {
    let config: serde_json::Value = crate::io::read_json(&dir.join("config.json")).ok()?;
    let name = config.get("_name_or_path")?.as_str()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// A loaded checkpoint: network, tokenizer, processor.
///
/// ```
/// use candle_core::{DType, Device};
/// let m = mllmu::model::Model::load_with("tests/fixtures/tiny-llava", &Device::Cpu, DType::F32)?;
/// assert_eq!(m.tokenizer.image_seq_len(), 36);
/// assert_eq!(m.weights_hash()?.len(), 64);
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    /// The network.
    pub llava: Llava,
    /// Tokenizer with `<image>` expansion.
    pub tokenizer: LlavaTokenizer,
    /// CLIP image preprocessing.
    pub processor: ImageProcessor,
    /// The checkpoint folder (config and weights).
    pub dir: PathBuf,
    /// Where the tokenizer and processor files were read: `dir`, or the base model of a
    /// weight-only checkpoint ([`processor_source`]).
    pub processor_dir: PathBuf,
}

impl Model {
    /// Loads a checkpoint folder on `device`, in the device's default dtype (f32 on CPU,
    /// bf16 on CUDA).
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Model> {
        Model::load_with(dir, device, device::default_dtype(device))
    }

    /// Loads a checkpoint folder on `device`, computing in `dtype`. A weight-only folder
    /// takes its tokenizer and processor from the base model its `config.json` names
    /// ([`processor_source`]).
    pub fn load_with(dir: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Model> {
        Model::load_with_processor(dir, None, device, dtype)
    }

    /// Loads a checkpoint folder with the tokenizer and processor of `processor_from` (a
    /// folder, or a hub id with an optional `@revision`), as the reference's `eval.py`
    /// takes the processor from the base model id; `None` finds them as
    /// [`processor_source`] does. `--processor-from` on the commands.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use mllmu::model::Model;
    /// let fixture = "tests/fixtures/tiny-llava";
    /// let weights_only = tempfile::tempdir().unwrap();
    /// for f in ["config.json", "model.safetensors"] {
    ///     std::fs::copy(format!("{fixture}/{f}"), weights_only.path().join(f)).unwrap();
    /// }
    /// let m = Model::load_with_processor(weights_only.path(), Some(fixture), &Device::Cpu, DType::F32)?;
    /// assert_eq!(m.processor_dir, std::path::Path::new(fixture));
    /// assert_eq!(m.dir, weights_only.path());
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn load_with_processor(
        dir: impl AsRef<Path>,
        processor_from: Option<&str>,
        device: &Device,
        dtype: DType,
    ) -> Result<Model> {
        let dir = dir.as_ref();
        Model::assemble(dir, processor_from, || Llava::load(dir, device, dtype))
    }

    /// Wraps an existing network with the tokenizer and processor of `dir` (or of its base
    /// model, see [`processor_source`]).
    pub fn from_parts(llava: Llava, dir: impl AsRef<Path>) -> Result<Model> {
        Model::assemble(dir.as_ref(), None, || Ok(llava))
    }

    /// The model of `dir` with the network from `llava`, called after the tokenizer and
    /// processor are read (so a missing file fails before the slow weight load).
    fn assemble(
        dir: &Path,
        processor_from: Option<&str>,
        llava: impl FnOnce() -> Result<Llava>,
    ) -> Result<Model> {
        let processor_dir = processor_source(dir, processor_from)?;
        Ok(Model {
            tokenizer: LlavaTokenizer::from_dir(&processor_dir)?,
            processor: ImageProcessor::from_dir(&processor_dir)?,
            llava: llava()?,
            dir: dir.to_path_buf(),
            processor_dir,
        })
    }

    /// SHA-256 over every weight (name, dtype, shape, bytes in name order), LoRA merged:
    /// the identity of the model's behaviour, used to key caches. Costs one pass over the
    /// weights (seconds for a 7B model).
    pub fn weights_hash(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut tensors = self.llava.merged_tensors()?;
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        for (name, t) in tensors {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(format!("{:?}{:?}", t.dtype(), t.dims()).as_bytes());
            let flat = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            for v in flat {
                h.update(v.to_le_bytes());
            }
        }
        Ok(hex::encode(h.finalize()))
    }
}
