//! Helpers shared by the `model_*` integration tests: fixture paths and reference values.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub struct Reference {
    pub json: serde_json::Value,
    pub tensors: HashMap<String, Tensor>,
}

impl Reference {
    pub fn load() -> Reference {
        let dir = fixture("tiny-llava/reference");
        let text = std::fs::read_to_string(dir.join("ref_logits.json")).unwrap();
        let json = serde_json::from_str(&text).unwrap();
        let tensors =
            candle_core::safetensors::load(dir.join("ref_logits.safetensors"), &Device::Cpu)
                .unwrap();
        Reference { json, tensors }
    }

    pub fn case(&self, name: &str) -> &serde_json::Value {
        &self.json["cases"][name]
    }

    pub fn ids(&self, case: &str, field: &str) -> Vec<u32> {
        self.case(case)[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect()
    }

    pub fn tensor(&self, name: &str) -> Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
            .clone()
    }

    /// Pixel values of a case, or None for text-only cases.
    pub fn pixels(&self, case: &str) -> Option<Tensor> {
        self.tensors.get(&format!("{case}.pixel_values")).cloned()
    }
}

pub fn ids_tensor(ids: &[u32]) -> Tensor {
    Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu).unwrap()
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Last-position logits `[vocab]` of a `[1, L, V]` logits tensor.
pub fn last(logits: &Tensor) -> Tensor {
    let l = logits.dim(1).unwrap();
    logits.narrow(1, l - 1, 1).unwrap().flatten_all().unwrap()
}

pub const GEN_CASES: [&str; 4] = ["image", "text", "multi_image", "image_eval_gen_prompt"];
