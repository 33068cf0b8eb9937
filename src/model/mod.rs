//! LLaVA-1.5 on candle: image processor, tokenizer with `<image>` expansion, and the model.

pub mod processor;
pub mod tokenizer;
