//! Metrics of the benchmark, exact to the Python packages it uses (nltk 3.9.1,
//! rouge_score 0.1.2), plus confidence intervals the reference lacks.
//!
//! | file | what |
//! |---|---|
//! | [`porter`] | nltk `PorterStemmer` (NLTK_EXTENSIONS) |
//! | [`rouge`] | ROUGE-1/2/L with stemming |
//! | [`bleu`] | sentence BLEU, method1 smoothing, `math.fsum` |
//! | [`accuracy`] | accuracy in percent, averages, tallies with format failures |
//! | [`bootstrap`] | profile-level bootstrap intervals and paired tests |

pub mod accuracy;
pub mod bleu;
pub mod bootstrap;
pub mod porter;
pub mod rouge;

use serde::{Deserialize, Serialize};

/// The four generation scores of one answer (F-measures for ROUGE), in the order
/// `mllmu score-text` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextScores {
    /// ROUGE-1 F-measure.
    pub rouge1: f64,
    /// ROUGE-2 F-measure.
    pub rouge2: f64,
    /// ROUGE-L F-measure.
    #[serde(rename = "rougeL")]
    pub rouge_l: f64,
    /// Sentence BLEU.
    pub bleu: f64,
}

/// Scores one generated answer against its ground truth as `eval.py` does.
///
/// ```
/// let s = mllmu::eval::metrics::score_text("She is a baker.", "She is a baker.");
/// assert_eq!((s.rouge1, s.rouge2, s.rouge_l, s.bleu), (1.0, 1.0, 1.0, 1.0));
/// ```
pub fn score_text(ground_truth: &str, prediction: &str) -> TextScores {
    let r = rouge::rouge(ground_truth, prediction);
    TextScores {
        rouge1: r.rouge1.fmeasure,
        rouge2: r.rouge2.fmeasure,
        rouge_l: r.rouge_l.fmeasure,
        bleu: bleu::bleu(ground_truth, prediction),
    }
}
