//! The questions of a run, decided before the model is touched: rows per set, few-shot draws,
//! test-image draws, skip rule, prompts and the images each prompt shows (SPEC §2.2–§3.4,
//! §3.9).
//!
//! Order follows the reference: sets in `main()` order, tasks in each set's order
//! ([`EvalMode::task_order`]), rows in file order, and within a row the classification
//! image questions before the pure-text ones, cloze and generation questions in list order.

use crate::bench::{Bench, Mcq, Modality, OpenQuestion, Portrait, Profile, Split};
use crate::eval::fewshot::{self, FewShotDraw, ModelFamily, ShotPool};
use crate::eval::items::{EvalMode, Task};
use crate::eval::options::Evaluate;
use crate::eval::prompts;
use crate::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::{Entry, HashMap};

/// Which image a prompt shows: the folder, profile, column and element it came from, and a
/// SHA-256 of its encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// Folder (`Full_Set` for few-shot images, `Test_Set`, `forget_5`, `Retain_Set`, ...).
    pub set: String,
    /// Profile ID.
    pub profile: String,
    /// `image`, or `images` (Test_Set).
    pub column: String,
    /// Element of the column (0 for `image`; the drawn one for `images`).
    pub index: usize,
    /// Hex SHA-256 of the encoded bytes.
    pub sha256: String,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}[{}]",
            self.set, self.profile, self.column, self.index
        )
    }
}

/// One seeded `random.choice(row["images"])` of the test set (drawn anew in every task, as
/// the reference does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestImageDraw {
    /// The task whose call drew it.
    pub task: Task,
    /// Profile ID.
    pub profile: String,
    /// The element drawn.
    pub index: usize,
    /// How many images the row has.
    pub of: usize,
}

/// Why a question was not asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its profile was drawn as a few-shot example and this question index was shown
    /// (the reference's skip rule, SPEC §2.3).
    FewShotProfile,
    /// A cloze question whose `Type` is neither `Image_Textual` nor `Pure_Text` (the
    /// reference ignores it).
    UnknownType {
        /// The `Type` value.
        value: String,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::FewShotProfile => f.write_str("few-shot profile"),
            SkipReason::UnknownType { value } => write!(f, "unknown Type {value:?}"),
        }
    }
}

/// A question that was not asked, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedQuestion {
    /// Evaluation set.
    pub set: EvalMode,
    /// Task.
    pub task: Task,
    /// Modality, when known.
    pub modality: Option<Modality>,
    /// Profile ID.
    pub profile: String,
    /// Question index (in its modality's list for classification, in `Mask_Task` for cloze).
    pub index: usize,
    /// Why.
    pub reason: SkipReason,
}

/// An image shown in a prompt: where it came from and its bytes.
pub(crate) type Shown = (ImageRef, Portrait);

/// What a question is scored against.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Choice(Mcq),
    Open(OpenQuestion),
}

/// One question to ask.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub set: EvalMode,
    pub task: Task,
    pub modality: Modality,
    pub profile: String,
    pub index: usize,
    pub prompt: String,
    pub images: Vec<(ImageRef, Portrait)>,
    pub target: Target,
    pub max_new_tokens: usize,
}

/// Everything decided before generation.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub questions: Vec<Planned>,
    pub skipped: Vec<SkippedQuestion>,
    pub draws: Vec<FewShotDraw>,
    pub test_images: Vec<TestImageDraw>,
}

/// The folder a set's rows come from.
pub(crate) fn folder_of(mode: EvalMode, ratio: u8) -> String {
    match mode {
        EvalMode::Forget => format!("forget_{ratio}"),
        EvalMode::Test => "Test_Set".into(),
        EvalMode::RetainShared => format!("retain_{}", 100 - u16::from(ratio)),
        EvalMode::RetainCelebrity => "Retain_Set".into(),
    }
}

/// The evaluated rows and the ID list few-shot draws from (for `test`: the forget IDs).
///
/// With `max_profiles`, the reference pool shrinks to the evaluated profiles (a smaller
/// benchmark), while a disjoint pool still excludes every profile of the whole set, so a
/// quick run never shows, say, an unevaluated forget profile as an example. A sample
/// ([`Evaluate::samples`]) keeps the profiles with the smallest seeded hashes, in set order.
fn rows_of<'a>(
    mode: EvalMode,
    split: &'a Split,
    opts: &Evaluate,
) -> (Vec<&'a Profile>, Vec<String>) {
    let (max_profiles, pool) = (opts.max_profiles, opts.shot_pool);
    let id_source = match mode {
        EvalMode::Forget | EvalMode::Test => split.forget(),
        EvalMode::RetainShared => split.retain(),
        EvalMode::RetainCelebrity => split.celebrities(),
    };
    let limit = max_profiles.unwrap_or(usize::MAX);
    let mut ids: Vec<String> = id_source
        .iter()
        .take(limit)
        .map(|p| p.id.as_str().to_string())
        .collect();
    let sampled = if mode == EvalMode::Test {
        EvalMode::Forget
    } else {
        mode
    };
    if let Some(&(_, n)) = opts.samples.iter().find(|(s, _)| *s == sampled) {
        let key = |id: &str| {
            fewshot::seeded_rng(&[b"mllmu-sample", &opts.seed.to_le_bytes(), id.as_bytes()])
                .gen::<u64>()
        };
        let mut keyed: Vec<(u64, usize)> =
            ids.iter().enumerate().map(|(i, id)| (key(id), i)).collect();
        keyed.sort_unstable();
        let mut keep: Vec<usize> = keyed.iter().take(n).map(|k| k.1).collect();
        keep.sort_unstable();
        ids = keep.into_iter().map(|i| ids[i].clone()).collect();
    }
    let table = match mode {
        EvalMode::Test => split.test(),
        _ => id_source,
    };
    let rows = table
        .iter()
        .filter(|p| ids.iter().any(|id| id == p.id.as_str()))
        .collect();
    let pool_ids = match pool {
        ShotPool::Disjoint => id_source
            .iter()
            .map(|p| p.id.as_str().to_string())
            .collect(),
        _ => ids,
    };
    (rows, pool_ids)
}

/// The seeded stream of one test-image draw: `(seed, task, profile)`.
fn test_image_index(seed: u64, task: Task, profile: &str, of: usize) -> usize {
    fewshot::seeded_rng(&[
        b"mllmu-test-image",
        &seed.to_le_bytes(),
        task.as_str().as_bytes(),
        profile.as_bytes(),
    ])
    .gen_range(0..of)
}

/// Memoised image hashes (a few-shot image appears in every prompt of a task).
#[derive(Default)]
struct Hashes(HashMap<(String, String, String, usize), String>);

impl Hashes {
    fn image(
        &mut self,
        set: &str,
        profile: &str,
        column: &str,
        index: usize,
        portrait: &Portrait,
    ) -> Result<(ImageRef, Portrait)> {
        let key = (set.into(), profile.into(), column.into(), index);
        let sha256 = match self.0.entry(key) {
            Entry::Occupied(e) => e.get().clone(),
            Entry::Vacant(e) => e.insert(crate::io::sha256_hex(&portrait.bytes()?)).clone(),
        };
        Ok((
            ImageRef {
                set: set.into(),
                profile: profile.into(),
                column: column.into(),
                index,
                sha256,
            },
            portrait.clone(),
        ))
    }
}

struct Builder<'a> {
    opts: &'a Evaluate,
    family: ModelFamily,
    ratio: u8,
    full: &'a crate::bench::EvalSet,
    hashes: Hashes,
    plan: Plan,
}

impl Builder<'_> {
    /// The few-shot images of one prompt block: each shown image shot's Full_Set portrait.
    fn shot_images(
        &mut self,
        draw: &FewShotDraw,
        modality: Modality,
    ) -> Result<Vec<(ImageRef, Portrait)>> {
        if modality != Modality::ImageTextual {
            return Ok(Vec::new());
        }
        let hashes = &mut self.hashes;
        let shots = draw.prompt_shots(modality).into_iter();
        shots
            .map(|shot| {
                let portrait = self.full.get(&shot.profile).and_then(Profile::portrait);
                let portrait = portrait.ok_or_else(|| Error::BadData {
                    file: "Full_Set".into(),
                    profile: shot.profile.clone(),
                    message: "few-shot profile has no image".into(),
                })?;
                hashes.image("Full_Set", &shot.profile, "image", 0, portrait)
            })
            .collect()
    }

    /// The query image of a row for one task (a fresh seeded draw per task in test mode).
    fn query_image(
        &mut self,
        mode: EvalMode,
        task: Task,
        row: &Profile,
    ) -> Result<Option<(ImageRef, Portrait)>> {
        let set = folder_of(mode, self.ratio);
        let id = row.id.as_str();
        if mode == EvalMode::Test {
            if row.images.is_empty() {
                return Ok(None);
            }
            let of = row.images.len();
            let index = test_image_index(self.opts.seed, task, id, of);
            self.plan.test_images.push(TestImageDraw {
                task,
                profile: id.into(),
                index,
                of,
            });
            let column = if row.image.is_none() || of > 1 {
                "images"
            } else {
                "image"
            };
            return self
                .hashes
                .image(&set, id, column, index, &row.images[index])
                .map(Some);
        }
        let portrait = row.portrait();
        (portrait.map(|p| self.hashes.image(&set, id, "image", 0, p))).transpose()
    }

    fn push(
        &mut self,
        (mode, task, modality): (EvalMode, Task, Modality),
        row: &Profile,
        index: usize,
        prompt: String,
        (shot_images, query): (&[Shown], &Option<Shown>),
        target: Target,
    ) -> Result<()> {
        let mut images = Vec::new();
        if modality == Modality::ImageTextual {
            images.extend_from_slice(shot_images);
            let q = query.clone().ok_or_else(|| Error::BadData {
                file: folder_of(mode, self.ratio),
                profile: row.id.to_string(),
                message: format!(
                    "{} question {index} needs an image but the row has none",
                    task.as_str()
                ),
            })?;
            images.push(q);
        }
        self.plan.questions.push(Planned {
            set: mode,
            task,
            modality,
            profile: row.id.as_str().into(),
            index,
            prompt,
            images,
            target,
            max_new_tokens: self.opts.new_tokens(self.family, task, modality),
        });
        Ok(())
    }

    fn skip(
        &mut self,
        (set, task): (EvalMode, Task),
        modality: Option<Modality>,
        row: &Profile,
        index: usize,
        reason: SkipReason,
    ) {
        self.plan.skipped.push(SkippedQuestion {
            set,
            task,
            modality,
            profile: row.id.as_str().into(),
            index,
            reason,
        });
    }

    fn task(
        &mut self,
        mode: EvalMode,
        task: Task,
        rows: &[&Profile],
        ids: &[String],
    ) -> Result<()> {
        let (source, shot_opts) = (&self.full.profiles, self.opts.fewshot_for(task));
        let select = || fewshot::select(mode, task, self.family, ids, source, &shot_opts);
        let draw = (task != Task::Generation).then(select).transpose()?;
        let shot_images = match &draw {
            Some(d) => self.shot_images(d, Modality::ImageTextual)?,
            None => Vec::new(),
        };
        let key = (mode, task);
        for row in rows {
            let query = self.query_image(mode, task, row)?;
            // Generation shows no shots: `shot_images` is empty then.
            let images = (&shot_images[..], &query);
            let skipped = |m: Modality, i: usize| {
                draw.as_ref()
                    .is_some_and(|d| d.is_skipped(row.id.as_str(), m, i))
            };
            match task {
                Task::Classification => {
                    let Some(d) = &draw else { continue };
                    for m in Modality::ALL {
                        let shots = d.choice_shots(m, &self.full.profiles);
                        for (i, q) in row.classification.get(m).iter().enumerate() {
                            if skipped(m, i) {
                                self.skip(key, Some(m), row, i, SkipReason::FewShotProfile);
                                continue;
                            }
                            let prompt = prompts::classification_prompt(m, &shots, q);
                            let target = Target::Choice(q.clone());
                            self.push((mode, task, m), row, i, prompt, images, target)?;
                        }
                    }
                }
                Task::Cloze => {
                    let Some(d) = &draw else { continue };
                    for (i, q) in row.cloze.iter().enumerate() {
                        let Some(m) = q.cloze_modality() else {
                            let value = q.kind.clone();
                            self.skip(key, None, row, i, SkipReason::UnknownType { value });
                            continue;
                        };
                        if skipped(m, i) {
                            self.skip(key, Some(m), row, i, SkipReason::FewShotProfile);
                            continue;
                        }
                        let shots = d.cloze_shots(m, &self.full.profiles);
                        let prompt = prompts::cloze_prompt(m, &shots, &q.question);
                        let target = Target::Open(q.clone());
                        self.push((mode, task, m), row, i, prompt, images, target)?;
                    }
                }
                Task::Generation => {
                    for (i, q) in row.generation.iter().enumerate() {
                        let m = q.generation_modality();
                        let prompt = prompts::generation_prompt(m, &q.question);
                        let target = Target::Open(q.clone());
                        self.push((mode, task, m), row, i, prompt, images, target)?;
                    }
                }
            }
        }
        if let Some(d) = draw {
            self.plan.draws.push(d);
        }
        Ok(())
    }
}

/// Plans every question of the selected sets.
pub(crate) fn plan(
    bench: &Bench,
    split: &Split,
    opts: &Evaluate,
    family: ModelFamily,
) -> Result<Plan> {
    let full = bench.full_set()?;
    let mut b = Builder {
        opts,
        family,
        ratio: split.ratio(),
        full,
        hashes: Hashes::default(),
        plan: Plan::default(),
    };
    for mode in EvalMode::ALL.into_iter().filter(|m| opts.sets.contains(m)) {
        let (rows, ids) = rows_of(mode, split, opts);
        for task in mode.task_order() {
            b.task(mode, task, &rows, &ids)?;
        }
    }
    Ok(b.plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_image_draws_are_seeded_per_task_and_profile() {
        let a = test_image_index(0, Task::Cloze, "005", 3);
        assert_eq!(a, test_image_index(0, Task::Cloze, "005", 3));
        assert!(a < 3);
        // Over many profiles, the three tasks and two seeds do not all agree.
        let draws = |seed, task| {
            (0..40)
                .map(|i| test_image_index(seed, task, &format!("{i:03}"), 3))
                .collect::<Vec<_>>()
        };
        assert_ne!(draws(0, Task::Cloze), draws(0, Task::Generation));
        assert_ne!(draws(0, Task::Cloze), draws(1, Task::Cloze));
        assert!(draws(0, Task::Classification).iter().all(|&i| i < 3));
    }

    #[test]
    fn folders_follow_the_ratio() {
        assert_eq!(folder_of(EvalMode::Forget, 10), "forget_10");
        assert_eq!(folder_of(EvalMode::RetainShared, 10), "retain_90");
        assert_eq!(folder_of(EvalMode::Test, 5), "Test_Set");
        assert_eq!(folder_of(EvalMode::RetainCelebrity, 5), "Retain_Set");
    }
}
