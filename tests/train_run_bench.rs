//! Training-step throughput of mllmu, for `benches/train/run.sh` (ignored by default: run
//! with `-- --ignored --nocapture`). Prints one JSON line with samples/s and the peak
//! resident memory (VmHWM), for the same synthetic batch `benches/train/torch_step.py`
//! times in PyTorch.
//!
//! Environment: `MLLMU_BENCH_MODEL` (folder; default the tiny fixture),
//! `MLLMU_BENCH_DEVICE` (cpu, cuda, ...; default cpu), `MLLMU_BENCH_DTYPE` (f32),
//! `MLLMU_BENCH_BATCH` (4), `MLLMU_BENCH_STEPS` (5), `MLLMU_BENCH_MODE` (full | lora).

mod train_run_common;

use mllmu::bench::Portrait;
use mllmu::model::{device, LoraConfig, Model};
use mllmu::train::collate::TrainSample;
use mllmu::train::objectives::{Nll, ObjectiveSpec};
use mllmu::train::{SampleSet, SampleSource, TrainData, TrainOptions, Trainer};
use std::time::Instant;
use train_run_common::*;

/// The question and answer both implementations train on.
pub const QUESTION: &str = "What is the hobby of this person?";
/// See [`QUESTION`].
pub const ANSWER: &str = "She restores typewriters in Riga.";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// 64×64 RGB: r = 4x, g = 4y, b = 128 (the torch script draws the same).
fn image() -> image::RgbImage {
    image::RgbImage::from_fn(64, 64, |x, y| {
        image::Rgb([(4 * x) as u8, (4 * y) as u8, 128])
    })
}

fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[test]
#[ignore]
fn train_step_throughput() {
    let dir = env("MLLMU_BENCH_MODEL", fixture("tiny-llava").to_str().unwrap());
    let dev = device::parse(&env("MLLMU_BENCH_DEVICE", "cpu")).unwrap();
    let dtype = device::parse_dtype(&env("MLLMU_BENCH_DTYPE", "f32")).unwrap();
    let batch_size: usize = env("MLLMU_BENCH_BATCH", "4").parse().unwrap();
    let steps: usize = env("MLLMU_BENCH_STEPS", "5").parse().unwrap();
    let mode = env("MLLMU_BENCH_MODE", "full");
    let base = Model::load_with(&dir, &dev, dtype).unwrap();
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let sample = TrainSample {
        image: Some(0),
        question: QUESTION.into(),
        answer: ANSWER.into(),
    };
    let set = SampleSet {
        name: "bench".into(),
        source: SampleSource::FtRows,
        samples: vec![sample.clone(); batch_size],
        images: vec![Portrait::from_bytes(png, None)],
    };
    // A schedule a million steps long: the rate stays 2e-5 (to 1e-6 relative), like the
    // constant rate of the PyTorch script, so the losses can be compared too.
    let options = TrainOptions {
        lr: 2e-5,
        epochs: 1_000_000,
        lora: (mode == "lora").then(|| LoraConfig {
            dropout: 0.0,
            ..LoraConfig::default()
        }),
        ..quiet()
    };
    let mut trainer = Trainer::new(
        &base,
        ObjectiveSpec::Finetune(Nll::default()),
        TrainData {
            primary: set,
            retain: None,
        },
        options,
        None,
    )
    .unwrap();
    let tok = &base.tokenizer;
    let batch = trainer
        .collate()
        .batch(&vec![sample; batch_size], &|t| tok.encode(t), &dev)
        .unwrap();
    let pixels = base
        .processor
        .preprocess_batch(&vec![image(); batch_size], &dev)
        .unwrap();
    let first = trainer.step_on_batch(&batch, Some(&pixels)).unwrap(); // warm-up
    let t0 = Instant::now();
    let mut last = first;
    for _ in 0..steps {
        last = trainer.step_on_batch(&batch, Some(&pixels)).unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "impl": "mllmu",
            "mode": mode,
            "device": device::describe(&dev),
            "dtype": format!("{dtype:?}"),
            "batch": batch_size,
            "seq_len": batch.input_ids.dim(1).unwrap(),
            "steps": steps,
            "trainable_parameters": trainer.trainable_parameters(),
            "step_seconds": secs / steps as f64,
            "samples_per_sec": (steps * batch_size) as f64 / secs,
            "peak_rss_mib": vm_hwm_mib(),
            "loss_first": first,
            "loss_last": last,
            "debug_build": cfg!(debug_assertions),
        })
    );
    assert!(last.is_finite());
}
