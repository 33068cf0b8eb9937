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
//! | [`grad_clip`] | global-norm gradient clipping (torch semantics), gradient accumulation |
//! | [`loss`] | masked token-mean NLL (transformers LLaVA), per-sequence NLL, KL, MSE |
//! | [`objectives`] | the [`Objective`] trait; fine-tune, GA, GradDiff, KL_Min, NPO, SimNPO, IdkNLL, IdkDPO, RMU |
//! | [`collate`] | prompt template, tokenization, label mask, padding, batches |
//! | [`sampler`] | seeded, resumable per-epoch sample order |
//! | [`plan`] | batches and steps of a run; the micro-batches of each epoch |
//! | [`history`] | the loss curve (step, loss, lr, samples/s) with rich display |
//! | [`checkpoint`] | checkpoint folders and the resumable training state, written atomically |
//! | [`data`] | training samples from benchmark rows (ft_Data, forget/retain, celebrities) |
//! | [`options`] | the settings shared by every run ([`TrainOptions`]) |
//! | [`trainer`] | the loop: LoRA/full, passes, AdamW, schedule, accumulation, checkpoints, resume, NaN guard |
//! | [`corpus`] | the pretraining corpus of `mini-llava` (invented people in every eval form) |
//! | [`mini_llava`] | the recipe that makes `mini-llava` (corpus, tokenizer, pretraining) |
//! | [`pretrain`] | pretraining from scratch on free-form documents (mini-llava) |
//! | [`run_log`] | `train_log.json` and the [`Trained`] result |
//! | [`finetune`] | [`Finetune`]: the vanilla model's recipe |
//! | [`relearn`] | [`Relearn`]: a few fine-tuning steps on part of the forget set, the rest measured |
//! | [`unlearn`] | [`Unlearn`]: GA, GradDiff, KL, NPO, SimNPO, IdkNLL, IdkDPO, RMU presets |

mod adamw_fused;
pub mod checkpoint;
pub mod collate;
pub mod corpus;
pub mod data;
pub mod finetune;
pub mod grad_clip;
pub mod history;
pub mod loss;
pub mod mini_llava;
pub mod objectives;
pub mod optim;
pub mod options;
pub mod plan;
pub mod pretrain;
pub mod relearn;
pub mod run_log;
pub mod sampler;
pub mod schedule;
pub mod trainer;
pub mod unlearn;

pub use checkpoint::{Checkpoint, TrainState};
pub use collate::{Batch, CollateOptions, LabelMask, PadSide, PromptTemplate, TrainSample};
pub use data::{SampleSet, SampleSource, SetSummary};
pub use finetune::Finetune;
pub use grad_clip::{clip_grad_norm, grad_norm, GradAccumulator};
pub use history::{LossHistory, LossRecord};
pub use loss::Pass;
pub use objectives::{Objective, ObjectiveSpec};
pub use optim::{AdamW, AdamWParams, OptimizerState};
pub use options::TrainOptions;
pub use plan::{Plan, Unit};
pub use relearn::{Relearn, RelearnResult, RelearnScores};
pub use run_log::{RunLog, RunStatus, Trained};
pub use sampler::EpochSampler;
pub use schedule::{LrSchedule, Scheduler, Stepping};
pub use trainer::{TrainData, Trainer};
pub use unlearn::Unlearn;
