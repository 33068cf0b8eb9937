//! `mllmu bench ...` (owner: bench)
use clap::Subcommand;
use mllmu::bench::{mini, Bench, MiniConfig};
use std::path::PathBuf;

/// Benchmark folder commands.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Print counts per folder
    Stats {
        /// Read the benchmark from this folder
        dir: PathBuf,
        /// Print JSON (`{"folders": {...}}`) instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic mini benchmark in the hub layout
    Mini {
        /// Write the benchmark into this folder (created if needed)
        out: PathBuf,
        /// Seed the generator (the same seed writes byte-identical files)
        #[arg(long, default_value_t = MiniConfig::default().seed)]
        seed: u64,
        /// Generate this many fictitious profiles
        #[arg(long, default_value_t = MiniConfig::default().profiles)]
        profiles: usize,
        /// Invent this many celebrities
        #[arg(long, default_value_t = MiniConfig::default().celebrities)]
        celebrities: usize,
    },
    /// Plot questions per set, task and modality (`.svg` or `.png` by extension)
    Plot {
        /// Read the benchmark from this folder
        dir: PathBuf,
        /// Write the figure to this file
        out: PathBuf,
    },
    /// Download the benchmark into the Hugging Face cache and print its folder
    #[cfg(feature = "hub")]
    Download {
        /// Download this dataset repository
        #[arg(long, default_value = mllmu::bench::DEFAULT_REPO)]
        repo: String,
    },
}

/// Prints to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
fn emit(text: &str) -> mllmu::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(mllmu::Error::io("write", "<stdout>", e))
        }
        _ => Ok(()),
    }
}

pub fn run(c: BenchCommand) -> mllmu::Result<()> {
    match c {
        BenchCommand::Stats { dir, json } => {
            let summary = Bench::open(&dir)?.summary();
            emit(&match json {
                true => format!("{}\n", mllmu::io::to_json_indent4(&summary)?),
                false => summary.to_string(),
            })?;
        }
        BenchCommand::Mini {
            out,
            seed,
            profiles,
            celebrities,
        } => {
            let cfg = MiniConfig {
                seed,
                profiles,
                celebrities,
            };
            let dir = mini::write(&out, &cfg)?;
            emit(&format!(
                "wrote a mini benchmark (seed {seed}) to {}\n\n{}",
                dir.display(),
                Bench::open(&dir)?.summary()
            ))?;
        }
        BenchCommand::Plot { dir, out } => {
            let fig = mllmu::plot::question_counts(&Bench::open(&dir)?.summary())?;
            match out.extension().and_then(|e| e.to_str()) {
                Some("png") => fig.save_png(&out)?,
                Some("svg") => fig.save_svg(&out)?,
                _ => {
                    return Err(mllmu::Error::param(
                        "output file",
                        out.display(),
                        "the name must end in .svg or .png",
                    ))
                }
            }
            self::emit(&format!("wrote {}\n", out.display()))?;
        }
        #[cfg(feature = "hub")]
        BenchCommand::Download { repo } => {
            let bench = Bench::download(&repo)?;
            emit(&format!(
                "{}\n\n{}",
                bench.root().display(),
                bench.summary()
            ))?;
        }
    }
    Ok(())
}
