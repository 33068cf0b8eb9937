//! `mllmu demo`: the whole workflow on the embedded default, for a newcomer's first run.
//!
//! Mini benchmark → fine-tune the tiny LLaVA into a "vanilla" model → unlearn the forget set
//! with gradient ascent and NPO → evaluate the three models with the reference protocol →
//! trade-off and loss figures. Everything is seeded; nothing is downloaded.

use mllmu::bench::{mini, Bench, MiniConfig};
use mllmu::eval::items::EvalMode;
use mllmu::eval::Evaluate;
use mllmu::model::{device, Model};
use mllmu::plot::{loss_curves, question_counts, tradeoff, Score};
use mllmu::train::{Finetune, Unlearn};
use std::path::PathBuf;

/// The tiny random LLaVA-1.5 checkpoint shipped with the sources.
const TINY_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-llava");

/// Arguments of `mllmu demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write the benchmark, checkpoints, reports and figures.
    #[arg(long, default_value = "mllmu-demo")]
    pub out: PathBuf,
    /// Seed of everything (benchmark, training, evaluation).
    #[arg(long, default_value_t = MiniConfig::default().seed)]
    pub seed: u64,
    /// The base checkpoint (default: the tiny fixture model shipped with mllmu).
    #[arg(long, default_value = TINY_MODEL)]
    pub model: PathBuf,
    /// Fine-tuning epochs for the vanilla model.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Profiles evaluated per set (keeps the demo to a minute or two on a CPU).
    #[arg(long, default_value_t = 8)]
    pub max_profiles: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> mllmu::Result<()> {
    let cfg = MiniConfig {
        seed: a.seed,
        ..MiniConfig::default()
    };
    let bench_dir = a.out.join("bench");
    println!(
        "[1/6] writing the mini benchmark to {}",
        bench_dir.display()
    );
    mini::write(&bench_dir, &cfg)?;
    let bench = Bench::open(&bench_dir)?;
    let summary = bench.summary();
    println!("{summary}");
    question_counts(&summary)?.save_svg(a.out.join("question_counts.svg"))?;
    let split = bench.split(10)?;

    let dev = device::parse(&a.device)?;
    println!(
        "[2/6] loading {} on {}",
        a.model.display(),
        device::describe(&dev)
    );
    let base = Model::load(
        mllmu::hub::resolve_model(&a.model.to_string_lossy(), mllmu::hub::Fetch::Download)?,
        &dev,
    )?;

    println!(
        "[3/6] fine-tuning the vanilla model on ft_Data ({} epochs)",
        a.epochs
    );
    let mut ft = Finetune::paper();
    // A tiny random model needs a larger step and all weights to learn in a few epochs; the
    // paper's recipe (LoRA r16, lr 2e-5, 5 epochs) is `Finetune::paper()` unchanged.
    ft.options.lr = 1e-3;
    ft.options.lora = None;
    ft.options.epochs = a.epochs;
    ft.options.seed = a.seed;
    ft.options.out_dir = Some(a.out.join("vanilla"));
    let vanilla = ft.run(&base, &bench)?;
    println!("{}", vanilla.history);

    println!("[4/6] unlearning forget_10 with gradient ascent and NPO");
    let mut runs = Vec::new();
    for (name, mut u) in [("GA", Unlearn::grad_ascent()), ("NPO", Unlearn::npo())] {
        u.options.lr = 1e-4;
        u.options.lora = None;
        u.options.seed = a.seed;
        u.options.out_dir = Some(a.out.join(name.to_lowercase()));
        let trained = u.run(&vanilla.model, &bench, &split)?;
        println!(
            "{name}: {} steps, loss {:.3} -> {:.3}",
            trained.history.len(),
            trained.history.records.first().map_or(f64::NAN, |r| r.loss),
            trained.history.records.last().map_or(f64::NAN, |r| r.loss)
        );
        runs.push((name, trained));
    }

    println!("[5/6] evaluating vanilla, GA and NPO (forget and retain sets, reference protocol)");
    let eval = Evaluate::paper()
        .with_seed(a.seed)
        .with_sets(&[EvalMode::Forget, EvalMode::RetainShared])
        .with_max_profiles(a.max_profiles);
    let mut reports = vec![(
        "vanilla",
        eval.run(&vanilla.model, &bench, &split, a.out.join("eval/vanilla"))?,
    )];
    for (name, t) in &runs {
        let dir = a.out.join("eval").join(name.to_lowercase());
        reports.push((name, eval.run(&t.model, &bench, &split, dir)?));
    }
    for (name, r) in &reports {
        println!("== {name}\n{r}");
    }

    println!("[6/6] figures");
    let labelled: Vec<(&str, &mllmu::eval::Report)> =
        reports.iter().map(|(n, r)| (*n, r)).collect();
    tradeoff(&labelled, Score::RougeL)?.save_svg(a.out.join("tradeoff.svg"))?;
    let histories = [
        ("vanilla", &vanilla.history),
        ("GA", &runs[0].1.history),
        ("NPO", &runs[1].1.history),
    ];
    loss_curves(&histories)?.save_svg(a.out.join("loss.svg"))?;
    println!("\nforget vs retain generation ROUGE-L:");
    for (name, r) in &reports {
        println!(
            "  {name:<8} forget {:.3}   retain {:.3}",
            Score::RougeL.of(r, EvalMode::Forget).unwrap_or(f64::NAN),
            Score::RougeL
                .of(r, EvalMode::RetainShared)
                .unwrap_or(f64::NAN)
        );
    }
    println!(
        "\nwrote {} (question_counts.svg, tradeoff.svg, loss.svg, eval/*, vanilla/, ga/, npo/)",
        a.out.display()
    );
    Ok(())
}
