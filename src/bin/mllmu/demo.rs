//! `mllmu demo`: the main job on the embedded default, for a newcomer's first run.

use mllmu::bench::{mini, Bench, MiniConfig};
use std::path::PathBuf;

/// Arguments of `mllmu demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write the benchmark, figures and reports.
    #[arg(long, default_value = "mllmu-demo")]
    pub out: PathBuf,
    /// Seed of the mini benchmark.
    #[arg(long, default_value_t = MiniConfig::default().seed)]
    pub seed: u64,
}

/// Generates the mini benchmark, prints its summary and writes the question-count figure.
pub fn run(a: DemoArgs) -> mllmu::Result<()> {
    let cfg = MiniConfig {
        seed: a.seed,
        ..MiniConfig::default()
    };
    let bench_dir = a.out.join("bench");
    println!(
        "[1/2] writing the mini benchmark to {}",
        bench_dir.display()
    );
    mini::write(&bench_dir, &cfg)?;
    let bench = Bench::open(&bench_dir)?;
    let summary = bench.summary();
    println!("{summary}");
    let split = bench.split(5)?;
    println!(
        "forget 5 %: {} forget, {} retain, {} test profiles, {} celebrities\n",
        split.forget().len(),
        split.retain().len(),
        split.test().len(),
        split.celebrities().len()
    );
    let fig_path = a.out.join("question_counts.svg");
    println!("[2/2] plotting questions per set, task and modality");
    mllmu::plot::question_counts(&summary)?.save_svg(&fig_path)?;
    println!("wrote {}", fig_path.display());
    Ok(())
}
