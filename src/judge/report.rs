//! The results of a judge run: per-item judgements and a summary that displays itself.

use super::item::{ItemKey, Judgement, TaskType};
use super::options::JudgeOptions;
use super::rubric::RUBRIC_VERSION;
use crate::display::{html_block, print_evcxr, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The mean score of one group (set/mode label, task type, question type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    /// Set or evaluation mode.
    pub label: String,
    /// Generation or description.
    pub task_type: TaskType,
    /// `"Image_Textual"`, `"Pure_Text"` or `None`.
    pub question_type: Option<String>,
    /// Items in the group.
    pub items: usize,
    /// Items with a score.
    pub scored: usize,
    /// Mean over the scored items only; `None` when none was scored.
    pub mean_score: Option<f64>,
}

/// Counts, means, tokens and cost of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    /// Items graded (cached or not).
    pub items: usize,
    /// Items with a score.
    pub scored: usize,
    /// Items without a score (each has a failure reason).
    pub failed: usize,
    /// HTTP requests sent in this run (retries included).
    pub requests: u64,
    /// Retries among those requests.
    pub retries: u64,
    /// Items served from the cache.
    pub cache_hits: usize,
    /// Mean over the scored items only; `None` when none was scored.
    pub mean_score: Option<f64>,
    /// Prompt tokens spent in this run.
    pub prompt_tokens: u64,
    /// Completion tokens spent in this run.
    pub completion_tokens: u64,
    /// Estimated cost of this run in US dollars, from the configured prices.
    pub cost_usd: f64,
    /// The judge model.
    pub model: String,
    /// The rubric version.
    pub rubric_version: String,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Means per group, sorted by label, task type and question type.
    pub groups: Vec<GroupScore>,
}

/// (label, task type, question type).
type GroupKey = (String, TaskType, Option<String>);

/// The mean of some scores, `None` when there are none.
pub(crate) fn mean(scores: &[u8]) -> Option<f64> {
    (!scores.is_empty())
        .then(|| scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64)
}

impl JudgeSummary {
    /// Summarises judgements (the counters come from the run).
    pub fn new(
        opts: &JudgeOptions,
        judgements: &[Judgement],
        requests: u64,
        retries: u64,
        seconds: f64,
    ) -> Self {
        let scores: Vec<u8> = judgements.iter().filter_map(|j| j.score).collect();
        let prompt_tokens = judgements.iter().map(|j| j.prompt_tokens).sum();
        let completion_tokens = judgements.iter().map(|j| j.completion_tokens).sum();
        let mut groups: BTreeMap<GroupKey, (usize, Vec<u8>)> = BTreeMap::new();
        for j in judgements {
            let g = groups
                .entry((
                    j.item.label.clone(),
                    j.item.task_type,
                    j.item.question_type.clone(),
                ))
                .or_default();
            g.0 += 1;
            g.1.extend(j.score);
        }
        JudgeSummary {
            items: judgements.len(),
            scored: scores.len(),
            failed: judgements.len() - scores.len(),
            requests,
            retries,
            cache_hits: judgements.iter().filter(|j| j.cached).count(),
            mean_score: mean(&scores),
            prompt_tokens,
            completion_tokens,
            cost_usd: opts.prices.cost(prompt_tokens, completion_tokens),
            model: opts.model.clone(),
            rubric_version: RUBRIC_VERSION.to_string(),
            seconds,
            groups: groups
                .into_iter()
                .map(
                    |((label, task_type, question_type), (items, s))| GroupScore {
                        label,
                        task_type,
                        question_type,
                        items,
                        scored: s.len(),
                        mean_score: mean(&s),
                    },
                )
                .collect(),
        }
    }

    fn tables(&self) -> (Table, Table) {
        let fmt = |m: Option<f64>| m.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
        let totals = Table::new(
            format!("judge {} ({})", self.model, self.rubric_version),
            ["measure", "value"],
        )
        .row(["items", &self.items.to_string()])
        .row(["scored", &self.scored.to_string()])
        .row(["failed", &self.failed.to_string()])
        .row(["mean score (scored items)", &fmt(self.mean_score)])
        .row([
            "requests (retries)",
            &format!("{} ({})", self.requests, self.retries),
        ])
        .row(["cache hits", &self.cache_hits.to_string()])
        .row([
            "prompt / completion tokens",
            &format!("{} / {}", self.prompt_tokens, self.completion_tokens),
        ])
        .row(["estimated cost (USD)", &format!("{:.4}", self.cost_usd)])
        .row(["seconds", &format!("{:.1}", self.seconds)]);
        let mut groups = Table::new(
            "mean factuality score per group",
            ["set", "task", "question type", "items", "scored", "mean"],
        );
        for g in &self.groups {
            groups.push([
                g.label.clone(),
                g.task_type.as_str().to_string(),
                g.question_type.clone().unwrap_or_else(|| "-".into()),
                g.items.to_string(),
                g.scored.to_string(),
                fmt(g.mean_score),
            ]);
        }
        (totals, groups)
    }

    /// One HTML block (totals and groups) for notebooks.
    pub fn to_html(&self) -> String {
        let (a, b) = self.tables();
        html_block(&[a.to_html(), b.to_html()])
    }

    /// Shows the summary in an evcxr cell.
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for JudgeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.tables();
        write!(f, "{a}\n{b}")
    }
}

/// A run's judgements (in input order) and its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeReport {
    /// Counts, means, tokens, cost.
    pub summary: JudgeSummary,
    /// One per input item, in input order.
    pub judgements: Vec<Judgement>,
}

impl JudgeReport {
    /// The judgement of an item, by key (the first one if the input held duplicates).
    pub fn get(&self, key: &ItemKey) -> Option<&Judgement> {
        self.judgements.iter().find(|j| &j.key() == key)
    }

    /// All judgements by key, for merging into another report.
    pub fn by_key(&self) -> HashMap<ItemKey, &Judgement> {
        // Reversed, so that the first of duplicates is inserted last and wins.
        self.judgements.iter().rev().map(|j| (j.key(), j)).collect()
    }

    /// The items that have no score.
    pub fn failures(&self) -> impl Iterator<Item = &Judgement> {
        self.judgements.iter().filter(|j| j.score.is_none())
    }

    fn failure_table(&self) -> Option<Table> {
        let mut t = Table::new("failed items", ["set", "profile", "question", "reason"]);
        for j in self.failures() {
            let q: String = j.item.question.chars().take(40).collect();
            t.push([
                j.item.label.clone(),
                j.item.profile_id.clone(),
                q,
                j.failure.clone().unwrap_or_default().replace('\n', " "),
            ]);
        }
        (!t.rows.is_empty()).then_some(t)
    }

    /// One HTML block (summary, then failures) for notebooks.
    pub fn to_html(&self) -> String {
        let (a, b) = self.summary.tables();
        let mut parts = vec![a.to_html(), b.to_html()];
        parts.extend(self.failure_table().map(|t| t.to_html()));
        html_block(&parts)
    }

    /// Shows the report in an evcxr cell.
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for JudgeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.summary)?;
        if let Some(t) = self.failure_table() {
            write!(f, "\n{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::JudgeItem;

    fn judged(label: &str, qt: &str, score: Option<u8>) -> Judgement {
        let mut item =
            JudgeItem::generation(label, "1", format!("q{label}{qt}{score:?}"), "a", "g");
        item.question_type = Some(qt.into());
        Judgement {
            item,
            score,
            justification: None,
            failure: score.is_none().then(|| "HTTP 500".to_string()),
            cached: false,
            requests: 1,
            prompt_tokens: 1000,
            completion_tokens: 100,
        }
    }

    #[test]
    fn means_cover_scored_items_only() {
        let js = vec![
            judged("forget", "Pure_Text", Some(8)),
            judged("forget", "Pure_Text", Some(5)),
            judged("forget", "Pure_Text", None),
            judged("test", "Image_Textual", None),
        ];
        let s = JudgeSummary::new(&JudgeOptions::default(), &js, 4, 0, 0.0);
        assert_eq!((s.items, s.scored, s.failed), (4, 2, 2));
        assert_eq!(s.mean_score, Some(6.5));
        assert_eq!(s.groups.len(), 2);
        assert_eq!(
            (
                s.groups[0].items,
                s.groups[0].scored,
                s.groups[0].mean_score
            ),
            (3, 2, Some(6.5))
        );
        assert_eq!(s.groups[1].mean_score, None);
        assert!((s.cost_usd - (4000.0 * 0.15 + 400.0 * 0.6) / 1e6).abs() < 1e-12);
        let r = JudgeReport {
            summary: s,
            judgements: js.clone(),
        };
        assert_eq!(r.get(&js[1].key()).unwrap().score, Some(5));
        let text = r.to_string();
        assert!(
            text.contains("failed items") && text.contains("HTTP 500") && text.contains("6.50"),
            "{text}"
        );
        assert!(r.to_html().contains("<td>6.50</td>"));
    }
}
