//! [`Model`]: what every later stage works with — the LLaVA network together with the
//! tokenizer and image processor of its checkpoint folder, and a content hash of its weights.

use super::{device, ImageProcessor, Llava, LlavaTokenizer};
use crate::Result;
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

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
    /// Where tokenizer/processor files come from (copied into saved checkpoints).
    pub dir: PathBuf,
}

impl Model {
    /// Loads a checkpoint folder on `device`, in the device's default dtype (f32 on CPU,
    /// bf16 on CUDA).
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Model> {
        Model::load_with(dir, device, device::default_dtype(device))
    }

    /// Loads a checkpoint folder on `device`, computing in `dtype`.
    pub fn load_with(dir: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Model> {
        let dir = dir.as_ref();
        Ok(Model {
            llava: Llava::load(dir, device, dtype)?,
            tokenizer: LlavaTokenizer::from_dir(dir)?,
            processor: ImageProcessor::from_dir(dir)?,
            dir: dir.to_path_buf(),
        })
    }

    /// Wraps an existing network with the tokenizer and processor of `dir`.
    pub fn from_parts(llava: Llava, dir: impl AsRef<Path>) -> Result<Model> {
        let dir = dir.as_ref();
        Ok(Model {
            llava,
            tokenizer: LlavaTokenizer::from_dir(dir)?,
            processor: ImageProcessor::from_dir(dir)?,
            dir: dir.to_path_buf(),
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
