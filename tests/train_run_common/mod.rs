//! Helpers shared by the `train_run*` integration tests: the tiny model, a small mini
//! benchmark, small sample sets, hand-built batches.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use mllmu::bench::{Bench, MiniConfig};
use mllmu::model::Model;
use mllmu::train::collate::Batch;
use mllmu::train::{SampleSet, TrainOptions};
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The tiny LLaVA in float32 on the CPU.
pub fn base() -> Model {
    Model::load_with(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap()
}

/// A mini benchmark with 6 profiles and 2 celebrities (generated once per machine).
pub fn mini() -> Bench {
    Bench::mini(&MiniConfig {
        seed: 11,
        profiles: 6,
        celebrities: 2,
    })
    .unwrap()
}

/// The first `n` samples of a set (portraits kept).
pub fn first(set: &SampleSet, n: usize) -> SampleSet {
    SampleSet {
        samples: set.samples[..n.min(set.len())].to_vec(),
        ..set.clone()
    }
}

/// Quiet options: no progress bar, nothing written unless `out_dir` is set.
pub fn quiet() -> TrainOptions {
    TrainOptions {
        progress: false,
        ..TrainOptions::default()
    }
}

/// Pixel values of the rows' portraits, `[n, 3, H, W]`.
pub fn pixels(model: &Model, set: &SampleSet, batch: &Batch) -> Option<Tensor> {
    let images: Vec<image::RgbImage> = batch
        .images
        .iter()
        .flatten()
        .map(|&i| set.images[i].decode().unwrap())
        .collect();
    if images.is_empty() {
        return None;
    }
    Some(
        model
            .processor
            .preprocess_batch(&images, &Device::Cpu)
            .unwrap(),
    )
}

pub fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Every weight of a model (LoRA merged) as f32 vectors, by name.
pub fn weights(m: &mllmu::model::Llava) -> Vec<(String, Vec<f32>)> {
    let merged: std::collections::HashMap<String, Tensor> =
        m.merged_lora_weights().unwrap().into_iter().collect();
    let mut out: Vec<(String, Vec<f32>)> = m
        .named_tensors()
        .into_iter()
        .map(|(n, t)| {
            let t = merged.get(&n).cloned().unwrap_or(t);
            (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
