//! Training: the optimizer, learning-rate schedule, clipping and accumulation, the
//! fine-tuning and unlearning objectives, collation, and resumable state.
//!
//! Everything here works on candle tensors and [`candle_core::Var`]s, independent of the
//! model: the training loop feeds it logits (and hidden states) from any forward pass.
//!
//! | file | concept |
//! |---|---|
//! | [`optim`] | transformers.AdamW with f32 moments and a bit-exact state file |
//! | [`schedule`] | linear / constant learning rate, stepped per batch or per epoch |
//! | [`clip`] | global-norm clipping (torch semantics), gradient accumulation |
//! | [`loss`] | masked token-mean NLL (transformers LLaVA), per-sequence NLL, KL, MSE |
//! | [`objectives`] | fine-tune, GA, GradDiff, KL_Min, NPO, SimNPO, IdkNLL, IdkDPO, RMU |
//! | [`collate`] | prompt template, tokenization, label mask, padding, batches |
//! | [`sampler`] | seeded, resumable per-epoch sample order |
//! | [`history`] | the loss curve (step, loss, lr, samples/s) with rich display |
//! | [`checkpoint`] | the resumable training state, written atomically |

pub mod checkpoint;
pub mod clip;
pub mod collate;
pub mod history;
pub mod loss;
pub mod objectives;
pub mod optim;
pub mod sampler;
pub mod schedule;

pub use checkpoint::TrainState;
pub use clip::{clip_grad_norm, grad_norm, GradAccumulator};
pub use collate::{Batch, CollateOptions, LabelMask, PadSide, PromptTemplate, TrainSample};
pub use history::{LossHistory, LossRecord};
pub use loss::Pass;
pub use objectives::ObjectiveSpec;
pub use optim::{AdamW, AdamWParams, OptimizerState};
pub use sampler::EpochSampler;
pub use schedule::{LrSchedule, Scheduler, Stepping};
