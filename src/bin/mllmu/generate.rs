//! `mllmu generate` (one prompt, greedy) and `mllmu bench-model` (timings of a checkpoint).

use candle_core::{DType, Device};
use mllmu::hub::{self, Fetch};
use mllmu::model::bench::{self, BenchModelOptions};
use mllmu::model::{device, prompt, ImageProcessor, Llava, LlavaTokenizer};
use std::path::PathBuf;

/// Arguments of `mllmu generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Model folder (llava-hf layout) or, with the `hub` feature, a hub id such as
    /// `llava-hf/llava-1.5-7b-hf`.
    #[arg(long)]
    model: String,
    /// Image files, one per `<image>` in the prompt, in order.
    #[arg(long)]
    image: Vec<PathBuf>,
    /// The prompt, e.g. "USER: <image>\nWho is this?\nASSISTANT:".
    #[arg(long)]
    prompt: String,
    /// Most tokens to generate (stops earlier on end-of-sequence).
    #[arg(long)]
    max_new_tokens: usize,
    /// Print input ids, new ids, text and the first step's top-5 logits as JSON.
    #[arg(long)]
    json: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// f32, bf16 or f16 (default: bf16 on a GPU, f32 on the CPU).
    #[arg(long)]
    dtype: Option<String>,
}

/// Arguments of `mllmu bench-model`.
#[derive(clap::Args)]
pub struct BenchModelArgs {
    /// Model folder (llava-hf layout) or, with the `hub` feature, a hub id.
    #[arg(long)]
    model: String,
    /// CPU threads (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// f32, bf16 or f16 (default: bf16 on a GPU, f32 on the CPU).
    #[arg(long)]
    dtype: Option<String>,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Untimed warm-up runs per measurement.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Keep glibc's default allocator settings (see `device::tune_allocator`).
    #[arg(long)]
    no_allocator_tuning: bool,
}

fn device_and_dtype(dev: &str, dtype: Option<&str>) -> mllmu::Result<(Device, DType)> {
    let dev = device::parse(dev)?;
    let dtype = match dtype {
        Some(d) => device::parse_dtype(d)?,
        None => device::default_dtype(&dev),
    };
    Ok((dev, dtype))
}

/// Runs `mllmu generate`.
pub fn run_generate(a: GenerateArgs) -> mllmu::Result<()> {
    device::tune_allocator();
    let dir = hub::resolve_model(&a.model, Fetch::Download)?;
    let tokenizer = LlavaTokenizer::from_dir(&dir)?;
    // Check the prompt against the images before the (slow) model load.
    prompt::check_image_count(&tokenizer, &a.prompt, a.image.len())?;
    let images = a
        .image
        .iter()
        .map(prompt::open_image)
        .collect::<mllmu::Result<Vec<_>>>()?;
    let processor = ImageProcessor::from_dir(&dir)?;
    let (dev, dtype) = device_and_dtype(&a.device, a.dtype.as_deref())?;
    let model = Llava::load(&dir, &dev, dtype)?;
    let out = prompt::generate_for_prompt(
        &model,
        &tokenizer,
        &processor,
        &a.prompt,
        &images,
        a.max_new_tokens,
    )?;
    if a.json {
        // Field order: input_ids, new_ids, text, first_step_top5.
        let json = serde_json::to_string(&out).map_err(|e| mllmu::Error::Json {
            file: "<generation>".into(),
            reason: e.to_string(),
        })?;
        println!("{json}");
    } else {
        println!("{}", out.text);
    }
    Ok(())
}

/// Runs `mllmu bench-model`.
pub fn run_bench_model(a: BenchModelArgs) -> mllmu::Result<()> {
    // First, before any thread pool starts.
    if let Some(n) = a.threads {
        bench::set_cpu_threads(n)?;
    }
    let tuned = !a.no_allocator_tuning && device::tune_allocator();
    let dir = hub::resolve_model(&a.model, Fetch::Download)?;
    let (dev, dtype) = device_and_dtype(&a.device, a.dtype.as_deref())?;
    let opts = BenchModelOptions {
        warmup: a.warmup,
        repeats: a.repeats,
        ..BenchModelOptions::default()
    };
    let mut report = bench::bench_model(&dir, &dev, dtype, &opts)?;
    report.allocator_tuned = tuned;
    if a.json {
        let json = serde_json::to_string(&report).map_err(|e| mllmu::Error::Json {
            file: "<bench-model report>".into(),
            reason: e.to_string(),
        })?;
        println!("{json}");
    } else {
        print!("{report}");
    }
    Ok(())
}
