//! How the factuality judge scored each model's answers: a histogram over the rubric's
//! 1-10 scale, one colour per model.

use crate::judge::JudgeReport;
use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::plot::style::{colour, legend, require_some, swatches, titled, Layout, Ticks};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// The rubric's scale (`judge::rubric`, SPEC §6): integers 1 (worst) to 10 (best).
const SCALE: std::ops::RangeInclusive<u8> = 1..=10;

/// One model: its label, how many answers got each score 1..=10, and how many were
/// not scored.
#[derive(Debug)]
struct Counts {
    name: String,
    counts: [usize; 10],
    unscored: usize,
}

impl Counts {
    fn scored(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The share of the scored answers that got `score`, in percent.
    fn percent(&self, score: u8) -> f64 {
        100.0 * self.counts[usize::from(score - 1)] as f64 / self.scored() as f64
    }
}

/// Tallies a report's scores; a score outside the scale is an error naming the model and
/// the profile.
fn tally(name: &str, report: &JudgeReport) -> Result<Counts> {
    let mut counts = [0usize; 10];
    let mut unscored = 0;
    for j in &report.judgements {
        match j.score {
            Some(s) if SCALE.contains(&s) => counts[usize::from(s - 1)] += 1,
            Some(s) => {
                let message = format!("factuality score {s} is outside the rubric's 1-10 scale");
                let file = format!("judge report `{name}`");
                return Err(Error::bad_data(file, &j.item.profile_id, message));
            }
            None => unscored += 1,
        }
    }
    Ok(Counts {
        name: name.to_string(),
        counts,
        unscored,
    })
}

struct Histogram {
    models: Vec<Counts>,
}

impl Draw for Histogram {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (key, plot) = titled(root, "Judge factuality scores")?.split_vertically(36);
        let entries = swatches(self.models.iter().map(|m| {
            let mut label = format!("{} (n = {}", m.name, m.scored());
            if m.unscored > 0 {
                label += &format!(", {} unscored", m.unscored);
            }
            label + ")"
        }));
        legend(&key, &entries, Layout::Row)?;
        let top = self
            .models
            .iter()
            .flat_map(|m| SCALE.map(|s| m.percent(s)))
            .fold(0.0, f64::max);
        let top = ((top * 1.1 / 10.0).ceil() * 10.0).clamp(10.0, 100.0);
        let x = Ticks::new(0.5..10.5, SCALE.map(f64::from).collect());
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x, 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("factuality score (1 = wrong, 10 = fully correct)")
            .y_desc("answers (% of scored)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        let width = 0.8 / self.models.len() as f64;
        for (i, m) in self.models.iter().enumerate() {
            chart
                .draw_series(SCALE.map(|s| {
                    let left = f64::from(s) - 0.4 + i as f64 * width;
                    Rectangle::new(
                        [
                            (left + 0.05 * width, 0.0),
                            (left + 0.95 * width, m.percent(s)),
                        ],
                        colour(i).filled(),
                    )
                }))
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

/// Histogram of the factuality scores of one or more judge runs (one per model, labelled):
/// for each score 1..=10 of the rubric, the share of that model's scored answers that got
/// it, side by side in one colour per model. Shares (not counts) keep models judged on
/// different numbers of answers comparable; the legend gives each model's scored and
/// unscored counts. A run with no scored answer is an error naming it.
///
/// ```
/// use mllmu::judge::{JudgeItem, JudgeOptions, JudgeReport, JudgeSummary, Judgement};
/// let judged = |score| Judgement {
///     item: JudgeItem::generation("forget", "1", format!("q{score}"), "a", "g"),
///     score: Some(score), justification: None, failure: None, cached: false,
///     requests: 1, prompt_tokens: 0, completion_tokens: 0,
/// };
/// let judgements: Vec<_> = [2, 7, 7, 9].into_iter().map(judged).collect();
/// let summary = JudgeSummary::new(&JudgeOptions::default(), &judgements, 4, 0, 0.0);
/// let report = JudgeReport { summary, judgements };
/// let fig = mllmu::plot::judge_histogram(&[("GA", &report)])?;
/// assert!(fig.to_svg().contains("GA (n = 4)"));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn judge_histogram(models: &[(&str, &JudgeReport)]) -> Result<Figure> {
    require_some(models, "models", "judge report")?;
    let mut out = Vec::with_capacity(models.len());
    for (name, report) in models {
        let counts = tally(name, report)?;
        if counts.scored() == 0 {
            return Err(Error::param(
                "models",
                name,
                format!(
                    "the judge report has no scored answer ({} unscored)",
                    counts.unscored
                ),
            ));
        }
        out.push(counts);
    }
    Figure::render(&Histogram { models: out }, (860, 480))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{JudgeItem, JudgeOptions, JudgeSummary, Judgement};

    fn report(scores: &[Option<u8>]) -> JudgeReport {
        let judgements: Vec<Judgement> = scores
            .iter()
            .enumerate()
            .map(|(i, &score)| Judgement {
                item: JudgeItem::generation("forget", format!("{i}"), "q", "a", "g"),
                score,
                justification: None,
                failure: score.is_none().then(|| "no score".to_string()),
                cached: false,
                requests: 1,
                prompt_tokens: 0,
                completion_tokens: 0,
            })
            .collect();
        JudgeReport {
            summary: JudgeSummary::new(&JudgeOptions::default(), &judgements, 0, 0, 0.0),
            judgements,
        }
    }

    #[test]
    fn tallies_count_each_score_and_the_unscored() {
        let c = tally("m", &report(&[Some(1), Some(10), Some(10), None])).unwrap();
        assert_eq!(c.counts, [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!((c.scored(), c.unscored), (3, 1));
        assert!((c.percent(10) - 200.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn scores_off_the_scale_and_empty_runs_are_errors() {
        let e = tally("m", &report(&[Some(0)])).unwrap_err().to_string();
        assert!(
            e.contains("`m`") && e.contains("outside the rubric's 1-10"),
            "{e}"
        );
        let e = judge_histogram(&[("none", &report(&[None]))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("none") && e.contains("no scored answer"), "{e}");
    }
}
