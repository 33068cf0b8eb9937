//! Training samples from benchmark rows, and the pixel values of their portraits.
//!
//! * Training-format rows (`ft_Data`, the `forget_N`/`retain_N` folders of
//!   `baseline_train_split`): one sample per (row, QA pair) with the row's portrait, even for
//!   pure-text questions, as `Vanilla_LLaVA_Dataset` / `LLAVA_multimodal_Dataset` do
//!   (SPEC.md §4-5). [`SampleSource::FtRows`].
//! * Evaluation-format profile sets (`forget_5`, `retain_95`, `Retain_Set`, ...): when
//!   `ft_Data` holds a row for every profile of the set, those rows are used (the same data
//!   the reference's `baseline_train_split` folders hold). Otherwise — the celebrities have
//!   no `metadata` — each profile gives one sample per `Generation_Task` question (both
//!   types) with its ground truth as the answer and the profile's portrait
//!   ([`SampleSource::GenerationQa`]). This is this project's choice; the reference never
//!   trains on such sets.

use crate::bench::{Bench, FtRow, Portrait, Profile, Split};
use crate::model::ImageProcessor;
use crate::train::collate::TrainSample;
use crate::train::objectives::IdkAnswers;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a [`SampleSet`]'s questions and answers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleSource {
    /// `metadata` QA pairs of training-format rows.
    FtRows,
    /// `Generation_Task` questions and ground truths of evaluation-format profiles.
    GenerationQa,
    /// A source's questions with refusal answers ([`SampleSet::with_idk_answers`]).
    Refusals,
}

/// Samples and the portraits they point at.
///
/// ```
/// use mllmu::bench::Bench;
/// use mllmu::train::SampleSet;
/// let bench = Bench::open("tests/fixtures/mllmu-sample")?;
/// let ft = SampleSet::from_bench(&bench, "ft")?;
/// assert_eq!(ft.images.len(), 10);              // one portrait per row
/// assert_eq!(ft.len(), 70);                     // 7 usable pairs per row
/// let celebs = SampleSet::from_bench(&bench, "Retain_Set")?;
/// assert_eq!(celebs.source, mllmu::train::SampleSource::GenerationQa);
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SampleSet {
    /// The folder or role it came from (`ft_Data`, `forget_5`, ...).
    pub name: String,
    /// How the samples were built.
    pub source: SampleSource,
    /// The samples; `image` indexes [`SampleSet::images`].
    pub samples: Vec<TrainSample>,
    /// The portraits.
    pub images: Vec<Portrait>,
}

impl SampleSet {
    /// One sample per (row, QA pair), each with its row's portrait.
    pub fn from_ft_rows(name: impl Into<String>, rows: &[FtRow]) -> SampleSet {
        let mut samples = Vec::new();
        let mut images = Vec::with_capacity(rows.len());
        for row in rows {
            let image = images.len();
            images.push(row.image.clone());
            samples.extend(row.pairs.iter().map(|p| TrainSample {
                image: Some(image),
                question: p.question.clone(),
                answer: p.answer.clone(),
            }));
        }
        SampleSet {
            name: name.into(),
            source: SampleSource::FtRows,
            samples,
            images,
        }
    }

    /// One sample per generation question (ground truth as the answer) of each profile,
    /// with the profile's portrait (`image`, else the first of `images`; none: text only).
    pub fn from_profiles(name: impl Into<String>, profiles: &[Profile]) -> SampleSet {
        let mut samples = Vec::new();
        let mut images = Vec::new();
        for p in profiles {
            let image = p.portrait().map(|portrait| {
                images.push(portrait.clone());
                images.len() - 1
            });
            samples.extend(
                p.generation
                    .iter()
                    .filter(|q| !q.question.is_empty() && !q.ground_truth.is_empty())
                    .map(|q| TrainSample {
                        image,
                        question: q.question.clone(),
                        answer: q.ground_truth.clone(),
                    }),
            );
        }
        SampleSet {
            name: name.into(),
            source: SampleSource::GenerationQa,
            samples,
            images,
        }
    }

    /// Profiles as samples, preferring their `ft_Data` rows when `ft_Data` covers them all.
    fn profiles_or_ft(name: &str, profiles: &[Profile], ft: &[FtRow]) -> SampleSet {
        if !profiles.is_empty() && ft.len() == profiles.len() {
            return SampleSet::from_ft_rows(name, ft);
        }
        SampleSet::from_profiles(name, profiles)
    }

    /// The samples of one folder of `bench`: `"ft"` or `"ft_Data"`, any training-format
    /// folder, or any evaluation-format folder (see the module docs).
    pub fn from_bench(bench: &Bench, set: &str) -> Result<SampleSet> {
        let name = if set == "ft" { "ft_Data" } else { set };
        let out = if let Ok(train) = bench.train_set(name) {
            SampleSet::from_ft_rows(name, &train.rows)
        } else {
            let eval = bench.set(name)?;
            let ft = (bench.ft_data().map(|ft| ft.rows_for(&eval.ids()))).unwrap_or_default();
            SampleSet::profiles_or_ft(name, &eval.profiles, &ft)
        };
        out.non_empty()
    }

    /// The forget samples of a split (`ft_Data` rows of the forget profiles, else their
    /// generation questions).
    pub fn forget(split: &Split) -> Result<SampleSet> {
        let name = format!("forget_{}", split.ratio());
        SampleSet::profiles_or_ft(&name, split.forget(), split.ft_forget()).non_empty()
    }

    /// The retain samples of a split (`retain_{100-r}`).
    pub fn retain(split: &Split) -> Result<SampleSet> {
        let name = format!("retain_{}", 100 - u32::from(split.ratio()));
        SampleSet::profiles_or_ft(&name, split.retain(), split.ft_retain()).non_empty()
    }

    fn non_empty(self) -> Result<SampleSet> {
        if self.samples.is_empty() {
            return Err(Error::param(
                "training set",
                &self.name,
                "holds no usable (question, answer) pair\nhint: check the folder's metadata or Generation_Task columns",
            ));
        }
        Ok(self)
    }

    /// The same questions and portraits with a refusal answer each, drawn by
    /// [`IdkAnswers`] from `seed` and the sample's index (row i answers sample i).
    pub fn with_idk_answers(&self, seed: u64) -> SampleSet {
        let idk = IdkAnswers { seed };
        SampleSet {
            name: format!("{}_idk", self.name),
            source: SampleSource::Refusals,
            samples: self
                .samples
                .iter()
                .enumerate()
                .map(|(i, s)| TrainSample {
                    answer: idk.pick(i as u64).to_string(),
                    ..s.clone()
                })
                .collect(),
            images: self.images.clone(),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// A summary for logs and resume checks: name, source, sample and portrait counts, and
    /// a digest of the samples' texts.
    pub fn describe(&self) -> SetSummary {
        let mut text = String::new();
        for s in &self.samples {
            let image = s.image.map_or("-".to_string(), |i| i.to_string());
            text.push_str(&format!("{image}\0{}\0{}\n", s.question, s.answer));
        }
        SetSummary {
            name: self.name.clone(),
            source: self.source,
            samples: self.samples.len(),
            images: self.images.len(),
            text_sha256: crate::io::sha256_hex(text.as_bytes()),
        }
    }
}

/// What a run trained on (recorded in `train_log.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSummary {
    /// Set name.
    pub name: String,
    /// How the samples were built.
    pub source: SampleSource,
    /// Samples.
    pub samples: usize,
    /// Portraits.
    pub images: usize,
    /// SHA-256 of every sample's image index, question and answer, in order (portrait bytes
    /// are not read): a checkpoint is not resumed on data whose text changed.
    #[serde(default)]
    pub text_sha256: String,
}

/// Preprocessed portraits, `[1, 3, H, W]` on the model's device, keyed by (set, image).
/// Holds at most `capacity` images; beyond that they are preprocessed on every use.
#[derive(Debug)]
pub(crate) struct PixelCache {
    cache: HashMap<(u8, usize), Tensor>,
    capacity: usize,
}

impl PixelCache {
    pub(crate) fn new(capacity: usize) -> Self {
        PixelCache {
            cache: HashMap::new(),
            capacity,
        }
    }

    /// `[n, 3, H, W]` for the rows' images in order (`None` when no row has one).
    pub(crate) fn pixel_values(
        &mut self,
        key: u8,
        set: &SampleSet,
        rows: &[Option<usize>],
        processor: &ImageProcessor,
        device: &Device,
    ) -> Result<Option<Tensor>> {
        let mut parts = Vec::new();
        for image in rows.iter().flatten() {
            if let Some(t) = self.cache.get(&(key, *image)) {
                parts.push(t.clone());
                continue;
            }
            let portrait = set.images.get(*image).ok_or_else(|| {
                Error::param(
                    "sample image",
                    image,
                    format!("{} has {} portraits", set.name, set.images.len()),
                )
            })?;
            let rgb = portrait.decode()?;
            let t = processor.preprocess_batch(std::slice::from_ref(&rgb), device)?;
            if self.cache.len() < self.capacity {
                self.cache.insert((key, *image), t.clone());
            }
            parts.push(t);
        }
        Ok((!parts.is_empty())
            .then(|| Tensor::cat(&parts, 0))
            .transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{OpenQuestion, ProfileId, QaPair};

    fn portrait() -> Portrait {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        Portrait::from_bytes(png, None)
    }

    fn row(id: &str, n: usize) -> FtRow {
        FtRow {
            id: Some(ProfileId(id.into())),
            image: portrait(),
            pairs: (0..n)
                .map(|i| QaPair {
                    question: format!("{id} q{i}"),
                    answer: format!("{id} a{i}"),
                })
                .collect(),
            skipped_pairs: 0,
        }
    }

    #[test]
    fn ft_rows_give_one_sample_per_pair_with_the_row_image() {
        let s = SampleSet::from_ft_rows("ft_Data", &[row("1", 2), row("2", 3)]);
        assert_eq!(s.len(), 5);
        assert_eq!(s.images.len(), 2);
        let images: Vec<Option<usize>> = s.samples.iter().map(|x| x.image).collect();
        assert_eq!(images, vec![Some(0), Some(0), Some(1), Some(1), Some(1)]);
        assert_eq!(s.samples[3].question, "2 q1");
        assert_eq!(s.samples[3].answer, "2 a1");
    }

    #[test]
    fn profiles_use_generation_questions_and_skip_empty_ones() {
        let p = Profile {
            id: ProfileId("c1".into()),
            image: Some(portrait()),
            images: vec![],
            directory: None,
            biography: None,
            question: None,
            answer: None,
            classification: Default::default(),
            generation: vec![
                OpenQuestion::new("Who?", "Ann.", "Image_Textual"),
                OpenQuestion::new("Where?", "", "Pure_Text"),
                OpenQuestion::new("When?", "1990.", "Pure_Text"),
            ],
            cloze: vec![],
        };
        let text_only = Profile {
            image: None,
            id: ProfileId("c2".into()),
            ..p.clone()
        };
        let s = SampleSet::from_profiles("Retain_Set", &[p, text_only]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.images.len(), 1);
        assert_eq!(s.samples[1].answer, "1990.");
        assert_eq!(s.samples[0].image, Some(0));
        assert_eq!(s.samples[2].image, None);
        assert_eq!(s.source, SampleSource::GenerationQa);
    }

    #[test]
    fn refusals_keep_questions_and_images_and_are_seeded() {
        let s = SampleSet::from_ft_rows("forget_5", &[row("1", 6)]);
        let a = s.with_idk_answers(3);
        let b = s.with_idk_answers(3);
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.name, "forget_5_idk");
        for (x, y) in a.samples.iter().zip(&s.samples) {
            assert_eq!((x.image, &x.question), (y.image, &y.question));
            assert!(crate::train::objectives::IDK_TEMPLATES.contains(&x.answer.as_str()));
        }
        let err = SampleSet::from_ft_rows("empty", &[row("1", 0)])
            .non_empty()
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty") && err.contains("no usable"), "{err}");
    }
}
