//! `mllmu generate`: one prompt in, one greedy continuation out. The prompt is tokenized as
//! the LLaVA processor does (BOS, every `<image>` expanded), the images are preprocessed in
//! order, and the continuation is decoded without special tokens.

use crate::device_args::DeviceArgs;
use crate::model_args::ModelArgs;
use image::DynamicImage;
use mllmu::model::{GenerationConfig, ImageProcessor, Llava, LlavaTokenizer};
use mllmu::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `mllmu generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Attach these image files, one per `<image>` in the prompt, in order
    #[arg(long)]
    image: Vec<PathBuf>,
    /// Generate from this prompt, e.g. "USER: <image>\nWho is this?\nASSISTANT:"
    #[arg(long)]
    prompt: String,
    /// Generate at most this many tokens (stop earlier on end-of-sequence)
    #[arg(long)]
    max_new_tokens: usize,
    /// Print input ids, new ids, text and the first step's top-5 logits as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Runs `mllmu generate`.
pub fn run(a: GenerateArgs) -> Result<()> {
    let dir = a.model.dir()?;
    let processor_dir = a.model.processor_dir(&dir)?;
    let tokenizer = LlavaTokenizer::from_dir(&processor_dir)?;
    // Check the prompt against the images before the (slow) model load.
    check_image_count(&tokenizer, &a.prompt, a.image.len())?;
    let images = a.image.iter().map(open_image).collect::<Result<Vec<_>>>()?;
    let processor = ImageProcessor::from_dir(&processor_dir)?;
    let (dev, dtype) = a.device.resolve()?;
    let model = Llava::load(&dir, &dev, dtype)?;
    let out = generate_for_prompt(
        &model,
        &tokenizer,
        &processor,
        &a.prompt,
        &images,
        a.max_new_tokens,
    )?;
    if a.json {
        // Field order: input_ids, new_ids, text, first_step_top5.
        let json = serde_json::to_string(&out).map_err(|e| Error::json("<generation>", e))?;
        println!("{json}");
    } else {
        println!("{}", out.text);
    }
    Ok(())
}

/// The result of [`generate_for_prompt`] (the `--json` output).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct PromptGeneration {
    /// The ids fed to the model: BOS included, `<image>` expanded.
    input_ids: Vec<u32>,
    /// The generated ids (prompt excluded), ending with the end-of-sequence id if one came.
    new_ids: Vec<u32>,
    /// `new_ids` decoded, special tokens skipped.
    text: String,
    /// The five highest float32 logits of the first generation step, `(id, logit)`,
    /// highest first.
    first_step_top5: Vec<(u32, f32)>,
}

/// Checks that `prompt` holds as many `<image>` placeholders as `n_images` images given.
fn check_image_count(tokenizer: &LlavaTokenizer, prompt: &str, n_images: usize) -> Result<()> {
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
fn open_image(path: impl AsRef<Path>) -> Result<DynamicImage> {
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
fn generate_for_prompt(
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
    let pixels = (!images.is_empty())
        .then(|| processor.preprocess_batch_dynamic(images, model.device()))
        .transpose()?;
    let cfg = GenerationConfig::greedy_for(model, max_new_tokens);
    let out = model.generate(std::slice::from_ref(&input_ids), pixels.as_ref(), &cfg)?;
    let new_ids = out.new_ids.into_iter().next().unwrap_or_default();
    let text = tokenizer.decode(&new_ids, true)?;
    let logits = out.first_logits.squeeze(0)?.to_vec1::<f32>()?;
    Ok(PromptGeneration {
        input_ids,
        new_ids,
        text,
        first_step_top5: top_k(&logits, 5),
    })
}

/// The `k` largest values with their indices, largest first (earlier index first on ties).
fn top_k(values: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|i| (i as u32, values[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-llava");
    const IMAGE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny-llava/reference/ref_image.png"
    );

    #[test]
    fn images_are_checked_and_opened() {
        let tok = LlavaTokenizer::from_dir(DIR).unwrap();
        assert!(check_image_count(&tok, "USER: <image>\nHi", 1).is_ok());
        let err = check_image_count(&tok, "USER: <image>\nHi", 2).unwrap_err();
        assert!(err.to_string().contains("1 <image> placeholder"));
        assert!(open_image(IMAGE).unwrap().width() > 0);
        assert!(open_image("no/such.png").is_err());
    }

    #[test]
    fn prompt_generation_reports_the_first_step() {
        let model = Llava::load(DIR, &Device::Cpu, DType::F32).unwrap();
        let tok = LlavaTokenizer::from_dir(DIR).unwrap();
        let proc = ImageProcessor::from_dir(DIR).unwrap();
        let img = open_image(IMAGE).unwrap();
        let prompt = "USER: <image>\nWho?\nASSISTANT:";
        let out = generate_for_prompt(&model, &tok, &proc, prompt, &[img], 3).unwrap();
        assert_eq!(out.new_ids.len(), 3);
        assert_eq!(out.first_step_top5[0].0, out.new_ids[0]);
    }

    #[test]
    fn top_k_breaks_ties_by_index() {
        let got = top_k(&[0.5, 2.0, -1.0, 2.0], 3);
        assert_eq!(got, vec![(1, 2.0), (3, 2.0), (0, 0.5)]);
    }
}
