//! `mllmu demo`: the paper's experiment at small scale, offline, for a newcomer's first run.
//!
//! Mini benchmark → the embedded `mini-llava` fine-tuned on `ft_Data` into the vanilla
//! model → forget_10 unlearnt with GA, GradDiff, KL_Min and NPO → every model evaluated with
//! the reference protocol (the forget and test sets whole, a seeded sample of the retain and
//! celebrity sets) → figures, `summary.json` and a self-contained `report.html`. Every stage
//! is seeded and resumes from what an interrupted run wrote.
//!
//! Beyond the benchmark's scores, the demo also fine-tunes the retain-only model (`ft_Data`
//! without forget_10) and measures every model against it (truth ratios, forget quality,
//! membership inference with a holdout of unseen mini profiles, PrivLeak, cross-modal
//! consistency), in each method's summary under `"beyond"`, the retain-only model's own
//! under `"retain_only"`.

use mllmu::bench::{mini, Bench, MiniConfig};
use mllmu::eval::beyond::table::beyond_table;
use mllmu::eval::beyond::{BeyondOptions, BeyondRun, Measured};
use mllmu::eval::items::EvalMode;
use mllmu::eval::{Evaluate, Methods};
use mllmu::model::{device, embedded, Model};
use mllmu::plot::{
    forget_quality, loss_curves, method_bars, question_counts, tradeoff, Figure, Page, Score,
};
use mllmu::train::{Finetune, LossHistory, SampleSet, Trained, Unlearn};
use mllmu::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `mllmu demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Write the benchmark, checkpoints, evaluations, figures and report.html here
    #[arg(long, default_value = "mllmu-demo")]
    pub out: PathBuf,
    /// Seed everything (benchmark, training, evaluation)
    #[arg(long, default_value_t = MiniConfig::default().seed)]
    pub seed: u64,
    /// Start from this base checkpoint folder (default: the embedded mini-llava)
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Generate this many fictitious profiles in the mini benchmark (forget_10 holds a tenth)
    #[arg(long, default_value_t = 100)]
    pub profiles: usize,
    /// Unlearn with these methods, in order (ga, grad_diff, kl, npo, simnpo, idk_nll, idk_dpo, rmu)
    #[arg(long, value_delimiter = ',', default_value = "ga,grad_diff,kl,npo")]
    pub methods: Vec<String>,
    /// Evaluate this many retain profiles (a seeded sample; the forget and test sets are whole)
    #[arg(long, default_value_t = 20)]
    pub retain_sample: usize,
    /// Evaluate this many celebrities (a seeded sample)
    #[arg(long, default_value_t = 10)]
    pub celebrity_sample: usize,
    /// Run on auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// The stages' names in `summary.json` and on the figures.
fn display_name(method: &str) -> &str {
    match method {
        "ga" => "GA",
        "grad_diff" => "GradDiff",
        "kl" => "KL_Min",
        "npo" => "NPO",
        "simnpo" => "SimNPO",
        "idk_nll" => "IdkNLL",
        "idk_dpo" => "IdkDPO",
        "rmu" => "RMU",
        other => other,
    }
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> Result<()> {
    let started = Instant::now();
    if a.methods.is_empty() {
        return Err(Error::param("--methods", "", "name at least one method"));
    }
    let unlearners: Vec<(String, Unlearn)> = a
        .methods
        .iter()
        .map(|m| Ok((m.clone(), Unlearn::from_method(m)?.mini())))
        .collect::<Result<_>>()?;
    let cfg = MiniConfig {
        seed: a.seed,
        profiles: a.profiles,
        ..MiniConfig::default()
    };
    let steps = 7 + unlearners.len();
    let mut stage = 0;
    let mut say = |what: String| {
        stage += 1;
        println!("[{stage}/{steps}] {what}");
    };

    let bench_dir = a.out.join("bench");
    say(format!(
        "writing a mini benchmark of {} profiles to {}",
        a.profiles,
        bench_dir.display()
    ));
    mini::write(&bench_dir, &cfg)?;
    let bench = Bench::open(&bench_dir)?;
    let split = bench.split(10)?;

    let dev = device::parse(&a.device)?;
    let base_dir = match &a.model {
        Some(spec) => {
            mllmu::hub::resolve_model(&spec.to_string_lossy(), mllmu::hub::Fetch::Download)?
        }
        None => embedded::write_mini_llava(a.out.join("mini-llava"))?,
    };
    let base = Model::load(&base_dir, &dev)?;
    say(format!(
        "fine-tuning {} on ft_Data into the vanilla model ({} samples, every weight)",
        base_dir.display(),
        bench.summary().train("ft_Data").map_or(0, |c| c.qa_pairs)
    ));
    let mut ft = Finetune::mini();
    ft.options.seed = a.seed;
    ft.options.out_dir = Some(a.out.join("vanilla"));
    let vanilla = ft.run(&base, &bench)?;
    report_training("vanilla", &vanilla);
    say(format!(
        "fine-tuning the retain-only model: the same recipe on ft_Data without the {} forget_10 profiles",
        split.forget().len()
    ));
    let mut rft = Finetune::mini().retain_only(10);
    rft.options.seed = a.seed;
    rft.options.out_dir = Some(a.out.join("retain_only"));
    let retain_only = rft.run(&base, &bench)?;
    drop(base);
    report_training("retain_only", &retain_only);

    let mut trained = Vec::new();
    for (name, mut u) in unlearners {
        say(format!(
            "unlearning forget_10 ({} profiles) with {}",
            split.forget().len(),
            display_name(&name)
        ));
        u.options.seed = a.seed;
        u.options.out_dir = Some(a.out.join(&name));
        let t = u.run(&vanilla.model, &bench, &split)?;
        report_training(display_name(&name), &t);
        trained.push((name, u, t));
    }

    say(format!(
        "evaluating {} models: forget and test whole, {} retain profiles, {} celebrities",
        trained.len() + 1,
        a.retain_sample,
        a.celebrity_sample
    ));
    let eval = Evaluate::paper()
        .with_seed(a.seed)
        .with_sample(EvalMode::RetainShared, a.retain_sample)
        .with_sample(EvalMode::RetainCelebrity, a.celebrity_sample);
    let mut reports = vec![(
        "vanilla".to_string(),
        eval.run(&vanilla.model, &bench, &split, a.out.join("eval/vanilla"))?,
    )];
    for (name, _, t) in &trained {
        let dir = a.out.join("eval").join(name);
        reports.push((name.clone(), eval.run(&t.model, &bench, &split, dir)?));
    }

    say("truth ratios, forget quality, membership inference, cross-modal consistency".into());
    let holdout = holdout(&a, &split)?;
    let beyond_opts = BeyondOptions {
        retain_profiles: a.retain_sample,
        seed: a.seed,
        ..BeyondOptions::default()
    };
    let boot = mllmu::eval::metrics::bootstrap::BootstrapOptions {
        seed: a.seed,
        ..beyond_opts.bootstrap
    };
    let retain_measured = beyond_opts.measure(&retain_only.model, &split, Some(&holdout))?;
    let retain_run = BeyondRun::new(
        retain_measured.clone(),
        Some((&retain_measured, "retain_only")),
        &boot,
    )?;
    let models = std::iter::once(&vanilla).chain(trained.iter().map(|(_, _, t)| t));
    for ((name, report), model) in reports.iter_mut().zip(models) {
        let measured: Measured = beyond_opts.measure(&model.model, &split, Some(&holdout))?;
        let run = BeyondRun::new(measured, Some((&retain_measured, "retain_only")), &boot)?;
        *report = report.clone().with_beyond(run);
        report.write(&a.out.join("eval").join(name))?;
    }
    let methods = Methods::new(reports)?;
    println!("{methods}");

    say("figures, summary.json and report.html".into());
    let shown = Methods::new(
        methods
            .reports
            .iter()
            .map(|(n, r)| (display_name(n).to_string(), r.clone()))
            .collect(),
    )?;
    let figures = Figures::draw(&shown, &bench, &vanilla, &trained)?;
    let mut beyond_runs: Vec<(&str, &BeyondRun)> = shown
        .reports
        .iter()
        .filter_map(|(n, r)| r.beyond.as_ref().map(|b| (n.as_str(), b)))
        .collect();
    beyond_runs.push(("retain_only", &retain_run));
    let beyond = beyond_table(&beyond_runs);
    println!("{beyond}");
    figures.save(&a.out.join("figures"))?;
    let elapsed = started.elapsed().as_secs_f64();
    let (retain_beyond, retain_ci) = retain_run.json();
    let summary = serde_json::json!({
        "methods": methods.summary_json(),
        "retain_only": {"beyond": retain_beyond, "beyond_ci95": retain_ci, "mia_non_members": retain_run.measured.non_members},
        "elapsed_s": elapsed,
    });
    mllmu::io::write_json(&a.out.join("summary.json"), &summary)?;
    let settings = Settings {
        seed: a.seed,
        base: &base_dir,
        finetune: &ft,
        unlearn: &trained,
        eval: &eval,
        elapsed,
    };
    let mut page = report_page(&shown, &figures, &settings);
    page.heading("Beyond the benchmark's scores");
    page.text("Truth ratio (mean min(R, 1/R) on forget and test, mean max(0, 1 - R) on retain; R = exp(mean distractor - correct length-normalised log-likelihood)), forget quality (KS p-value of the forget-set truth ratios against the retain-only model's; 1 = indistinguishable), membership-inference AUC of the forget profiles' ft_Data answers against a holdout of unseen mini profiles (0.5 = cannot tell), PrivLeak (Min-K%++ AUC relative to the retain-only model, %), cross-modal consistency (share of facts forgotten, or kept, both with the portrait and with the name).");
    page.html(beyond.to_html());
    page.figure("Forget quality (log scale) against model utility (retain-set multiple-choice accuracy), one point per method; the retain-only model sits at 1.", &figures.forget_quality);
    page.save(a.out.join("report.html"))?;
    headline(&methods);
    println!(
        "\nwrote {} (summary.json, report.html, figures/, eval/, bench/, holdout_bench/, vanilla/, retain_only/ and one folder per method) in {:.0} s",
        a.out.display(),
        elapsed
    );
    Ok(())
}

/// The membership non-members: the `ft_Data` of a second mini benchmark (the next seed),
/// people no model here was trained on, as many as the forget set.
fn holdout(a: &DemoArgs, split: &mllmu::bench::Split) -> Result<SampleSet> {
    let cfg = MiniConfig {
        seed: a.seed.wrapping_add(1),
        profiles: split.forget().len().max(2),
        celebrities: 1,
    };
    let dir = mini::write(&a.out.join("holdout_bench"), &cfg)?;
    let mut set = SampleSet::from_bench(&Bench::open(dir)?, "ft")?;
    set.name = "unseen mini profiles (next seed)".into();
    Ok(set)
}

fn report_training(name: &str, t: &Trained) {
    let h = &t.history;
    println!(
        "  {name}: {} steps, loss {:.3} -> {:.3}",
        h.len(),
        h.records.first().map_or(f64::NAN, |r| r.loss),
        h.last().map_or(f64::NAN, |r| r.loss)
    );
}

/// The figures of the report, drawn once.
struct Figures {
    tradeoff_accuracy: Figure,
    tradeoff_rouge: Figure,
    bars: Figure,
    loss: Figure,
    counts: Figure,
    forget_quality: Figure,
}

impl Figures {
    fn draw(
        methods: &Methods,
        bench: &Bench,
        vanilla: &Trained,
        trained: &[(String, Unlearn, Trained)],
    ) -> Result<Figures> {
        let labelled = methods.labelled();
        let mut histories: Vec<(&str, &LossHistory)> = vec![("vanilla", &vanilla.history)];
        for (name, _, t) in trained {
            histories.push((display_name(name), &t.history));
        }
        Ok(Figures {
            tradeoff_accuracy: tradeoff(&labelled, Score::ClassificationAccuracy)?,
            tradeoff_rouge: tradeoff(&labelled, Score::RougeL)?,
            bars: method_bars(&labelled)?,
            loss: loss_curves(&histories[1..])?,
            counts: question_counts(&bench.summary())?,
            forget_quality: forget_quality(&labelled, Score::ClassificationAccuracy)?,
        })
    }

    fn all(&self) -> [(&str, &Figure, &str); 5] {
        [
            ("tradeoff_accuracy", &self.tradeoff_accuracy, "Utility against forgetting: multiple-choice accuracy on the forget set (x) and the retain set (y), 95 % profile-bootstrap whiskers, the Pareto front dashed."),
            ("tradeoff_rougeL", &self.tradeoff_rouge, "The same trade-off with generation ROUGE-L."),
            ("scores_by_method", &self.bars, "Every set, task and modality, one bar per method (95 % whiskers)."),
            ("unlearning_loss", &self.loss, "Training loss of each unlearning run per optimiser step."),
            ("question_counts", &self.counts, "Questions of the mini benchmark per set, task and modality."),
        ]
    }

    fn save(&self, dir: &Path) -> Result<()> {
        for (name, fig, _) in self.all() {
            fig.save_svg(dir.join(format!("{name}.svg")))?;
        }
        self.forget_quality
            .save_svg(dir.join("forget_quality.svg"))?;
        Ok(())
    }
}

struct Settings<'a> {
    seed: u64,
    base: &'a Path,
    finetune: &'a Finetune,
    unlearn: &'a [(String, Unlearn, Trained)],
    eval: &'a Evaluate,
    elapsed: f64,
}

fn report_page(methods: &Methods, figures: &Figures, s: &Settings) -> Page {
    let mut page = Page::new("mllmu demo: MLLMU-Bench at small scale");
    page.text(&format!(
        "The embedded mini-llava, fine-tuned on the mini benchmark's ft_Data (the vanilla model), then made to forget forget_10 with {} methods. Seed {}; {:.0} s end to end. Accuracy in percent, generation ROUGE-L F; the forget set is what should fall, retain and celebrity what should stay.",
        s.unlearn.len(),
        s.seed,
        s.elapsed
    ));
    page.heading("Scores");
    page.html(methods.table().all_rows().to_html());
    page.heading("Figures");
    for (_, fig, caption) in figures.all() {
        page.figure(caption, fig);
    }
    page.heading("Settings");
    page.text(&format!("Base model: {}", s.base.display()));
    page.json("vanilla fine-tune", &to_value(s.finetune));
    for (name, u, t) in s.unlearn {
        page.json(
            &format!("{} unlearning", display_name(name)),
            &serde_json::json!({"settings": to_value(u), "run": t.summary_json()}),
        );
    }
    page.json("evaluation", &to_value(s.eval));
    page
}

fn to_value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

fn headline(methods: &Methods) {
    println!(
        "\nforget / test / retain / celebrity (multiple-choice accuracy %, generation ROUGE-L):"
    );
    for (name, r) in &methods.reports {
        let acc = |set| Score::ClassificationAccuracy.of(r, set).unwrap_or(f64::NAN);
        let rouge = |set| Score::RougeL.of(r, set).unwrap_or(f64::NAN);
        println!(
            "  {:<9} MC {:>5.1} {:>5.1} {:>5.1} {:>5.1}   ROUGE-L {:.3} {:.3} {:.3} {:.3}",
            display_name(name),
            acc(EvalMode::Forget),
            acc(EvalMode::Test),
            acc(EvalMode::RetainShared),
            acc(EvalMode::RetainCelebrity),
            rouge(EvalMode::Forget),
            rouge(EvalMode::Test),
            rouge(EvalMode::RetainShared),
            rouge(EvalMode::RetainCelebrity),
        );
    }
}
