//! LLaVA-1.5 on candle, written for this project: configuration with the implicit
//! transformers defaults, CLIP vision tower, projector, Llama decoder, weights (single or
//! sharded safetensors, f16/bf16/f32, load and save in the hub layout), a masked
//! cross-entropy loss, batched KV-cache generation and LoRA adapters.
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

pub mod bench;
pub mod bundle;
pub mod clip;
pub mod config;
pub mod device;
pub mod generate;
pub mod hub;
pub mod linear;
pub mod llama;
pub mod llava;
pub mod lora;
pub mod loss;
pub mod mini;
pub mod norm;
pub mod processor;
pub mod prompt;
pub mod resample;
pub mod tokenizer;
pub mod weights;

pub use bundle::Model;
pub use config::Config;
pub use generate::{Generation, GenerationConfig, PrefixCache, Sampling};
pub use llava::{Llava, LlavaOutput};
pub use lora::LoraConfig;
pub use loss::{masked_cross_entropy, token_nll};
pub use processor::ImageProcessor;
pub use tokenizer::LlavaTokenizer;
pub use weights::{SaveOptions, Weights};
