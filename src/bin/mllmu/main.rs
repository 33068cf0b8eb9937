//! The `mllmu` command line: parses arguments, dispatches to one file per stage, maps
//! errors to exit codes. Every subcommand calls the same library function a notebook uses.

use clap::{Parser, Subcommand};

mod bench;
mod bench_model;
mod compare;
mod demo;
mod device_args;
mod eval;
mod eval_choices;
mod generate;
#[cfg(feature = "judge")]
mod judge;
mod mini_model;
mod model_args;
mod relearn;
mod train;

/// MLLMU-Bench: load, fine-tune, unlearn, evaluate, judge.
#[derive(Parser)]
#[command(name = "mllmu", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job on the embedded mini benchmark (no download)
    Demo(demo::DemoArgs),
    /// Inspect or generate benchmark folders
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Generate text from a LLaVA checkpoint for one prompt
    Generate(generate::GenerateArgs),
    /// Time forward, generation and a training step of a checkpoint
    BenchModel(bench_model::BenchModelArgs),
    /// Evaluate a checkpoint on the four sets of MLLMU-Bench
    Eval(eval::EvalArgs),
    /// Compare evaluation runs: the paper's table, paired differences, figures
    Compare(compare::CompareArgs),
    /// Score ground-truth/prediction pairs with ROUGE and BLEU
    ScoreText(eval::ScoreTextArgs),
    /// Fine-tune a model on the benchmark (the vanilla model)
    Finetune(train::FinetuneArgs),
    /// Unlearn the forget set from a fine-tuned model
    Unlearn(train::UnlearnArgs),
    /// Relearn part of the forget set and measure the rest (the relearning attack)
    Relearn(relearn::RelearnArgs),
    /// Pretrain the mini LLaVA from scratch (corpus, tokenizer, weights)
    MiniModel(mini_model::MiniModelArgs),
    /// Grade generations for factuality with an LLM judge
    #[cfg(feature = "judge")]
    Judge(judge::JudgeArgs),
}

fn main() {
    let cli = Cli::parse();
    // Process-wide CPU settings, before any tensor work or thread (bench-model applies its
    // own, with flags to measure without them).
    if !matches!(cli.command, Command::BenchModel(_)) {
        mllmu::model::device::elementwise_on_caller();
        mllmu::model::device::tune_allocator();
    }
    let result = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Bench(c) => bench::run(c),
        Command::Generate(a) => generate::run(a),
        Command::BenchModel(a) => bench_model::run(a),
        Command::Eval(a) => eval::run_eval(a),
        Command::Compare(a) => compare::run(a),
        Command::ScoreText(a) => eval::run_score_text(a),
        Command::Finetune(a) => train::run_finetune(a),
        Command::Unlearn(a) => train::run_unlearn(a),
        Command::Relearn(a) => relearn::run(a),
        Command::MiniModel(a) => mini_model::run(a),
        #[cfg(feature = "judge")]
        Command::Judge(a) => judge::run(a),
    };
    if let Err(e) = result {
        eprintln!("mllmu: {e}");
        std::process::exit(1);
    }
}
