//! A model's answers next to the truth, one profile at a time: what a researcher reads to see
//! what a model remembers or has forgotten about a person.

use crate::display::Table;
use crate::eval::items::{EvalMode, Task};
use crate::eval::report::Report;

impl Report {
    /// Every scored question of `profile` on `set`: the question, the truth, the model's
    /// extracted answer and its score (✓/✗ for classification and cloze, ROUGE-L for
    /// generation). The table displays itself in a notebook.
    ///
    /// ```no_run
    /// # fn demo(report: &mllmu::eval::Report) {
    /// use mllmu::eval::items::EvalMode;
    /// let t = report.answers(EvalMode::Forget, "3");
    /// println!("{t}");
    /// # }
    /// ```
    pub fn answers(&self, set: EvalMode, profile: &str) -> Table {
        let mut t = Table::new(
            format!("Answers on profile {profile} ({} set)", set.as_str()),
            ["task", "modality", "question", "truth", "answer", "score"],
        );
        for q in self
            .questions
            .iter()
            .filter(|q| q.set == set && q.profile == profile)
        {
            let truth = match (&q.options, q.task) {
                (Some(opts), Task::Classification) => {
                    let i = "ABCD".find(q.ground_truth.as_str()).unwrap_or(0);
                    format!("{}. {}", q.ground_truth, opts[i])
                }
                _ => q.ground_truth.clone(),
            };
            let score = match (q.task, q.correct) {
                (Task::Generation, _) => format!("{:.2}", q.score),
                (_, Some(true)) => "✓".into(),
                (_, _) => "✗".into(),
            };
            t.push([
                q.task.as_str().to_string(),
                q.modality.as_str().to_string(),
                q.question.clone(),
                truth,
                q.answer.clone(),
                score,
            ]);
        }
        t
    }
}
