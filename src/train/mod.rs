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
//! | [`data`] | training samples from benchmark rows (ft_Data, forget/retain, celebrities) |
//! | [`options`] | the settings shared by every run ([`TrainOptions`]) |
//! | [`trainer`] | the loop: LoRA/full, AdamW, schedule, accumulation, checkpoints, resume, NaN guard |
//! | [`passes`] | the forward passes of one micro-batch and the objective's loss |
//! | [`plan`] | batches and steps of a run; the micro-batches of each epoch |
//! | [`mini_llava`] | the recipe that makes `mini-llava` (corpus, tokenizer, pretraining) |
//! | [`pretrain`] | pretraining from scratch on free-form documents (mini-llava) |
//! | [`persist`] | checkpoints, `train_log.json` and the final model of a run |
//! | [`checkpoints`] | checkpoint folders of a run (`latest.json` commit point) |
//! | [`run_log`] | `train_log.json` and the [`Trained`] result |
//! | [`finetune`] | [`Finetune`]: the vanilla model's recipe |
//! | [`unlearn`] | [`Unlearn`]: GA, GradDiff, KL, NPO, SimNPO, IdkNLL, IdkDPO, RMU presets |

pub mod checkpoint;
pub mod checkpoints;
pub mod clip;
pub mod collate;
pub mod data;
pub mod finetune;
pub mod history;
pub mod loss;
pub mod mini_llava;
pub mod objectives;
pub mod optim;
pub mod options;
pub mod passes;
pub mod persist;
pub mod plan;
pub mod pretrain;
pub mod run_log;
pub mod sampler;
pub mod schedule;
pub mod trainer;
pub mod unlearn;

pub use checkpoint::TrainState;
pub use checkpoints::Checkpoint;
pub use clip::{clip_grad_norm, grad_norm, GradAccumulator};
pub use collate::{Batch, CollateOptions, LabelMask, PadSide, PromptTemplate, TrainSample};
pub use data::{SampleSet, SampleSource, SetSummary};
pub use finetune::Finetune;
pub use history::{LossHistory, LossRecord};
pub use loss::Pass;
pub use objectives::ObjectiveSpec;
pub use optim::{AdamW, AdamWParams, OptimizerState};
pub use options::TrainOptions;
pub use passes::Unit;
pub use plan::Plan;
pub use run_log::{RunLog, RunStatus, Trained};
pub use sampler::EpochSampler;
pub use schedule::{LrSchedule, Scheduler, Stepping};
pub use trainer::{TrainData, Trainer};
pub use unlearn::Unlearn;
