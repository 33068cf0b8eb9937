//! Teacher-forced answer likelihoods: the one routine of the model side. The truth ratios
//! (option answers given the question) and the membership-inference scores (`ft_Data`
//! answers given their question) both come from here.
//!
//! A sample is rendered by the training code ([`PromptTemplate`] and
//! [`CollateOptions::encode`]: `USER: <image>\n{question}\nASSISTANT: {answer}`, or the
//! text-only template), labelled on the answer tokens only (no EOS appended), left-padded into
//! batches and run through the model's forward pass; the answer positions' logits go through
//! the training loss's [`log_softmax`]. Position `t` predicts token `t + 1`, as in the loss.

use crate::eval::beyond::mia::NextTokenMoments;
use crate::model::Model;
use crate::train::collate::{CollateOptions, LabelMask, PadSide, PromptTemplate};
use crate::train::data::{PixelCache, SampleSet};
use crate::train::loss::{log_softmax, IGNORE_INDEX};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The answer tokens of one sample under the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerLogProbs {
    /// `log p(answer token | everything before it)`, one per answer token.
    pub logprobs: Vec<f64>,
    /// The moments of each answer position's next-token distribution (for Min-K%++).
    pub moments: Vec<NextTokenMoments>,
}

impl AnswerLogProbs {
    /// The length-normalised log-likelihood: the mean token log-probability (minus the
    /// answer's average NLL).
    ///
    /// ```
    /// use mllmu::eval::beyond::likelihood::AnswerLogProbs;
    /// let a = AnswerLogProbs { logprobs: vec![-1.0, -3.0], moments: vec![] };
    /// assert_eq!(a.mean(), -2.0);
    /// ```
    pub fn mean(&self) -> f64 {
        self.logprobs.iter().sum::<f64>() / self.logprobs.len().max(1) as f64
    }
}

/// The collation answers are scored with: `template`, labels on the answer only, no EOS,
/// left padding, the model's pad id.
///
/// ```
/// use mllmu::train::{LabelMask, PromptTemplate};
/// let c = mllmu::eval::beyond::likelihood::scoring_collate(PromptTemplate::TextOnly, 0);
/// assert_eq!((c.labels, c.append_eos), (LabelMask::AnswerOnly, false));
/// ```
pub fn scoring_collate(template: PromptTemplate, pad_id: u32) -> CollateOptions {
    CollateOptions {
        template,
        labels: LabelMask::AnswerOnly,
        append_eos: false,
        pad_id,
        padding_side: PadSide::Left,
        ..CollateOptions::reference()
    }
}

/// Scores the answer of every sample of `set` (in order), `batch_size` samples per forward
/// pass. With [`PromptTemplate::Multimodal`] every sample needs an image.
///
/// ```
/// use mllmu::{bench::Bench, model::Model, train::{PromptTemplate, SampleSet}};
/// use mllmu::eval::beyond::likelihood::answer_logprobs;
/// let model = Model::load_with("tests/fixtures/tiny-llava", &candle_core::Device::Cpu, candle_core::DType::F32)?;
/// let bench = Bench::open("tests/fixtures/mllmu-sample")?;
/// let mut set = SampleSet::from_bench(&bench, "ft")?;
/// set.samples.truncate(2);
/// let scored = answer_logprobs(&model, &set, PromptTemplate::Multimodal, 2)?;
/// assert_eq!(scored.len(), 2);
/// assert!(scored.iter().all(|a| a.mean() < 0.0 && a.moments.len() == a.logprobs.len()));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn answer_logprobs(
    model: &Model,
    set: &SampleSet,
    template: PromptTemplate,
    batch_size: usize,
) -> Result<Vec<AnswerLogProbs>> {
    if batch_size == 0 {
        return Err(Error::param("--batch-size", 0, "must be at least 1"));
    }
    let collate = scoring_collate(template, model.tokenizer.pad_id());
    let device = model.llava.device().clone();
    let mut pixels = PixelCache::new(256);
    let tok = &model.tokenizer;
    let mut out = Vec::with_capacity(set.samples.len());
    for chunk in set.samples.chunks(batch_size) {
        let encoded = chunk
            .iter()
            .map(|s| collate.encode(s, &|t| tok.encode(t)))
            .collect::<Result<Vec<_>>>()?;
        let answer_len: Vec<usize> = encoded
            .iter()
            .map(|e| e.labels.iter().filter(|&&l| l != IGNORE_INDEX).count())
            .collect();
        if let Some(i) = answer_len.iter().position(|&n| n == 0) {
            return Err(Error::param(
                "answer",
                &chunk[i].answer,
                format!(
                    "{}: the answer to {:?} encodes to no token of its own",
                    set.name, chunk[i].question
                ),
            ));
        }
        let batch = collate.collate(&encoded, &device)?;
        let images = if template == PromptTemplate::Multimodal {
            batch.images.clone()
        } else {
            vec![None; batch.len()]
        };
        let pv = pixels.pixel_values(0, set, &images, &model.processor, &device)?;
        let logits =
            model
                .llava
                .forward(&batch.input_ids, pv.as_ref(), Some(&batch.attention_mask))?;
        let width = batch.input_ids.dim(1)?;
        let longest = answer_len.iter().copied().max().unwrap_or(1);
        // Left padding: every row ends at the last column, so the answers' predicting
        // positions are the last `longest` positions before it.
        let tail = logits.narrow(1, width - 1 - longest, longest)?;
        let rows = log_softmax(&tail)?.to_vec3::<f32>()?;
        for ((e, &n), row) in encoded.iter().zip(&answer_len).zip(&rows) {
            let len = e.ids.len();
            let mut a = AnswerLogProbs {
                logprobs: Vec::with_capacity(n),
                moments: Vec::with_capacity(n),
            };
            for j in 0..n {
                let dist = &row[longest - n + j];
                let id = e.ids[len - n + j] as usize;
                let lp = dist.get(id).copied().ok_or_else(|| {
                    Error::param("token id", id, "outside the model's vocabulary")
                })?;
                a.logprobs.push(lp as f64);
                a.moments.push(NextTokenMoments::from_log_probs(dist));
            }
            out.push(a);
        }
    }
    Ok(out)
}
