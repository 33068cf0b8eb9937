//! The `mini-llava` checkpoint shipped inside mllmu (`assets/mini-llava`, made by
//! `mllmu mini-model`): a LLaVA-1.5 in the Hugging Face layout, small enough for a laptop CPU,
//! that has learnt to answer questions about people it memorised. It is compiled into the
//! library, so the demo and notebooks work from an installed binary with no download.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = mllmu::model::embedded::write_mini_llava(dir.path().join("mini-llava")).unwrap();
//! let model = mllmu::model::Model::load(&path, &candle_core::Device::Cpu).unwrap();
//! assert_eq!(model.llava.config.text.num_hidden_layers, 4);
//! ```

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

macro_rules! asset {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/mini-llava/",
                $name
            )) as &[u8],
        )
    };
}

/// The checkpoint's files, by name.
pub const MINI_LLAVA_FILES: [(&str, &[u8]); 10] = [
    asset!("config.json"),
    asset!("generation_config.json"),
    asset!("model.safetensors"),
    asset!("preprocessor_config.json"),
    asset!("processor_config.json"),
    asset!("special_tokens_map.json"),
    asset!("tokenizer.json"),
    asset!("tokenizer_config.json"),
    asset!("pretrain_log.json"),
    asset!("SHA256SUMS"),
];

/// Writes the embedded `mini-llava` into `dir` (created if needed) and returns `dir`.
/// Files already there with the same bytes are left alone; every file written is
/// checked against the shipped `SHA256SUMS` first.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = mllmu::model::embedded::write_mini_llava(dir.path()).unwrap();
/// assert!(p.join("model.safetensors").is_file());
/// ```
pub fn write_mini_llava(dir: impl AsRef<Path>) -> Result<PathBuf> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let sums = sums();
    for (name, bytes) in MINI_LLAVA_FILES {
        if let Some(want) = sums.iter().find(|(_, n)| n == name).map(|(h, _)| h) {
            let got = hex::encode(Sha256::digest(bytes));
            if &got != want {
                return Err(Error::Cache {
                    path: dir.join(name),
                    message: format!(
                        "the embedded {name} has SHA-256 {got}, but SHA256SUMS says {want}: the build is inconsistent"
                    ),
                });
            }
        }
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        crate::io::write_atomic(&path, bytes)?;
    }
    Ok(dir.to_path_buf())
}

/// The `(sha256, file name)` lines of the shipped `SHA256SUMS`: the model's identity.
///
/// ```
/// let sums = mllmu::model::embedded::sums();
/// assert!(sums.iter().any(|(_, name)| name == "model.safetensors"));
/// ```
pub fn sums() -> Vec<(String, String)> {
    let text = MINI_LLAVA_FILES
        .iter()
        .find(|(n, _)| *n == "SHA256SUMS")
        .map_or(&[][..], |(_, b)| *b);
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, n)| (h.to_string(), n.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_file_is_listed_in_the_sums_and_matches() {
        let sums = sums();
        for name in ["model.safetensors", "tokenizer.json", "config.json"] {
            let (_, bytes) = MINI_LLAVA_FILES.iter().find(|(n, _)| *n == name).unwrap();
            let want = &sums.iter().find(|(_, n)| n == name).unwrap().0;
            assert_eq!(&hex::encode(Sha256::digest(bytes)), want, "{name}");
        }
    }

    #[test]
    fn a_second_write_leaves_the_files_untouched() {
        let dir = tempfile::tempdir().unwrap();
        write_mini_llava(dir.path()).unwrap();
        let p = dir.path().join("model.safetensors");
        let before = std::fs::metadata(&p).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_mini_llava(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), before);
    }
}
