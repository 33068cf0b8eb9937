//! `mllmu bench-model`: timing a checkpoint. A no-grad forward of 4 rows × 128 tokens, greedy
//! generation of 50 tokens, and one full training step (forward, backward, transformers-style
//! AdamW), each the median of several runs after a warm-up.
//! `benches/model/pytorch_bench.py` measures the same in PyTorch on the same inputs.
//!
//! Inputs are deterministic and identical in both: ids drawn with SplitMix64 (seed 0) from
//! the non-special ids of the vocabulary, and synthetic images computed from a formula.
//! Each row is `BOS, <image> × image_seq_length, question, answer`, the answer being the
//! last half (rounded up) of what follows the image; training labels cover the answer.

use crate::device_args::DeviceArgs;
use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use mllmu::display::Table;
use mllmu::hub::{self, Fetch};
use mllmu::model::{device, Config, GenerationConfig, ImageProcessor, Llava, LlavaTokenizer};
use mllmu::train::loss::{token_mean_nll, Pass, IGNORE_INDEX};
use mllmu::train::{AdamW, AdamWParams};
use mllmu::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Rows of the forward and training batches.
const BATCH: usize = 4;
/// Tokens per row (image tokens included).
const SEQ_LEN: usize = 128;
/// Tokens generated (end-of-sequence ids do not stop generation).
const NEW_TOKENS: usize = 50;
/// Size of the synthetic images (resized and cropped by the processor).
const IMAGE_SIZE: (u32, u32) = (160, 120);
/// Learning rate of the timed AdamW step.
const TRAIN_LR: f64 = 1e-5;

/// Arguments of `mllmu bench-model`.
#[derive(clap::Args)]
pub struct BenchModelArgs {
    /// Time this model folder (llava-hf layout) or, with the `hub` feature, hub id
    #[arg(long)]
    model: String,
    /// Run on this many CPU threads (default: all cores, or RAYON_NUM_THREADS)
    #[arg(long)]
    threads: Option<usize>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: DeviceArgs,
    /// Time this many runs per measurement (the median is reported)
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Warm up with this many untimed runs per measurement
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Keep glibc's default allocator settings (see `device::tune_allocator`)
    #[arg(long)]
    no_allocator_tuning: bool,
    /// Run every operation through its composite candle path instead of the fused CPU
    /// kernels (`mllmu::model::fused`): the "before" of a speed comparison
    #[arg(long)]
    composite: bool,
}

/// Runs `mllmu bench-model`.
pub fn run(a: BenchModelArgs) -> Result<()> {
    // First, before any thread pool starts.
    if let Some(n) = a.threads {
        set_cpu_threads(n)?;
    }
    let tuned = !a.no_allocator_tuning && device::tune_allocator();
    mllmu::model::fused::set_enabled(!a.composite);
    let dir = hub::resolve_model(&a.model, Fetch::Download)?;
    let (dev, dtype) = a.device.resolve()?;
    let opts = Options {
        warmup: a.warmup,
        repeats: a.repeats,
        seed: 0,
    };
    let mut report = bench_model(&dir, &dev, dtype, &opts)?;
    report.allocator_tuned = tuned;
    report.fused = !a.composite;
    if a.json {
        let json =
            serde_json::to_string(&report).map_err(|e| Error::json("<bench-model report>", e))?;
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// How many runs to time.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// Untimed runs before the timed ones (at least 1 is recommended).
    warmup: usize,
    /// Timed runs; the median is reported.
    repeats: usize,
    /// Seed of the token ids.
    seed: u64,
}

/// Seconds of every timed run of each measurement.
#[derive(Debug, Clone, Serialize)]
struct Samples {
    forward: Vec<f64>,
    generate: Vec<f64>,
    train_step: Vec<f64>,
}

/// The medians (seconds) and the setting they were measured in (the JSON output).
#[derive(Debug, Clone, Serialize)]
struct ModelBench {
    /// No-grad forward of 4 rows × 128 tokens, one image per row.
    forward_b4x128_s: f64,
    /// Greedy generation of exactly 50 new tokens for one image prompt, prefill included.
    generate_50_s: f64,
    /// Forward, backward and AdamW step on the forward's batch, every weight trainable.
    train_step_b4x128_s: f64,
    /// Tokens through the no-grad forward per second (`4 × 128 / forward_b4x128_s`).
    forward_tokens_per_s: f64,
    /// New tokens per second of the generation (`50 / generate_50_s`).
    generate_tokens_per_s: f64,
    /// Tokens trained on per second (`4 × 128 / train_step_b4x128_s`).
    train_tokens_per_s: f64,
    /// Whether the fused CPU kernels were on (`--composite` turns them off).
    fused: bool,
    /// Where the training step's time goes (medians of the same runs).
    train_phases: TrainPhases,
    /// CPU threads of candle's matrix products (`RAYON_NUM_THREADS`, else the core count).
    threads: usize,
    /// Threads of candle's element-wise kernels ([`elementwise_threads`]).
    elementwise_threads: usize,
    /// Threads of this process when the benchmark ended (Linux; 0 elsewhere).
    os_threads: usize,
    /// Whether `device::tune_allocator` is in effect.
    allocator_tuned: bool,
    /// `cpu` or `cuda:N`.
    device: String,
    /// Compute dtype (`f32`, `bf16`, `f16`).
    dtype: String,
    /// Parameter count.
    params: usize,
    /// Tokens of the generation prompt (image tokens included).
    prompt_len: usize,
    /// [`Inputs::ids_sha256`]: equal in the PyTorch script when the ids are.
    ids_sha256: String,
    /// Sum of all pixel values (float64), to compare the images with the PyTorch script.
    pixel_sum: f64,
    /// Warm-up runs per measurement.
    warmup: usize,
    /// Timed runs per measurement.
    repeats: usize,
    /// Every timed run.
    samples: Samples,
}

/// The training step in three parts, seconds (medians over the timed runs).
#[derive(Debug, Clone, Serialize)]
struct TrainPhases {
    /// Forward with the loss.
    forward_s: f64,
    /// `loss.backward()`.
    backward_s: f64,
    /// The AdamW update.
    optimizer_s: f64,
}

/// The deterministic inputs of the benchmark.
struct Inputs {
    /// [`BATCH`] rows of [`SEQ_LEN`] ids.
    rows: Vec<Vec<u32>>,
    /// Labels: the ids on the answer part, −100 elsewhere.
    labels: Vec<Vec<i64>>,
    /// Length of `BOS, image, question`: the generation prompt is row 0 cut there.
    prompt_len: usize,
    /// One preprocessed image per row, `[BATCH, 3, H, W]` float32.
    pixel_values: Tensor,
}

impl Inputs {
    /// SHA-256 of the ids written as decimal numbers, comma-separated, rows joined by `;`.
    fn ids_sha256(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| r.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
            .collect();
        mllmu::io::sha256_hex(rows.join(";").as_bytes())
    }
}

/// SplitMix64 (Steele et al. 2014), small enough to reproduce in Python.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The synthetic image of row `index`: channel `c` of pixel `(x, y)` is
/// `(3x + 5y + 85c + 37·index) mod 256`.
fn synthetic_image((width, height): (u32, u32), index: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = |c: u32| ((3 * x + 5 * y + 85 * c + 37 * index) % 256) as u8;
        image::Rgb([v(0), v(1), v(2)])
    })
}

/// Builds the batch: rows `BOS, <image> × S, question, answer` with SplitMix64 ids (drawn
/// row by row, question then answer) among the ids below both vocabulary sizes that are not
/// added (special) tokens, the synthetic image of each row preprocessed.
fn bench_inputs(
    config: &Config,
    tokenizer: &LlavaTokenizer,
    processor: &ImageProcessor,
    seed: u64,
    device: &Device,
) -> Result<Inputs> {
    let s = config.image_seq_length;
    if SEQ_LEN < s + 3 {
        return Err(Error::param(
            "image_seq_length",
            s,
            format!("{SEQ_LEN}-token rows leave no room for a question and an answer"),
        ));
    }
    let added = tokenizer.inner().get_added_tokens_decoder();
    let n = config.text.vocab_size.min(tokenizer.vocab_size());
    let pool: Vec<u32> = (0..n as u32).filter(|i| !added.contains_key(i)).collect();
    if pool.is_empty() {
        return Err(Error::param(
            "vocab_size",
            config.text.vocab_size,
            "the vocabulary has no ordinary tokens to draw",
        ));
    }
    let answer = (SEQ_LEN - 1 - s).div_ceil(2);
    let prompt_len = SEQ_LEN - answer;
    let mut rng = SplitMix64 { state: seed };
    let mut rows = Vec::with_capacity(BATCH);
    let mut labels = Vec::with_capacity(BATCH);
    for _ in 0..BATCH {
        let mut row = vec![tokenizer.bos_id()];
        row.extend(std::iter::repeat_n(config.image_token_index, s));
        while row.len() < SEQ_LEN {
            row.push(pool[(rng.next_u64() % pool.len() as u64) as usize]);
        }
        let label = |(i, &t): (usize, &u32)| {
            if i < prompt_len {
                IGNORE_INDEX
            } else {
                t as i64
            }
        };
        labels.push(row.iter().enumerate().map(label).collect());
        rows.push(row);
    }
    let images: Vec<RgbImage> = (0..BATCH as u32)
        .map(|i| synthetic_image(IMAGE_SIZE, i))
        .collect();
    let pixel_values = processor.preprocess_batch(&images, device)?;
    Ok(Inputs {
        rows,
        labels,
        prompt_len,
        pixel_values,
    })
}

/// The median (mean of the two middle values for an even count); 0 for no values.
fn median(values: &[f64]) -> f64 {
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
fn set_cpu_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::param("threads", 0, "use at least one thread"));
    }
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    device::elementwise_on_caller();
    Ok(())
}

/// Threads of candle's element-wise kernels (`CANDLE_NUM_THREADS`, else the matrix-product
/// thread count).
fn elementwise_threads() -> usize {
    std::env::var("CANDLE_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(candle_core::utils::get_num_threads)
}

/// Threads of this process (Linux `/proc/self/status`), 0 where unknown.
fn os_threads() -> usize {
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
    opts: &Options,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(opts.repeats);
    for run in 0..opts.warmup + opts.repeats {
        let t = Instant::now();
        f()?;
        device.synchronize()?;
        if run >= opts.warmup {
            out.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(out)
}

/// Times the checkpoint in `dir` (tokenizer and processor files from the same folder).
fn bench_model(dir: &Path, device: &Device, dtype: DType, opts: &Options) -> Result<ModelBench> {
    if opts.repeats == 0 {
        return Err(Error::param("repeats", 0, "time at least one run"));
    }
    let tokenizer = LlavaTokenizer::from_dir(dir)?;
    let processor = ImageProcessor::from_dir(dir)?;
    let model = Llava::load(dir, device, dtype)?;
    let inputs = bench_inputs(&model.config, &tokenizer, &processor, opts.seed, device)?;
    let ids = Tensor::from_vec(inputs.rows.concat(), (BATCH, SEQ_LEN), device)?;
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
        eos_token_ids: vec![],
        ..GenerationConfig::default()
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
    let adamw = AdamWParams {
        lr: TRAIN_LR,
        ..AdamWParams::default()
    };
    let mut opt = AdamW::new(vars.all_vars(), adamw)?;
    let mut phases = Vec::new();
    let train_step = time_runs(device, opts, || {
        let t0 = Instant::now();
        let logits = model.forward(&ids, Some(&inputs.pixel_values), None)?;
        let loss = token_mean_nll(&Pass::new(&logits, &labels, None))?;
        device.synchronize()?;
        let t1 = Instant::now();
        let grads = mllmu::model::fused::backward(&loss)?;
        device.synchronize()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        device.synchronize()?;
        phases.push([t1 - t0, t2 - t1, t2.elapsed()].map(|d| d.as_secs_f64()));
        Ok(())
    })?;
    // the timed runs are the last `repeats`
    let phases = &phases[phases.len() - opts.repeats..];
    let phase = |i: usize| median(&phases.iter().map(|p| p[i]).collect::<Vec<_>>());
    let train_phases = TrainPhases {
        forward_s: phase(0),
        backward_s: phase(1),
        optimizer_s: phase(2),
    };

    let (fwd, gen, step) = (median(&forward), median(&generate), median(&train_step));
    let batch_tokens = (BATCH * SEQ_LEN) as f64;
    Ok(ModelBench {
        forward_b4x128_s: fwd,
        generate_50_s: gen,
        train_step_b4x128_s: step,
        forward_tokens_per_s: batch_tokens / fwd,
        generate_tokens_per_s: NEW_TOKENS as f64 / gen,
        train_tokens_per_s: batch_tokens / step,
        fused: mllmu::model::fused::enabled(),
        train_phases,
        threads: candle_core::utils::get_num_threads(),
        elementwise_threads: elementwise_threads(),
        os_threads: os_threads(),
        allocator_tuned: false,
        device: device::describe(device),
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
        samples: Samples {
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
                "bench-model: {} params, {} {}, {} threads, {} kernels, median of {} after {} warm-up",
                self.params,
                self.device,
                self.dtype,
                self.threads,
                if self.fused { "fused" } else { "composite" },
                self.repeats,
                self.warmup
            ),
            ["metric", "median s", "tokens/s", "runs s"],
        );
        let s = &self.samples;
        for (name, median, rate, runs) in [
            (
                "forward_b4x128_s",
                self.forward_b4x128_s,
                self.forward_tokens_per_s,
                &s.forward,
            ),
            (
                "generate_50_s",
                self.generate_50_s,
                self.generate_tokens_per_s,
                &s.generate,
            ),
            (
                "train_step_b4x128_s",
                self.train_step_b4x128_s,
                self.train_tokens_per_s,
                &s.train_step,
            ),
        ] {
            let runs: Vec<String> = runs.iter().map(|x| format!("{x:.4}")).collect();
            t.push([
                name.to_string(),
                format!("{median:.4}"),
                format!("{rate:.1}"),
                runs.join(" "),
            ]);
        }
        let p = &self.train_phases;
        for (name, v) in [
            ("  of which forward", p.forward_s),
            ("  of which backward", p.backward_s),
            ("  of which optimizer", p.optimizer_s),
        ] {
            t.push([name, &format!("{v:.4}"), "", ""]);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> &'static Path {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny-llava"
        ))
    }

    #[test]
    fn splitmix_matches_the_published_sequence() {
        assert_eq!(SplitMix64 { state: 0 }.next_u64(), 0xe220a8397b1dcdaf);
        // First outputs for seed 1234567 from the reference implementation (Vigna).
        let mut r = SplitMix64 { state: 1234567 };
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
    fn helpers_follow_their_formulas() {
        assert_eq!(synthetic_image((4, 2), 1).get_pixel(1, 1).0, [45, 130, 215]);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let inputs = Inputs {
            rows: vec![vec![1, 2], vec![3]],
            labels: vec![],
            prompt_len: 1,
            pixel_values: Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
        };
        assert_eq!(inputs.ids_sha256(), mllmu::io::sha256_hex(b"1,2;3"));
    }

    #[test]
    fn inputs_have_the_documented_layout() {
        let dir = fixture();
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
        let opts = Options {
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
        assert!(b.table().to_string().contains("generate_50_s"));
        let err = bench_model(
            fixture(),
            &Device::Cpu,
            DType::F32,
            &Options { repeats: 0, ..opts },
        )
        .unwrap_err();
        assert!(err.to_string().contains("repeats"));
    }
}
