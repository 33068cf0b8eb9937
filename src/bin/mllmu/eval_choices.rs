//! The evaluation choices of `mllmu eval` (few-shot counts and pool, option log-likelihood,
//! answer extraction, decoding, family, samples, bootstrap): each lands in [`Evaluate`],
//! hence in the run manifest of `report.json`.

use crate::eval::SetArg;
use clap::ValueEnum;
use mllmu::eval::extract::Extraction;
use mllmu::eval::fewshot::{ModelFamily, ShotPool};
use mllmu::eval::items::{EvalMode, Task};
use mllmu::eval::Evaluate;
use mllmu::Result;

/// `--shots`: one count for every task with shots, and/or counts per task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shots {
    /// `N`: classification and cloze alike.
    pub all: Option<usize>,
    /// `TASK=N` pairs.
    pub tasks: Vec<(Task, usize)>,
}

/// Parses `N`, `TASK=N,...` or a mix (`1,cloze=2`); tasks are `classification` and `cloze`
/// (or `fill_in_the_blank`); generation is always zero-shot.
fn parse_shots(s: &str) -> std::result::Result<Shots, String> {
    let mut shots = Shots::default();
    for item in s.split(',').map(str::trim) {
        let count = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{v}` is not a count; expected N or TASK=N,... (e.g. `1` or `classification=1,cloze=2`)"))
        };
        match item.split_once('=') {
            None => shots.all = Some(count(item)?),
            Some((task, n)) => {
                let task = match task.trim() {
                    "classification" => Task::Classification,
                    "cloze" | "fill_in_the_blank" => Task::Cloze,
                    "generation" => {
                        return Err(
                            "generation is always zero-shot; give classification or cloze".into(),
                        )
                    }
                    other => {
                        return Err(format!(
                            "unknown task `{other}`; expected classification or cloze"
                        ))
                    }
                };
                shots.tasks.push((task, count(n)?));
            }
        }
    }
    Ok(shots)
}

/// Parses `SET=N` of `--sample` (`forget`, `test`, `retain` or `celebrity`).
fn parse_sample(s: &str) -> std::result::Result<(EvalMode, usize), String> {
    let (set, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SET=N (e.g. `retain=20`)"))?;
    let set = SetArg::from_str(set.trim(), true)
        .map_err(|_| format!("unknown set `{set}`; expected forget, test, retain or celebrity"))?;
    let n =
        positive(n.trim()).map_err(|_| format!("`{n}` is not a positive number of profiles"))?;
    Ok((set.mode(), n))
}

/// A positive count.
fn positive(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a positive whole number")),
    }
}

/// A coverage strictly between 0 and 1.
fn level(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(l) if l > 0.0 && l < 1.0 => Ok(l),
        _ => Err(format!("`{s}` is not a level between 0 and 1 (e.g. 0.95)")),
    }
}

/// `--shot-pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolArg {
    /// Draw from the evaluated set itself (the reference)
    Evaluated,
    /// Draw from profiles outside the evaluated set
    Disjoint,
    /// Use no few-shot examples
    ZeroShot,
}

/// `--extraction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExtractionArg {
    /// Split prompt + continuation on `ASSISTANT:` (the reference)
    Reference,
    /// Read the newly generated tokens only
    NewTokens,
}

/// `--family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FamilyArg {
    /// Use the counts of LLaVA-1.5
    Llava,
    /// Use the counts of Idefics2
    Idefics2,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Enable
    On,
    /// Disable
    Off,
}

/// The evaluation choices, flattened into `mllmu eval`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EvalChoices {
    /// Give classification and cloze N few-shot profiles, TASK=N pairs (`classification=1,cloze=2`)
    /// or both; 0 is zero-shot [default: the reference's per-family counts]
    #[arg(long, value_name = "N|TASK=N,...", value_parser = parse_shots)]
    pub shots: Option<Shots>,
    /// Draw few-shot profiles from this pool [default: evaluated, or disjoint with --corrected]
    #[arg(long, value_enum, value_name = "POOL")]
    pub shot_pool: Option<PoolArg>,
    /// Score classification also by the log-likelihood of the option letters [default: on]
    #[arg(long, value_enum, value_name = "on|off")]
    pub option_likelihood: Option<OnOff>,
    /// Read answers from the decoded output this way [default: reference, or new-tokens with
    /// --corrected]
    #[arg(long, value_enum, value_name = "MODE")]
    pub extraction: Option<ExtractionArg>,
    /// Generate at most N new tokens per question (greedy decoding) [default: the
    /// reference's 50]
    #[arg(long, value_name = "N", value_parser = positive)]
    pub max_new_tokens: Option<usize>,
    /// Take the reference's few-shot counts of this model family [default: config.json's
    /// model_type]
    #[arg(long, value_enum, value_name = "FAMILY")]
    pub family: Option<FamilyArg>,
    /// Evaluate a seeded sample of N profiles of a set (`retain=20`; comma-separated)
    #[arg(long, value_name = "SET=N,...", value_delimiter = ',', value_parser = parse_sample)]
    pub sample: Vec<(EvalMode, usize)>,
    /// Draw this many bootstrap resamples for the confidence intervals [default: 1000]
    #[arg(long, value_name = "N", value_parser = positive)]
    pub bootstrap_resamples: Option<usize>,
    /// Set the coverage of the confidence intervals, between 0 and 1 [default: 0.95]
    #[arg(long, value_name = "LEVEL", value_parser = level)]
    pub confidence: Option<f64>,
}

impl EvalChoices {
    /// `e` with every choice given on the command line applied.
    pub fn apply(&self, mut e: Evaluate) -> Result<Evaluate> {
        if let Some(shots) = &self.shots {
            if let Some(k) = shots.all {
                e = e.with_shots(k);
                if k == 0 && shots.tasks.is_empty() {
                    e = e.with_shot_pool(ShotPool::ZeroShot);
                }
            }
            for &(task, k) in &shots.tasks {
                e = e.with_task_shots(task, k);
            }
        }
        if let Some(pool) = self.shot_pool {
            e = e.with_shot_pool(match pool {
                PoolArg::Evaluated => ShotPool::Evaluated,
                PoolArg::Disjoint => ShotPool::Disjoint,
                PoolArg::ZeroShot => ShotPool::ZeroShot,
            });
        }
        if let Some(on) = self.option_likelihood {
            e = e.with_option_likelihood(on == OnOff::On);
        }
        if let Some(x) = self.extraction {
            e = e.with_extraction(match x {
                ExtractionArg::Reference => Extraction::Reference,
                ExtractionArg::NewTokens => Extraction::NewTokens,
            });
        }
        if let Some(n) = self.max_new_tokens {
            e = e.with_max_new_tokens(n);
        }
        if let Some(f) = self.family {
            e = e.with_family(match f {
                FamilyArg::Llava => ModelFamily::Llava,
                FamilyArg::Idefics2 => ModelFamily::Idefics2,
            });
        }
        for &(set, n) in &self.sample {
            e = e.with_sample(set, n);
        }
        e.bootstrap.resamples = self.bootstrap_resamples.unwrap_or(e.bootstrap.resamples);
        e.bootstrap.level = self.confidence.unwrap_or(e.bootstrap.level);
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shots_parse_counts_and_task_pairs() {
        assert_eq!(parse_shots("0").unwrap().all, Some(0));
        let s = parse_shots("1,cloze=2").unwrap();
        assert_eq!(s.all, Some(1));
        assert_eq!(s.tasks, vec![(Task::Cloze, 2)]);
        assert!(parse_shots("generation=1")
            .unwrap_err()
            .contains("zero-shot"));
        assert!(parse_shots("x").unwrap_err().contains("not a count"));
        assert!(parse_shots("vqa=1").unwrap_err().contains("unknown task"));
    }

    #[test]
    fn zero_shots_mean_zero_shot() {
        let c = EvalChoices {
            shots: Some(parse_shots("0").unwrap()),
            ..Default::default()
        };
        let e = c.apply(Evaluate::paper()).unwrap();
        assert_eq!((e.shots, e.shot_pool), (Some(0), ShotPool::ZeroShot));
        let c = EvalChoices {
            shots: Some(parse_shots("classification=1").unwrap()),
            ..Default::default()
        };
        let e = c.apply(Evaluate::paper()).unwrap();
        assert_eq!(e.fewshot_for(Task::Classification).k, Some(1));
        assert_eq!(e.fewshot_for(Task::Cloze).k, None);
    }

    #[test]
    fn samples_and_levels_are_checked() {
        assert_eq!(
            parse_sample("retain=20").unwrap(),
            (EvalMode::RetainShared, 20)
        );
        assert!(parse_sample("retain").is_err());
        assert!(parse_sample("moon=2").unwrap_err().contains("unknown set"));
        assert!(parse_sample("forget=0").is_err());
        assert!(level("1.5").is_err());
        assert!(positive("0").is_err());
    }
}
