//! Timing a checkpoint: a no-grad forward of 4 rows × 128 tokens, greedy generation of 50
//! tokens, and one full training step (forward, backward, transformers-style AdamW), each
//! the median of several runs after a warm-up. `mllmu bench-model` prints it;
//! `benches/model/pytorch_bench.py` measures the same in PyTorch on the same inputs.
//!
//! Inputs are deterministic and identical in both: ids drawn with SplitMix64 (seed 0) from
//! the non-special ids of the vocabulary, and synthetic images computed from a formula.
//! Each row is `BOS, <image> × image_seq_length, question, answer`, the answer being the
//! last half (rounded up) of what follows the image; training labels cover the answer.

use super::generate::{GenerationConfig, Sampling};
use super::llava::Llava;
use super::loss::{masked_cross_entropy, IGNORE_INDEX};
use super::processor::ImageProcessor;
use super::tokenizer::LlavaTokenizer;
use super::Config;
use crate::display::Table;
use crate::train::{AdamW, AdamWParams};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Rows of the forward and training batches.
pub const BATCH: usize = 4;
/// Tokens per row (image tokens included).
pub const SEQ_LEN: usize = 128;
/// Tokens generated (end-of-sequence ids do not stop generation).
pub const NEW_TOKENS: usize = 50;
/// Width of the synthetic images (resized and cropped by the processor).
pub const IMAGE_WIDTH: u32 = 160;
/// Height of the synthetic images.
pub const IMAGE_HEIGHT: u32 = 120;
/// Learning rate of the timed AdamW step.
pub const TRAIN_LR: f64 = 1e-5;

/// How many runs to time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenchModelOptions {
    /// Untimed runs before the timed ones (at least 1 is recommended).
    pub warmup: usize,
    /// Timed runs; the median is reported.
    pub repeats: usize,
    /// Seed of the token ids.
    pub seed: u64,
}

impl Default for BenchModelOptions {
    /// One warm-up, five timed runs, seed 0.
    fn default() -> Self {
        BenchModelOptions {
            warmup: 1,
            repeats: 5,
            seed: 0,
        }
    }
}

/// Seconds of every timed run of each measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSamples {
    /// Forward runs.
    pub forward: Vec<f64>,
    /// Generation runs.
    pub generate: Vec<f64>,
    /// Training steps.
    pub train_step: Vec<f64>,
}

/// The medians (seconds) and the setting they were measured in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelBench {
    /// No-grad forward of 4 rows × 128 tokens, one image per row.
    pub forward_b4x128_s: f64,
    /// Greedy generation of exactly 50 new tokens for one image prompt, prefill included.
    pub generate_50_s: f64,
    /// Forward, backward and AdamW step on the forward's batch, every weight trainable.
    pub train_step_b4x128_s: f64,
    /// CPU threads of candle's matrix products (`RAYON_NUM_THREADS`, else the core count).
    pub threads: usize,
    /// Threads of candle's element-wise kernels ([`elementwise_threads`]).
    pub elementwise_threads: usize,
    /// Threads of this process when the benchmark ended (Linux; 0 elsewhere).
    pub os_threads: usize,
    /// Whether [`super::device::tune_allocator`] is in effect (set by the caller).
    pub allocator_tuned: bool,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Compute dtype (`f32`, `bf16`, `f16`).
    pub dtype: String,
    /// Parameter count.
    pub params: usize,
    /// Tokens of the generation prompt (image tokens included).
    pub prompt_len: usize,
    /// [`BenchInputs::ids_sha256`]: equal in the PyTorch script when the ids are.
    pub ids_sha256: String,
    /// Sum of all pixel values (float64), to compare the images with the PyTorch script.
    pub pixel_sum: f64,
    /// Warm-up runs per measurement.
    pub warmup: usize,
    /// Timed runs per measurement.
    pub repeats: usize,
    /// Every timed run.
    pub samples: BenchSamples,
}

/// The deterministic inputs of the benchmark.
#[derive(Debug, Clone)]
pub struct BenchInputs {
    /// [`BATCH`] rows of [`SEQ_LEN`] ids.
    pub rows: Vec<Vec<u32>>,
    /// Labels: the ids on the answer part, −100 elsewhere.
    pub labels: Vec<Vec<i64>>,
    /// Length of `BOS, image, question`: the generation prompt is row 0 cut there.
    pub prompt_len: usize,
    /// One preprocessed image per row, `[BATCH, 3, H, W]` float32.
    pub pixel_values: Tensor,
}

impl BenchInputs {
    /// SHA-256 of the ids written as decimal numbers, comma-separated, rows joined by `;`.
    ///
    /// ```
    /// # use candle_core::{Device, Tensor};
    /// let inputs = mllmu::model::bench::BenchInputs { rows: vec![vec![1, 2], vec![3]], labels: vec![],
    ///     prompt_len: 1, pixel_values: Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu)? };
    /// assert_eq!(inputs.ids_sha256(), mllmu::io::sha256_hex(b"1,2;3"));
    /// # Ok::<(), candle_core::Error>(())
    /// ```
    pub fn ids_sha256(&self) -> String {
        let text = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(";");
        crate::io::sha256_hex(text.as_bytes())
    }
}

/// SplitMix64 (Steele et al. 2014), small enough to reproduce in Python.
///
/// ```
/// let mut r = mllmu::model::bench::SplitMix64::new(0);
/// assert_eq!(r.next_u64(), 0xe220a8397b1dcdaf);
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The synthetic image of row `index`: channel `c` of pixel `(x, y)` is
/// `(3x + 5y + 85c + 37·index) mod 256`.
///
/// ```
/// let img = mllmu::model::bench::synthetic_image(4, 2, 1);
/// assert_eq!(img.get_pixel(1, 1).0, [45, 130, 215]);
/// ```
pub fn synthetic_image(width: u32, height: u32, index: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = |c: u32| ((3 * x + 5 * y + 85 * c + 37 * index) % 256) as u8;
        image::Rgb([v(0), v(1), v(2)])
    })
}

/// Ids that may be drawn: below both the model's and the tokenizer's vocabulary size and
/// not an added (special) token.
fn drawable_ids(config: &Config, tokenizer: &LlavaTokenizer) -> Vec<u32> {
    let added = tokenizer.inner().get_added_tokens_decoder();
    let n = config.text.vocab_size.min(tokenizer.vocab_size());
    (0..n as u32).filter(|i| !added.contains_key(i)).collect()
}

/// Builds the batch: rows `BOS, <image> × S, question, answer` with SplitMix64 ids (drawn
/// row by row, question then answer), the synthetic image of each row preprocessed.
pub fn bench_inputs(
    config: &Config,
    tokenizer: &LlavaTokenizer,
    processor: &ImageProcessor,
    seed: u64,
    device: &Device,
) -> Result<BenchInputs> {
    let s = config.image_seq_length;
    if SEQ_LEN < s + 3 {
        return Err(Error::param(
            "image_seq_length",
            s,
            format!("{SEQ_LEN}-token rows leave no room for a question and an answer"),
        ));
    }
    let pool = drawable_ids(config, tokenizer);
    if pool.is_empty() {
        return Err(Error::param(
            "vocab_size",
            config.text.vocab_size,
            "the vocabulary has no ordinary tokens to draw",
        ));
    }
    let rest = SEQ_LEN - 1 - s;
    let answer = rest.div_ceil(2);
    let prompt_len = SEQ_LEN - answer;
    let mut rng = SplitMix64::new(seed);
    let mut rows = Vec::with_capacity(BATCH);
    let mut labels = Vec::with_capacity(BATCH);
    for _ in 0..BATCH {
        let mut row = vec![tokenizer.bos_id()];
        row.extend(std::iter::repeat_n(config.image_token_index, s));
        while row.len() < SEQ_LEN {
            row.push(pool[(rng.next_u64() % pool.len() as u64) as usize]);
        }
        labels.push(
            row.iter()
                .enumerate()
                .map(|(i, &t)| {
                    if i < prompt_len {
                        IGNORE_INDEX
                    } else {
                        t as i64
                    }
                })
                .collect(),
        );
        rows.push(row);
    }
    let images: Vec<RgbImage> = (0..BATCH as u32)
        .map(|i| synthetic_image(IMAGE_WIDTH, IMAGE_HEIGHT, i))
        .collect();
    let pixel_values = processor.preprocess_batch(&images, device)?;
    Ok(BenchInputs {
        rows,
        labels,
        prompt_len,
        pixel_values,
    })
}

/// The median (mean of the two middle values for an even count); 0 for no values.
///
/// ```
/// assert_eq!(mllmu::model::bench::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(mllmu::model::bench::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Sets the CPU thread count of candle: `RAYON_NUM_THREADS = n`, the threads of its matrix
/// products (nearly all of the arithmetic). Unless `CANDLE_NUM_THREADS` is already set, it
/// also sets it to 1, so element-wise kernels run on the calling thread: candle's separate
/// element-wise pool would add `n − 1` spinning threads next to rayon's `n`, and on a
/// machine with few (or shared) cores that oversubscription made a training step up to
/// four times slower in our measurements (benches/model/README.md). Call it before any
/// tensor work: rayon's global pool reads the variable once, when it starts.
pub fn set_cpu_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::param("threads", 0, "use at least one thread"));
    }
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    Ok(())
}

/// Threads of candle's element-wise kernels (`CANDLE_NUM_THREADS`, else the matrix-product
/// thread count).
pub fn elementwise_threads() -> usize {
    std::env::var("CANDLE_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(cpu_threads)
}

/// The CPU thread count candle uses.
pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Threads of this process (Linux `/proc/self/status`), 0 where unknown.
pub fn os_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `f` `warmup` times, then `repeats` timed times (the device synchronised after each).
fn time_runs(
    device: &Device,
    opts: &BenchModelOptions,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    for _ in 0..opts.warmup {
        f()?;
        device.synchronize()?;
    }
    let mut out = Vec::with_capacity(opts.repeats);
    for _ in 0..opts.repeats {
        let t = Instant::now();
        f()?;
        device.synchronize()?;
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// Times the checkpoint in `dir` (tokenizer and processor files from the same folder).
pub fn bench_model(
    dir: impl AsRef<Path>,
    device: &Device,
    dtype: DType,
    opts: &BenchModelOptions,
) -> Result<ModelBench> {
    let dir = dir.as_ref();
    if opts.repeats == 0 {
        return Err(Error::param("repeats", 0, "time at least one run"));
    }
    let tokenizer = LlavaTokenizer::from_dir(dir)?;
    let processor = ImageProcessor::from_dir(dir)?;
    let model = Llava::load(dir, device, dtype)?;
    let inputs = bench_inputs(&model.config, &tokenizer, &processor, opts.seed, device)?;
    let flat: Vec<u32> = inputs.rows.concat();
    let ids = Tensor::from_vec(flat, (BATCH, SEQ_LEN), device)?;
    let labels = Tensor::from_vec(inputs.labels.concat(), (BATCH, SEQ_LEN), device)?;
    let params = model
        .named_tensors()
        .iter()
        .map(|(_, t)| t.elem_count())
        .sum();

    let forward = time_runs(device, opts, || {
        model.forward(&ids, Some(&inputs.pixel_values), None)?;
        Ok(())
    })?;

    let prompt = vec![inputs.rows[0][..inputs.prompt_len].to_vec()];
    let image0 = inputs.pixel_values.narrow(0, 0, 1)?;
    let cfg = GenerationConfig {
        max_new_tokens: NEW_TOKENS,
        sampling: Sampling::Greedy,
        eos_token_ids: vec![],
        pad_token_id: None,
    };
    let generate = time_runs(device, opts, || {
        let out = model.generate(&prompt, Some(&image0), &cfg)?;
        let n = out.new_ids.first().map_or(0, Vec::len);
        if n != NEW_TOKENS {
            return Err(Error::param(
                "max_new_tokens",
                NEW_TOKENS,
                format!("generation produced {n} tokens"),
            ));
        }
        Ok(())
    })?;
    drop(model);

    let (model, vars) = Llava::load_trainable(dir, device, dtype)?;
    let params_adamw = AdamWParams {
        lr: TRAIN_LR,
        ..AdamWParams::default()
    };
    let mut opt = AdamW::new(vars.all_vars(), params_adamw)?;
    let train_step = time_runs(device, opts, || {
        let logits = model.forward(&ids, Some(&inputs.pixel_values), None)?;
        let loss = masked_cross_entropy(&logits, &labels, None)?;
        let grads = loss.backward()?;
        opt.step(&grads)?;
        Ok(())
    })?;

    Ok(ModelBench {
        forward_b4x128_s: median(&forward),
        generate_50_s: median(&generate),
        train_step_b4x128_s: median(&train_step),
        threads: cpu_threads(),
        elementwise_threads: elementwise_threads(),
        os_threads: os_threads(),
        allocator_tuned: false,
        device: super::device::describe(device),
        dtype: dtype.as_str().to_string(),
        params,
        prompt_len: inputs.prompt_len,
        ids_sha256: inputs.ids_sha256(),
        pixel_sum: inputs
            .pixel_values
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?,
        warmup: opts.warmup,
        repeats: opts.repeats,
        samples: BenchSamples {
            forward,
            generate,
            train_step,
        },
    })
}

impl ModelBench {
    fn table(&self) -> Table {
        let mut t = Table::new(
            format!(
                "bench-model: {} params, {} {}, {} threads, median of {} after {} warm-up",
                self.params, self.device, self.dtype, self.threads, self.repeats, self.warmup
            ),
            ["metric", "median s", "runs s"],
        );
        let runs = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.4}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        t.push([
            "forward_b4x128_s".to_string(),
            format!("{:.4}", self.forward_b4x128_s),
            runs(&self.samples.forward),
        ]);
        t.push([
            "generate_50_s".to_string(),
            format!("{:.4}", self.generate_50_s),
            runs(&self.samples.generate),
        ]);
        t.push([
            "train_step_b4x128_s".to_string(),
            format!("{:.4}", self.train_step_b4x128_s),
            runs(&self.samples.train_step),
        ]);
        t
    }

    /// The table as HTML for notebooks.
    pub fn to_html(&self) -> String {
        self.table().to_html()
    }

    /// Shows the table in evcxr; never panics.
    pub fn evcxr_display(&self) {
        crate::display::print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for ModelBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> &'static str {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-llava")
    }

    #[test]
    fn splitmix_matches_the_published_sequence() {
        // First outputs for seed 1234567 from the reference implementation (Vigna).
        let mut r = SplitMix64::new(1234567);
        let want = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
        ];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
    }

    #[test]
    fn inputs_have_the_documented_layout() {
        let dir = Path::new(fixture());
        let config = Config::load(dir).unwrap();
        let tok = LlavaTokenizer::from_dir(dir).unwrap();
        let proc = ImageProcessor::from_dir(dir).unwrap();
        let a = bench_inputs(&config, &tok, &proc, 0, &Device::Cpu).unwrap();
        let s = config.image_seq_length; // 36: 91 tokens left, 46 answer tokens
        assert_eq!(a.prompt_len, SEQ_LEN - 46);
        assert_eq!(a.pixel_values.dims(), &[BATCH, 3, 42, 42]);
        for (row, labels) in a.rows.iter().zip(&a.labels) {
            assert_eq!(row.len(), SEQ_LEN);
            assert_eq!(row[0], 1);
            assert!(row[1..=s].iter().all(|&t| t == config.image_token_index));
            assert!(
                row[s + 1..].iter().all(|&t| (3..1456).contains(&t)),
                "special id drawn"
            );
            for (i, (&t, &l)) in row.iter().zip(labels).enumerate() {
                let want = if i < a.prompt_len { -100 } else { t as i64 };
                assert_eq!(l, want, "label {i}");
            }
        }
        assert_ne!(a.rows[0], a.rows[1]);
        let b = bench_inputs(&config, &tok, &proc, 0, &Device::Cpu).unwrap();
        assert_eq!(a.rows, b.rows, "same seed, same ids");
        let c = bench_inputs(&config, &tok, &proc, 1, &Device::Cpu).unwrap();
        assert_ne!(a.rows, c.rows);
        // the rows' images differ
        let sums = a
            .pixel_values
            .sum((1, 2, 3))
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((sums[0] - sums[1]).abs() > 1.0, "{sums:?}");
    }

    #[test]
    fn thread_count_is_validated() {
        assert!(set_cpu_threads(0)
            .unwrap_err()
            .to_string()
            .contains("at least one thread"));
    }

    #[test]
    fn bench_on_the_tiny_model_reports_every_run() {
        let opts = BenchModelOptions {
            warmup: 0,
            repeats: 2,
            seed: 0,
        };
        let b = bench_model(fixture(), &Device::Cpu, DType::F32, &opts).unwrap();
        assert_eq!(b.samples.forward.len(), 2);
        assert_eq!(b.samples.train_step.len(), 2);
        assert_eq!(b.forward_b4x128_s, median(&b.samples.forward));
        assert!(b.samples.generate.iter().all(|&s| s > 0.0));
        assert_eq!(b.params, 651_312); // the elements of model.safetensors
        let json = serde_json::to_value(&b).unwrap();
        for k in ["forward_b4x128_s", "generate_50_s", "train_step_b4x128_s"] {
            assert!(json[k].is_f64(), "{k}");
        }
        assert!(b.to_string().contains("generate_50_s"));
        let err = bench_model(
            fixture(),
            &Device::Cpu,
            DType::F32,
            &BenchModelOptions { repeats: 0, ..opts },
        )
        .unwrap_err();
        assert!(err.to_string().contains("repeats"));
    }
}
