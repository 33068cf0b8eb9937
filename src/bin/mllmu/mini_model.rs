//! `mllmu mini-model`: pretrains `mini-llava` from scratch (corpus, tokenizer, weights).

use mllmu::train::mini_llava::MiniRecipe;
use std::path::PathBuf;

/// Arguments of `mllmu mini-model`.
#[derive(clap::Args)]
pub struct MiniModelArgs {
    /// Write the checkpoint into this folder
    #[arg(long)]
    pub out: PathBuf,
    /// Seed the corpus, the initial weights and the batch order
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Put this many people in the pretraining corpus (default: the recipe's)
    #[arg(long)]
    pub people: Option<usize>,
    /// Hold this many of them out of the evaluation forms (their questions are the probes)
    #[arg(long)]
    pub held_out: Option<usize>,
    /// Draw this many question plans (facts asked, option orders) per drilled person and wording
    #[arg(long)]
    pub plans: Option<usize>,
    /// Cycle this many question-plan draws over the epochs (1: the same documents every epoch)
    #[arg(long)]
    pub fresh_plans: Option<usize>,
    /// Pass over the corpus this many times
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps (a short run)
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Set the peak learning rate
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train on this many documents per step
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Set the decoder width
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stack this many decoder layers
    #[arg(long)]
    pub layers: Option<usize>,
    /// Score the held-out probes every N steps (0: only at the end)
    #[arg(long)]
    pub probe_every: Option<usize>,
    /// Add reading documents (a biography, then multiple choice about it) for the drilled
    /// people (an experiment; the shipped model was made without them)
    #[arg(long)]
    pub reading: bool,
    /// Learn only the answers of the evaluation-form documents, not their prompts
    #[arg(long)]
    pub answers_only: bool,
    /// Add this many drill documents per epoch (short multiple-choice practice)
    #[arg(long)]
    pub drills: Option<usize>,
    /// Average the loss per document rather than per token
    #[arg(long)]
    pub document_mean: bool,
    /// Keep the peak learning rate after the warm-up (no cosine decay)
    #[arg(long)]
    pub constant_lr: bool,
}

/// Runs the command.
pub fn run(a: MiniModelArgs) -> mllmu::Result<()> {
    let mut r = MiniRecipe::seeded(a.seed);
    if let Some(v) = a.people {
        r.corpus.people = v;
        r.corpus.held_out = r.corpus.held_out.min(v / 5);
    }
    r.corpus.held_out = a.held_out.unwrap_or(r.corpus.held_out);
    r.corpus.plans = a.plans.unwrap_or(r.corpus.plans);
    r.corpus.reading = a.reading;
    r.corpus.answers_only = a.answers_only;
    r.corpus.drills = a.drills.unwrap_or(r.corpus.drills);
    r.pretrain.document_mean = a.document_mean;
    r.pretrain.constant_lr = a.constant_lr;
    r.fresh_plans_per_run = a.fresh_plans.map_or(r.fresh_plans_per_run, |v| v.max(1));
    r.pretrain.epochs = a.epochs.unwrap_or(r.pretrain.epochs);
    r.pretrain.max_steps = a.max_steps;
    if let Some(v) = a.lr {
        mllmu::error::check_positive("--lr", v)?;
        r.pretrain.lr = v;
    }
    r.pretrain.batch_size = a.batch_size.unwrap_or(r.pretrain.batch_size);
    if let Some(v) = a.hidden {
        r.model.hidden_size = v;
        r.model.intermediate_size = v * 11 / 4;
    }
    r.model.layers = a.layers.unwrap_or(r.model.layers);
    r.pretrain.probe_every = a.probe_every.unwrap_or(r.pretrain.probe_every);
    println!(
        "mini-llava: {} people ({} held out), {} epochs, lr {}, into {}",
        r.corpus.people,
        r.corpus.held_out,
        r.pretrain.epochs,
        r.pretrain.lr,
        a.out.display()
    );
    let log = r.run(&a.out)?;
    let pct = |a: Option<f64>| a.map_or("not scored".into(), |a| format!("{a:.1} %"));
    println!(
        "{} parameters, {} documents ({} tokens per epoch), {} steps in {:.0} s; multiple choice: held-out {}, drilled (new option orders) {}, reading {}",
        log.parameters,
        log.documents,
        log.tokens_per_epoch,
        log.steps,
        log.seconds,
        pct(log.final_probe_accuracy),
        pct(log.final_drilled_probe_accuracy),
        pct(log.final_reading_probe_accuracy)
    );
    Ok(())
}
