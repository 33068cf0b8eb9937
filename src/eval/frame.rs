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
        let s = |name: &str, v: Vec<String>| Series::new(name.into(), v);
        let text = |f: &dyn Fn(&crate::eval::report::QuestionResult) -> String| {
            q.iter().map(f).collect::<Vec<String>>()
        };
        let opt_f =
            |name: &str, f: &dyn Fn(&crate::eval::report::QuestionResult) -> Option<f64>| {
                Series::new(name.into(), q.iter().map(f).collect::<Vec<Option<f64>>>())
            };
        let opt_b =
            |name: &str, f: &dyn Fn(&crate::eval::report::QuestionResult) -> Option<bool>| {
                Series::new(name.into(), q.iter().map(f).collect::<Vec<Option<bool>>>())
            };
        let opt_c =
            |name: &str, f: &dyn Fn(&crate::eval::report::QuestionResult) -> Option<char>| {
                Series::new(
                    name.into(),
                    q.iter()
                        .map(|x| f(x).map(String::from))
                        .collect::<Vec<Option<String>>>(),
                )
            };
        let columns: Vec<Series> = vec![
            s("set", text(&|x| x.set.as_str().into())),
            s("task", text(&|x| x.task.as_str().into())),
            s("modality", text(&|x| x.modality.as_str().into())),
            s("profile", text(&|x| x.profile.clone())),
            Series::new(
                "index".into(),
                q.iter().map(|x| x.index as u32).collect::<Vec<u32>>(),
            ),
            s("question", text(&|x| x.question.clone())),
            s("ground_truth", text(&|x| x.ground_truth.clone())),
            s("prompt", text(&|x| x.prompt.clone())),
            Series::new(
                "prompt_tokens".into(),
                q.iter()
                    .map(|x| x.prompt_tokens as u32)
                    .collect::<Vec<u32>>(),
            ),
            s(
                "images",
                text(&|x| {
                    x.images
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(";")
                }),
            ),
            s("raw_output", text(&|x| x.raw_output.clone())),
            s("answer", text(&|x| x.answer.clone())),
            opt_c("predicted", &|x| x.predicted),
            opt_b("correct", &|x| x.correct),
            opt_b("format_failure", &|x| x.format_failure),
            opt_c("likelihood_choice", &|x| x.likelihood_choice),
            opt_b("likelihood_correct", &|x| x.likelihood_correct),
            opt_f("rouge1", &|x| x.text_scores.map(|t| t.rouge1)),
            opt_f("rouge2", &|x| x.text_scores.map(|t| t.rouge2)),
            opt_f("rougeL", &|x| x.text_scores.map(|t| t.rouge_l)),
            opt_f("bleu", &|x| x.text_scores.map(|t| t.bleu)),
            Series::new(
                "score".into(),
                q.iter().map(|x| x.score).collect::<Vec<f64>>(),
            ),
        ];
        let columns = columns.into_iter().map(Column::from).collect();
        Ok(DataFrame::new(q.len(), columns)?)
    }
}
