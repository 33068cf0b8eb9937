//! `mllmu compare`: the paper's table over saved evaluation runs, paired differences against
//! a baseline run, and the trade-off figures.

use mllmu::display::Table;
use mllmu::eval::Methods;
use mllmu::plot::{forget_quality, method_bars, tradeoff, Page, Score};
use mllmu::Result;
use std::path::PathBuf;

/// Arguments of `mllmu compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Compare these evaluation folders (`mllmu eval --out`), one per method, named by the folder
    /// name; or one folder holding them (`mllmu demo`'s `DIR/eval`), `vanilla` first
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Compare the others against this run (default: the first)
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Print `{"runs", "table", "paired"}` as JSON
    #[arg(long, conflicts_with_all = ["markdown", "latex"])]
    pub json: bool,
    /// Print the tables as Markdown
    #[arg(long, conflicts_with = "latex")]
    pub markdown: bool,
    /// Print the tables as LaTeX
    #[arg(long)]
    pub latex: bool,
    /// Also write a self-contained HTML page (tables and figures) to this file
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Runs the command.
pub fn run(a: CompareArgs) -> Result<()> {
    let methods = match a.runs.as_slice() {
        [root] if !root.join("report.json").is_file() => Methods::load_all(root)?,
        runs => Methods::load(runs)?,
    };
    let baseline = a
        .baseline
        .clone()
        .unwrap_or_else(|| methods.reports[0].0.clone());
    let diffs = methods.paired_table(&baseline)?;
    // Every table the outputs show, with its heading on the HTML page: the scores, the paired
    // differences, the evaluation choices and, for runs evaluated with a retain-only model
    // (`mllmu eval --retain-model`, the demo), truth ratio, forget quality, membership
    // inference, ... (that one every row even on a terminal; the page shows every row of all).
    let mut tables = vec![
        ("Scores", methods.paper_table()),
        ("Paired differences", diffs),
        ("Evaluation choices", methods.choices()),
    ];
    let beyond = methods.beyond_table();
    let has_beyond = beyond.is_some();
    tables.extend(beyond.map(|b| ("Beyond the benchmark's scores", b.all_rows())));
    if !methods.same_choices() {
        eprintln!(
            "note: the runs were evaluated with different choices (see the choices table): their differences mix method and protocol"
        );
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&methods.compare_json(&baseline)?)
                .map_err(|e| mllmu::Error::param("--json", "", e.to_string()))?
        );
    } else {
        let (render, separator): (fn(&Table) -> String, &str) = if a.markdown {
            (Table::to_markdown, "\n\n")
        } else if a.latex {
            (Table::to_latex, "\n")
        } else {
            (|t: &Table| t.to_string(), "\n")
        };
        let text: Vec<String> = tables.iter().map(|(_, t)| render(t)).collect();
        println!("{}", text.join(separator));
    }
    if let Some(path) = &a.html {
        let labelled = methods.labelled();
        let mut page = Page::new("mllmu compare");
        for (heading, t) in &tables {
            page.heading(heading).html(t.clone().all_rows().to_html());
        }
        page.heading("Figures");
        let figures = [
            (
                "Multiple-choice accuracy: forget (x) against retain (y), 95 % whiskers, Pareto front.",
                tradeoff(&labelled, Score::ClassificationAccuracy),
            ),
            (
                "Generation ROUGE-L: forget (x) against retain (y).",
                tradeoff(&labelled, Score::RougeL),
            ),
            ("Every set, task and modality.", method_bars(&labelled)),
        ];
        let figures = figures.into_iter().chain(has_beyond.then(|| {
            (
                "Forget quality (log scale) against model utility, one point per method.",
                forget_quality(&labelled, Score::ClassificationAccuracy),
            )
        }));
        for (caption, figure) in figures {
            match figure {
                Ok(f) => page.figure(caption, &f),
                // A figure the runs cannot fill (a set not evaluated) is named, not fatal.
                Err(e) => page.text(&format!("{caption} Not drawn: {e}")),
            };
        }
        page.save(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
