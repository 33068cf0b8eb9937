//! [`Report::to_dataframe`]: one polars row per asked question, for filtering and grouping
//! in a notebook.

use crate::eval::report::Report;
use crate::Result;
use polars::prelude::{Column, DataFrame, NamedFrom, Series};

impl Report {
    /// One row per asked question: `set`, `task`, `modality`, `profile`, `index`,
    /// `question`, `ground_truth`, `prompt`, `prompt_tokens`, `images` (refs joined with
    /// `;`), `raw_output`, `answer`, `predicted`, `correct`, `format_failure`,
    /// `likelihood_choice`, `likelihood_correct`, `rouge1`, `rouge2`, `rougeL`, `bleu`,
    /// `score` (null where a column does not apply to the task).
    pub fn to_dataframe(&self) -> Result<DataFrame> {
        let q = &self.questions;
        let columns = vec![
            column("set", q, |x| x.set.as_str().to_string()),
            column("task", q, |x| x.task.as_str().to_string()),
            column("modality", q, |x| x.modality.as_str().to_string()),
            column("profile", q, |x| x.profile.clone()),
            column("index", q, |x| x.index as u32),
            column("question", q, |x| x.question.clone()),
            column("ground_truth", q, |x| x.ground_truth.clone()),
            column("prompt", q, |x| x.prompt.clone()),
            column("prompt_tokens", q, |x| x.prompt_tokens as u32),
            column("images", q, |x| {
                let refs: Vec<String> = x.images.iter().map(|i| i.to_string()).collect();
                refs.join(";")
            }),
            column("raw_output", q, |x| x.raw_output.clone()),
            column("answer", q, |x| x.answer.clone()),
            column("predicted", q, |x| x.predicted.map(String::from)),
            column("correct", q, |x| x.correct),
            column("format_failure", q, |x| x.format_failure),
            column("likelihood_choice", q, |x| {
                x.likelihood_choice.map(String::from)
            }),
            column("likelihood_correct", q, |x| x.likelihood_correct),
            column("rouge1", q, |x| x.text_scores.map(|t| t.rouge1)),
            column("rouge2", q, |x| x.text_scores.map(|t| t.rouge2)),
            column("rougeL", q, |x| x.text_scores.map(|t| t.rouge_l)),
            column("bleu", q, |x| x.text_scores.map(|t| t.bleu)),
            column("score", q, |x| x.score),
        ];
        Ok(DataFrame::new(q.len(), columns)?)
    }
}

/// A polars column named `name` holding `f` of every item.
pub(crate) fn column<T, V>(name: &str, items: &[T], f: impl Fn(&T) -> V) -> Column
where
    Series: NamedFrom<Vec<V>, [V]>,
{
    Series::new(name.into(), items.iter().map(f).collect::<Vec<V>>()).into()
}
