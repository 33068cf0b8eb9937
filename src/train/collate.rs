//! Training samples to padded batches: prompt template, tokenization, label mask, padding.
//!
//! The reference (`train_collate_fn_llava`, SPEC.md §4) renders each (question, answer) as
//!
//! ```text
//! USER: <image>\n{question}\nASSISTANT: {answer}
//! ```
//!
//! tokenizes it with the LLaVA processor (BOS added, no EOS, every `<image>` expanded to the
//! image's patch tokens), sets `labels = input_ids` with padding → −100 (so the loss covers
//! the prompt, the image tokens and the answer), and pads. transformers 4.45.1's processor
//! pads on the side stored in `tokenizer_config.json` (`left` for llava-hf) although the
//! script asks for `right` (fixtures README §3), so [`PadSide::Left`] is the default.
//!
//! Text-only unlearning (which the reference does not implement, issue #20) uses
//! [`PromptTemplate::TextOnly`], `USER: {question}\nASSISTANT: {answer}`: the same turn
//! markers without the image placeholder, like the benchmark's text-only generation prompt
//! (`USER: ` inline). Corrected labelling ([`LabelMask::AnswerOnly`], EOS appended) is
//! [`CollateOptions::answer_only`] (SPEC.md Q15).
//!
//! Tokenization is the caller's: `encode(text)` must return the ids the model consumes
//! (BOS included, `<image>` expanded), which is what the LLaVA tokenizer wrapper does.

use crate::train::loss::{Pass, IGNORE_INDEX};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::iter::repeat_n;

/// One (image, question, answer) training example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainSample {
    /// Index of the sample's image in the caller's image list (`None`: text only).
    pub image: Option<usize>,
    /// The question.
    pub question: String,
    /// The answer to learn (or unlearn).
    pub answer: String,
}

/// How a sample becomes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptTemplate {
    /// `USER: <image>\n{question}\nASSISTANT: {answer}` (reference; needs an image).
    Multimodal,
    /// `USER: {question}\nASSISTANT: {answer}` (text-only unlearning; images are dropped).
    TextOnly,
}

impl PromptTemplate {
    /// The prompt up to and including `ASSISTANT:`.
    ///
    /// ```
    /// use mllmu::train::PromptTemplate;
    /// assert_eq!(PromptTemplate::Multimodal.prompt("Who?"), "USER: <image>\nWho?\nASSISTANT:");
    /// assert_eq!(PromptTemplate::TextOnly.render("Who?", "Ann."), "USER: Who?\nASSISTANT: Ann.");
    /// ```
    pub fn prompt(&self, question: &str) -> String {
        match self {
            PromptTemplate::Multimodal => format!("USER: <image>\n{question}\nASSISTANT:"),
            PromptTemplate::TextOnly => format!("USER: {question}\nASSISTANT:"),
        }
    }

    /// The full training text: prompt, a space, the answer.
    pub fn render(&self, question: &str, answer: &str) -> String {
        format!("{} {answer}", self.prompt(question))
    }
}

/// Which tokens the loss covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelMask {
    /// Every non-pad token: prompt, image tokens and answer (reference).
    AllTokens,
    /// The answer tokens only (and the EOS when appended): the prompt is −100.
    AnswerOnly,
}

/// The side padding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadSide {
    /// Pads before the text (what transformers 4.45.1 does for llava-hf).
    Left,
    /// Pads after the text (what the script requests).
    Right,
}

/// Collation settings. `Default` is the reference ([`CollateOptions::reference`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollateOptions {
    /// Prompt template.
    pub template: PromptTemplate,
    /// Label mask.
    pub labels: LabelMask,
    /// Append `eos_id` after the answer (the reference does not, Q15).
    pub append_eos: bool,
    /// End-of-sequence id (`</s>` = 2 for LLaVA-1.5).
    pub eos_id: u32,
    /// Padding id (`<pad>` = 32001 for llava-hf).
    pub pad_id: u32,
    /// Padding side.
    pub padding_side: PadSide,
    /// Truncate each sequence to this many tokens (right truncation); `None` = no limit
    /// (the reference's `max_length` is ignored, Q17). Truncating into image tokens breaks
    /// the image-token count the model expects.
    pub max_length: Option<usize>,
}

impl Default for CollateOptions {
    fn default() -> Self {
        Self::reference()
    }
}

impl CollateOptions {
    /// The reference collation: multimodal template, labels on every non-pad token, no EOS,
    /// `<pad>` 32001 on the left.
    pub fn reference() -> Self {
        CollateOptions {
            template: PromptTemplate::Multimodal,
            labels: LabelMask::AllTokens,
            append_eos: false,
            eos_id: 2,
            pad_id: 32001,
            padding_side: PadSide::Left,
            max_length: None,
        }
    }

    /// Corrected labelling: answer tokens only, EOS appended and learned.
    pub fn answer_only() -> Self {
        CollateOptions {
            labels: LabelMask::AnswerOnly,
            append_eos: true,
            ..Self::reference()
        }
    }

    /// Tokenizes one sample and builds its labels (unpadded).
    pub fn encode(
        &self,
        sample: &TrainSample,
        encode: &dyn Fn(&str) -> Result<Vec<u32>>,
    ) -> Result<EncodedSample> {
        let image = match (self.template, sample.image) {
            (PromptTemplate::TextOnly, _) => None,
            (PromptTemplate::Multimodal, Some(i)) => Some(i),
            (PromptTemplate::Multimodal, None) => {
                return Err(Error::param(
                    "template",
                    "multimodal",
                    format!(
                        "the sample {:?} has no image\nhint: use the text-only template for text-only training",
                        sample.question
                    ),
                ))
            }
        };
        let text = self.template.render(&sample.question, &sample.answer);
        let mut ids = encode(&text)?;
        let answer_start = match self.labels {
            LabelMask::AllTokens => 0,
            LabelMask::AnswerOnly => {
                let prompt_ids = encode(&self.template.prompt(&sample.question))?;
                // The prompt's ids are a prefix of the full text's unless a merge crosses the
                // boundary; the answer then starts where they first differ.
                prompt_ids
                    .iter()
                    .zip(&ids)
                    .take_while(|(a, b)| a == b)
                    .count()
            }
        };
        if self.append_eos {
            ids.push(self.eos_id);
        }
        if let Some(max) = self.max_length {
            ids.truncate(max);
        }
        let labels = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                if i < answer_start || id == self.pad_id {
                    IGNORE_INDEX
                } else {
                    id as i64
                }
            })
            .collect();
        Ok(EncodedSample { ids, labels, image })
    }

    /// Pads encoded samples into one batch on `device`.
    pub fn collate(&self, samples: &[EncodedSample], device: &Device) -> Result<Batch> {
        if samples.is_empty() {
            return Err(Error::param(
                "batch",
                "empty",
                "cannot collate zero samples",
            ));
        }
        if let Some(s) = samples.iter().find(|s| s.ids.is_empty()) {
            return Err(Error::param(
                "sample",
                format!("{:?}", s.image),
                "encodes to zero tokens",
            ));
        }
        let width = samples.iter().map(|s| s.ids.len()).max().unwrap_or(0);
        let b = samples.len();
        let mut ids = Vec::with_capacity(b * width);
        let mut mask = Vec::with_capacity(b * width);
        let mut labels = Vec::with_capacity(b * width);
        for s in samples {
            let pad = width - s.ids.len();
            let lr = match self.padding_side {
                PadSide::Left => (pad, 0),
                PadSide::Right => (0, pad),
            };
            ids.extend(padded(&s.ids, self.pad_id, lr));
            mask.extend(padded(&vec![1; s.ids.len()], 0u32, lr));
            labels.extend(padded(&s.labels, IGNORE_INDEX, lr));
        }
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, (b, width), device)?,
            attention_mask: Tensor::from_vec(mask, (b, width), device)?,
            labels: Tensor::from_vec(labels, (b, width), device)?,
            images: samples.iter().map(|s| s.image).collect(),
            lengths: samples.iter().map(|s| s.ids.len()).collect(),
        })
    }

    /// [`CollateOptions::encode`] every sample, then [`CollateOptions::collate`].
    pub fn batch(
        &self,
        samples: &[TrainSample],
        encode: &dyn Fn(&str) -> Result<Vec<u32>>,
        device: &Device,
    ) -> Result<Batch> {
        let encoded = samples
            .iter()
            .map(|s| self.encode(s, encode))
            .collect::<Result<Vec<_>>>()?;
        self.collate(&encoded, device)
    }
}

/// `row` with `l` copies of `pad` before it and `r` after it.
fn padded<T: Copy>(row: &[T], pad: T, (l, r): (usize, usize)) -> impl Iterator<Item = T> + '_ {
    repeat_n(pad, l)
        .chain(row.iter().copied())
        .chain(repeat_n(pad, r))
}

/// One tokenized sample before padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSample {
    /// Token ids (BOS first, `<image>` expanded by the encoder, EOS if appended).
    pub ids: Vec<u32>,
    /// Labels, −100 where not learned.
    pub labels: Vec<i64>,
    /// The image the model must see with it.
    pub image: Option<usize>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[B, L]` u32.
    pub input_ids: Tensor,
    /// `[B, L]` u32, 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// `[B, L]` i64, −100 where not learned.
    pub labels: Tensor,
    /// Per row, the image index (in row order; the model takes their pixel values).
    pub images: Vec<Option<usize>>,
    /// Per row, the unpadded length.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch has no row (never true for a collated batch).
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The loss view of this batch with the model's logits on it.
    pub fn pass<'a>(&'a self, logits: &'a Tensor) -> Pass<'a> {
        Pass::new(logits, &self.labels, Some(&self.attention_mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy encoder: BOS 1, `<image>` → three 9s, each other byte → byte + 100.
    fn toy(text: &str) -> Result<Vec<u32>> {
        let mut ids = vec![1];
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("<image>") {
                ids.extend([9, 9, 9]);
                rest = r;
            } else {
                let c = rest.as_bytes()[0];
                ids.push(c as u32 + 100);
                rest = &rest[1..];
            }
        }
        Ok(ids)
    }

    fn bytes(s: &str) -> Vec<u32> {
        s.bytes().map(|b| b as u32 + 100).collect()
    }

    fn sample(q: &str, a: &str) -> TrainSample {
        TrainSample {
            image: Some(4),
            question: q.into(),
            answer: a.into(),
        }
    }

    #[test]
    fn reference_labels_cover_every_non_pad_token() {
        let opts = CollateOptions {
            pad_id: 0,
            ..CollateOptions::reference()
        };
        let e = opts.encode(&sample("Q?", "A."), &toy).unwrap();
        let mut want = vec![1];
        want.extend(bytes("USER: "));
        want.extend([9, 9, 9]);
        want.extend(bytes("\nQ?\nASSISTANT: A."));
        assert_eq!(e.ids, want);
        assert_eq!(e.labels, want.iter().map(|&i| i as i64).collect::<Vec<_>>());
        assert_eq!(e.image, Some(4));
    }

    #[test]
    fn answer_only_masks_the_prompt_and_learns_eos() {
        let opts = CollateOptions {
            pad_id: 0,
            ..CollateOptions::answer_only()
        };
        let e = opts.encode(&sample("Q?", "A."), &toy).unwrap();
        let prompt_len = 1 + bytes("USER: ").len() + 3 + bytes("\nQ?\nASSISTANT:").len();
        assert_eq!(e.ids.len(), prompt_len + 3 + 1);
        assert_eq!(*e.ids.last().unwrap(), 2);
        assert!(e.labels[..prompt_len].iter().all(|&l| l == -100));
        let tail: Vec<i64> = [b' ', b'A', b'.']
            .iter()
            .map(|&c| c as i64 + 100)
            .chain([2])
            .collect();
        assert_eq!(e.labels[prompt_len..], tail[..]);
    }

    #[test]
    fn padding_sides_masks_and_labels() {
        let opts = CollateOptions {
            pad_id: 7,
            template: PromptTemplate::TextOnly,
            ..CollateOptions::reference()
        };
        let samples = [sample("Q?", "Long answer."), sample("Q?", "A.")];
        let left = opts.batch(&samples, &toy, &Device::Cpu).unwrap();
        let (l0, l1) = (left.lengths[0], left.lengths[1]);
        assert_eq!(l0 - l1, 10);
        assert_eq!(left.images, vec![None, None]); // text-only drops images
        let ids = left.input_ids.to_vec2::<u32>().unwrap();
        let mask = left.attention_mask.to_vec2::<u32>().unwrap();
        let labels = left.labels.to_vec2::<i64>().unwrap();
        assert_eq!(ids[1][..10], [7; 10]);
        assert_eq!(ids[1][10], 1);
        assert_eq!(mask[1].iter().sum::<u32>() as usize, l1);
        assert_eq!(mask[1][..10], [0; 10]);
        assert_eq!(labels[1][..10], [-100; 10]);
        assert_eq!(labels[1][10], 1);

        let right = CollateOptions {
            padding_side: PadSide::Right,
            ..opts
        }
        .batch(&samples, &toy, &Device::Cpu)
        .unwrap();
        let ids = right.input_ids.to_vec2::<u32>().unwrap();
        let mask = right.attention_mask.to_vec2::<u32>().unwrap();
        assert_eq!(ids[1][l1..], [7; 10]);
        assert_eq!(mask[1][l1..], [0; 10]);
        assert_eq!(ids[0], ids[0].clone());
        assert_eq!(right.labels.dims(), &[2, l0]);
    }

    #[test]
    fn pad_ids_in_text_are_not_learned_as_in_the_reference() {
        // The reference masks by id: a token equal to the pad id is −100 even inside the text.
        let opts = CollateOptions {
            pad_id: b'A' as u32 + 100,
            ..CollateOptions::reference()
        };
        let e = opts.encode(&sample("Q?", "A."), &toy).unwrap();
        let pos = e.ids.iter().rposition(|&i| i == b'A' as u32 + 100).unwrap();
        assert_eq!(e.labels[pos], -100);
    }

    #[test]
    fn truncation_and_errors() {
        let opts = CollateOptions {
            max_length: Some(5),
            ..CollateOptions::answer_only()
        };
        let e = opts.encode(&sample("Q?", "A."), &toy).unwrap();
        assert_eq!(e.ids.len(), 5);
        assert!(e.labels.iter().all(|&l| l == -100));
        let no_image = TrainSample {
            image: None,
            ..sample("Who?", "x")
        };
        let err = CollateOptions::reference()
            .encode(&no_image, &toy)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"Who?\" has no image") && err.contains("hint: use the text-only"),
            "{err}"
        );
        let err = CollateOptions::reference()
            .collate(&[], &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot collate zero samples"), "{err}");
        let failing = |_: &str| -> Result<Vec<u32>> {
            Err(Error::Tokenizer {
                file: "t.json".into(),
                reason: "boom".into(),
                source: None,
            })
        };
        let err = CollateOptions::reference()
            .encode(&sample("a", "b"), &failing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("boom"));
    }
}
