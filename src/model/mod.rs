//! LLaVA-1.5 on candle, written for this project: configuration with the implicit
//! transformers defaults, CLIP vision tower, projector, Llama decoder, weights (single or
//! sharded safetensors, f16/bf16/f32, load and save in the hub layout), batched KV-cache
//! generation and LoRA adapters.
//!
//! Every op used in a forward pass has a backward pass in candle (no fused kernels), so a
//! model built from [`candle_core::Var`]s trains end to end.
//!
//! ```no_run
//! use mllmu::model::{device, GenerationConfig, Llava};
//! let dev = device::auto()?;
//! let model = Llava::load("tests/fixtures/tiny-llava", &dev, device::default_dtype(&dev))?;
//! let out = model.generate(&[vec![1, 1401, 353]], None, &GenerationConfig::greedy_for(&model, 20))?;
//! println!("{:?}", out.new_ids[0]);
//! # Ok::<(), mllmu::Error>(())
//! ```

pub mod adapter;
pub mod bundle;
mod clip;
pub mod config;
pub mod device;
pub mod embedded;
pub mod fused;
pub mod generate;
mod json;
pub mod linear;
mod llama;
pub mod llava;
pub mod lora;
pub mod mini;
mod norm;
pub mod processor;
pub mod resample;
pub mod tokenizer;
pub mod weights;

/// The precision of the numerically delicate steps (softmax, norm statistics): float32 for
/// the half types and float32 itself, as transformers upcasts; float64 stays float64.
pub(crate) fn upcast(dtype: candle_core::DType) -> candle_core::DType {
    match dtype {
        candle_core::DType::F64 => candle_core::DType::F64,
        _ => candle_core::DType::F32,
    }
}

pub use adapter::LoraConfig;
pub use bundle::Model;
pub use config::Config;
pub use generate::{Generation, GenerationConfig, PrefixCache, Sampling};
pub use llava::{Llava, LlavaOutput};
pub use processor::ImageProcessor;
pub use tokenizer::LlavaTokenizer;
pub use weights::{Expected, SaveOptions, Weights};
