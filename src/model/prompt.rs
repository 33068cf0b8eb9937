//! One prompt in, one greedy continuation out: what `mllmu generate` prints. The prompt is
//! tokenized as the LLaVA processor does (BOS, every `<image>` expanded), the images are
//! preprocessed in order, and the continuation is decoded without special tokens.

use super::generate::GenerationConfig;
use super::llava::Llava;
use super::processor::ImageProcessor;
use super::tokenizer::LlavaTokenizer;
use crate::{Error, Result};
use image::DynamicImage;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The result of [`generate_for_prompt`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptGeneration {
    /// The ids fed to the model: BOS included, `<image>` expanded.
    pub input_ids: Vec<u32>,
    /// The generated ids (prompt excluded), ending with the end-of-sequence id if one came.
    pub new_ids: Vec<u32>,
    /// `new_ids` decoded, special tokens skipped.
    pub text: String,
    /// The five highest float32 logits of the first generation step, `(id, logit)`,
    /// highest first.
    pub first_step_top5: Vec<(u32, f32)>,
}

/// Checks that `prompt` holds as many `<image>` placeholders as `n_images` images given.
///
/// ```
/// # let tok = mllmu::model::LlavaTokenizer::from_dir("tests/fixtures/tiny-llava")?;
/// use mllmu::model::prompt::check_image_count;
/// assert!(check_image_count(&tok, "USER: <image>\nHi", 1).is_ok());
/// let err = check_image_count(&tok, "USER: <image>\nHi", 2).unwrap_err();
/// assert!(err.to_string().contains("1 <image> placeholder"));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn check_image_count(tokenizer: &LlavaTokenizer, prompt: &str, n_images: usize) -> Result<()> {
    let placeholders = tokenizer.count_images(prompt);
    if placeholders != n_images {
        return Err(Error::param(
            "image",
            format!("{n_images} images"),
            format!(
                "the prompt holds {placeholders} {} placeholder{} but {n_images} image{} {} given\nhint: pass one --image per {} in the prompt, in order",
                tokenizer.image_token(),
                if placeholders == 1 { "" } else { "s" },
                if n_images == 1 { "" } else { "s" },
                if n_images == 1 { "was" } else { "were" },
                tokenizer.image_token(),
            ),
        ));
    }
    Ok(())
}

/// Opens an image file (PNG or JPEG).
///
/// ```
/// let img = mllmu::model::prompt::open_image("tests/fixtures/tiny-llava/reference/ref_image.png")?;
/// assert!(img.width() > 0);
/// assert!(mllmu::model::prompt::open_image("no/such.png").is_err());
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn open_image(path: impl AsRef<Path>) -> Result<DynamicImage> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::MissingFile {
            path: path.to_path_buf(),
            hint: "check the --image path".into(),
        });
    }
    image::open(path).map_err(|e| {
        Error::param(
            "image",
            path.display(),
            format!("cannot decode the image: {e}"),
        )
    })
}

/// Greedily generates up to `max_new_tokens` for `prompt` with `images` (one per
/// `<image>`, in order), stopping on the folder's end-of-sequence id.
///
/// ```
/// use candle_core::{DType, Device};
/// use mllmu::model::{prompt, ImageProcessor, Llava, LlavaTokenizer};
/// let dir = "tests/fixtures/tiny-llava";
/// let model = Llava::load(dir, &Device::Cpu, DType::F32)?;
/// let tok = LlavaTokenizer::from_dir(dir)?;
/// let proc = ImageProcessor::from_dir(dir)?;
/// let img = prompt::open_image("tests/fixtures/tiny-llava/reference/ref_image.png")?;
/// let out = prompt::generate_for_prompt(&model, &tok, &proc, "USER: <image>\nWho?\nASSISTANT:", &[img], 3)?;
/// assert_eq!(out.new_ids.len(), 3);
/// assert_eq!(out.first_step_top5[0].0, out.new_ids[0]);
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn generate_for_prompt(
    model: &Llava,
    tokenizer: &LlavaTokenizer,
    processor: &ImageProcessor,
    prompt: &str,
    images: &[DynamicImage],
    max_new_tokens: usize,
) -> Result<PromptGeneration> {
    check_image_count(tokenizer, prompt, images.len())?;
    if max_new_tokens == 0 {
        return Err(Error::param(
            "max-new-tokens",
            0,
            "generate at least one token",
        ));
    }
    let input_ids = tokenizer.encode(prompt)?;
    let pixels = if images.is_empty() {
        None
    } else {
        Some(processor.preprocess_batch_dynamic(images, model.device())?)
    };
    let cfg = GenerationConfig::greedy_for(model, max_new_tokens);
    let out = model.generate(std::slice::from_ref(&input_ids), pixels.as_ref(), &cfg)?;
    let new_ids = out.new_ids.into_iter().next().unwrap_or_default();
    let text = tokenizer.decode(&new_ids, true)?;
    let logits = out.first_logits.squeeze(0)?.to_vec1::<f32>()?;
    let first_step_top5 = top_k(&logits, 5);
    Ok(PromptGeneration {
        input_ids,
        new_ids,
        text,
        first_step_top5,
    })
}

/// The `k` largest values with their indices, largest first (earlier index first on ties).
///
/// ```
/// assert_eq!(mllmu::model::prompt::top_k(&[0.5, 2.0, -1.0, 2.0], 3), vec![(1, 2.0), (3, 2.0), (0, 0.5)]);
/// ```
pub fn top_k(values: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|i| (i as u32, values[i]))
        .collect()
}
