//! `mllmu finetune` and `mllmu unlearn` (owner: train)

use crate::device_args::DeviceArgs;
use crate::model_args::ModelArgs;
use mllmu::bench::Bench;
use mllmu::hub::{resolve_bench, resolve_model, Fetch, RepoKind};
use mllmu::model::{LoraConfig, Model};
use mllmu::train::collate::CollateOptions;
use mllmu::train::{Finetune, SampleSet, Stepping, TrainData, TrainOptions, Trained, Unlearn};
use mllmu::{Error, Result};
use std::path::PathBuf;

/// Options shared by `finetune` and `unlearn`.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Read the benchmark from a folder (hub layout, mini benchmark, baseline_train_split) or hub
    /// id with an optional `@revision` (a dataset; `models/ID` for a model repository)
    #[arg(long, value_name = "DIR_OR_HUB_ID")]
    pub bench: String,
    /// Write checkpoints, the final model and train_log.json to this folder
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Train for this many epochs (default: 5 for finetune, 1 for unlearn)
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Set the peak learning rate (default 2e-5; 5e-5 for rmu)
    #[arg(long)]
    pub lr: Option<f64>,
    /// Put this many samples in a batch (default 4)
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Set the LoRA rank (default 16)
    #[arg(long, conflicts_with = "full")]
    pub lora_rank: Option<usize>,
    /// Set the LoRA alpha (default 16)
    #[arg(long, conflicts_with = "full")]
    pub lora_alpha: Option<f64>,
    /// Set the LoRA dropout (default 0.05)
    #[arg(long, conflicts_with = "full")]
    pub lora_dropout: Option<f64>,
    /// Also adapt the vision tower's q/k/v projections, as PEFT did in the reference
    #[arg(long, conflicts_with = "full")]
    pub lora_vision: bool,
    /// Train every weight (float32) instead of LoRA adapters
    #[arg(long)]
    pub full: bool,
    /// Seed the sample order, LoRA initialisation and dropout (default 0)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Accumulate this many micro-batches per optimizer step
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Clip the global gradient norm to this value (off by default, as the reference)
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    /// Step the learning-rate schedule per_batch or per_epoch (default: as the method's
    /// reference script)
    #[arg(long, value_name = "per_batch|per_epoch")]
    pub stepping: Option<String>,
    /// Label only the answer tokens, with EOS appended (the reference labels every non-pad
    /// token)
    #[arg(long)]
    pub answer_only: bool,
    /// Stop after this many optimizer steps in total (resume later by running again)
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Save a checkpoint every N steps (always at the end)
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Start over even if the output folder holds a checkpoint
    #[arg(long)]
    pub no_resume: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `mllmu finetune`.
#[derive(clap::Args, Debug)]
pub struct FinetuneArgs {
    /// Train on this set: ft (ft_Data), retain_95, Retain_Set, ...
    #[arg(long, default_value = "ft")]
    pub set: String,
    /// Train the retain-only model (the reference of NPO and of forget quality): ft_Data
    /// without the forget profiles of this ratio (5, 10 or 15)
    #[arg(long, value_name = "PERCENT", conflicts_with = "set")]
    pub exclude_forget: Option<u8>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `mllmu unlearn`.
#[derive(clap::Args, Debug)]
pub struct UnlearnArgs {
    /// Unlearn with this method: ga, grad_diff, kl, npo, simnpo, idk_nll, idk_dpo or rmu
    #[arg(long)]
    pub method: String,
    /// Pick the forget ratio in percent: 5, 10 or 15
    #[arg(long)]
    pub forget: u8,
    /// Use this reference model (NPO, KL, IdkDPO, RMU), a folder or a hub id (default: the
    /// starting model, frozen)
    #[arg(long, value_name = "DIR_OR_HUB_ID")]
    pub reference: Option<String>,
    /// Unlearn with text-only prompts (no image)
    #[arg(long)]
    pub text_only: bool,
    /// Set the objective's hyper-parameters as JSON, overriding the method's defaults, e.g.
    /// `{"objective":"npo","beta":0.2,"form":"sequence_sum","retain_weight":0}`
    #[arg(long, value_name = "JSON")]
    pub objective_json: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

fn options(c: &CommonArgs, mut o: TrainOptions) -> Result<TrainOptions> {
    o.lr = c.lr.unwrap_or(o.lr);
    o.batch_size = c.batch_size.unwrap_or(o.batch_size);
    o.epochs = c.epochs.unwrap_or(o.epochs);
    o.seed = c.seed.unwrap_or(o.seed);
    o.grad_accum = c.grad_accum;
    o.max_grad_norm = c.max_grad_norm;
    o.max_steps = c.max_steps;
    o.checkpoint_every = c.checkpoint_every;
    o.resume = !c.no_resume;
    o.out_dir = Some(c.out.clone());
    o.lora = if c.full {
        None
    } else {
        let d = LoraConfig::default();
        Some(LoraConfig {
            r: c.lora_rank.unwrap_or(d.r),
            alpha: c.lora_alpha.unwrap_or(d.alpha),
            dropout: c.lora_dropout.unwrap_or(d.dropout),
            include_vision_qkv: c.lora_vision,
            ..d
        })
    };
    if c.answer_only {
        o.collate = CollateOptions {
            template: o.collate.template,
            ..CollateOptions::answer_only()
        };
    }
    o.stepping = match c.stepping.as_deref() {
        None => None,
        Some("per_batch") => Some(Stepping::PerBatch),
        Some("per_epoch") => Some(Stepping::PerEpoch),
        Some(other) => {
            return Err(Error::param(
                "stepping",
                other,
                "expected per_batch or per_epoch",
            ))
        }
    };
    Ok(o)
}

fn load_model(c: &CommonArgs) -> Result<Model> {
    let (dev, dtype) = c.device.resolve()?;
    c.model.load(&dev, dtype)
}

/// Opens `--bench` (a folder, or a hub id resolved like `--model`).
pub fn open_bench(spec: &str) -> Result<Bench> {
    Bench::open(resolve_bench(spec, RepoKind::Dataset, Fetch::Download)?)
}

fn report(c: &CommonArgs, trained: &Trained) -> Result<()> {
    if c.json {
        let text = serde_json::to_string(&trained.summary_json())
            .map_err(|e| Error::json("<stdout>", e))?;
        println!("{text}");
    } else {
        println!("{trained}");
        if !trained.is_complete() {
            println!("stopped by --max-steps; run the same command again to continue");
        }
    }
    Ok(())
}

pub fn run_finetune(a: FinetuneArgs) -> Result<()> {
    let bench = open_bench(&a.common.bench)?;
    let base = load_model(&a.common)?;
    let mut ft = Finetune {
        set: a.set.clone(),
        options: options(&a.common, TrainOptions::default())?,
    };
    if let Some(ratio) = a.exclude_forget {
        if !mllmu::bench::FORGET_RATIOS.contains(&ratio) {
            return Err(Error::param(
                "--exclude-forget",
                ratio,
                "the forget ratio is 5, 10 or 15",
            ));
        }
        ft = ft.retain_only(ratio);
    }
    let trained = ft.run(&base, &bench)?;
    report(&a.common, &trained)
}

pub fn run_unlearn(a: UnlearnArgs) -> Result<()> {
    let mut unlearn = Unlearn::from_method(&a.method)?;
    if a.text_only {
        unlearn = unlearn.text_only();
    }
    if let Some(json) = &a.objective_json {
        unlearn.objective = serde_json::from_str(json).map_err(|e| {
            Error::param(
                "objective-json",
                json,
                format!("{e}\nhint: the fields of the method's objective with an \"objective\" tag, as in train_log.json"),
            )
        })?;
    }
    unlearn.reference = match &a.reference {
        Some(spec) => Some(resolve_model(spec, Fetch::Download)?),
        None => None,
    };
    unlearn.options = options(&a.common, unlearn.options.clone())?;
    let bench = open_bench(&a.common.bench)?;
    let vanilla = load_model(&a.common)?;
    let trained = match bench.split(a.forget) {
        Ok(split) => unlearn.run(&vanilla, &bench, &split)?,
        // A baseline_train_split folder: training-format forget_N / retain_N only.
        Err(e) if bench.train_set(&format!("forget_{}", a.forget)).is_err() => return Err(e),
        Err(_) => {
            let retain_name = format!("retain_{}", 100 - u32::from(a.forget));
            let retain = (unlearn.objective.needs().retain)
                .then(|| SampleSet::from_bench(&bench, &retain_name))
                .transpose()?;
            let data = TrainData {
                primary: SampleSet::from_bench(&bench, &format!("forget_{}", a.forget))?,
                retain,
            };
            unlearn.run_on(&vanilla, data)?
        }
    };
    report(&a.common, &trained)
}
