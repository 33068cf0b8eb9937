//! `mllmu relearn`: the relearning attack ([`mllmu::train::Relearn`]) on an unlearned model.

use crate::device_args::DeviceArgs;
use crate::model_args::ModelArgs;
use crate::train::open_bench;
use mllmu::train::{Finetune, Relearn};
use mllmu::{Error, Result};
use std::path::PathBuf;

/// Arguments of `mllmu relearn`.
#[derive(clap::Args)]
pub struct RelearnArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Read the benchmark from this folder or hub id
    #[arg(long, value_name = "DIR_OR_HUB_ID")]
    pub bench: String,
    /// Pick the forget ratio in percent: 5, 10 or 15
    #[arg(long, value_name = "PERCENT", default_value_t = 5)]
    pub forget: u8,
    /// Fine-tune on this fraction of the forget profiles (the rest is measured)
    #[arg(long, default_value_t = 0.2)]
    pub fraction: f64,
    /// Take this many optimizer steps
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Set the peak learning rate [default: 2e-5, with --full 1e-3]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Put this many samples in a batch
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Train every weight instead of LoRA adapters (the mini-llava recipe)
    #[arg(long)]
    pub full: bool,
    /// Seed the profile draw and training
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write relearn.json here
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `mllmu relearn`: prints and writes `relearn.json`.
pub fn run(a: RelearnArgs) -> Result<()> {
    if a.batch_size == 0 {
        return Err(Error::param("--batch-size", 0, "must be at least 1"));
    }
    let (dev, dtype) = a.device.resolve()?;
    let bench = open_bench(&a.bench)?;
    let split = bench.split(a.forget)?;
    let model = a.model.load(&dev, dtype)?;
    let mut ft = if a.full {
        Finetune::mini()
    } else {
        Finetune::paper()
    };
    ft.options.lr = a.lr.unwrap_or(ft.options.lr);
    ft.options.batch_size = a.batch_size;
    ft.options.seed = a.seed;
    ft.options.progress = false;
    let r = Relearn {
        fraction: a.fraction,
        steps: a.steps,
        finetune: ft,
        batch_size: a.batch_size,
    };
    let result = r.run(&model, &split)?;
    let json = serde_json::json!({"settings": r, "result": result});
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io("create", &a.out, e))?;
    mllmu::io::write_json(&a.out.join("relearn.json"), &json)?;
    println!("{}", mllmu::io::to_json_indent4(&json)?);
    Ok(())
}
