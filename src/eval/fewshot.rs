//! Few-shot selection (SPEC.md §2.3) as a seeded, recorded procedure.
//!
//! The reference draws `k` **profile IDs** with `random.sample` (unseeded) from the evaluated
//! ID list, anew in every classification and cloze call; **all** questions of those profiles
//! in Full_Set become shots (in Full_Set row order, then question order), and evaluation
//! skips questions of a sampled profile by their index. `k` depends on task and model
//! family ([`ModelFamily::reference_k`]). For `retain_celebrity`, classification shows no
//! shots, and cloze samples celebrity IDs but looks them up in Full_Set, which normally finds
//! none (zero-shot, nothing skipped).
//!
//! Here each draw comes from a ChaCha8 generator seeded by `(seed, mode, task)`, so a draw
//! does not depend on the order of calls, and [`FewShotDraw`] records the sampled IDs and
//! every shot's question index for the run manifest. Named options correct the known flaws
//! (SPEC Q1–Q5): [`ShotPool::Disjoint`] draws shots from profiles outside the evaluated set,
//! [`FewShotOptions::k`] overrides the count, [`ShotPool::ZeroShot`] disables few-shot.

use crate::bench::{Mcq, Modality, OpenQuestion, Profile};
use crate::eval::items::{EvalMode, Task};
use crate::{Error, Result};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// The model families the reference evaluates, which decide the number of few-shot IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelFamily {
    /// LLaVA-1.5 (`model_type: "llava"`).
    #[serde(rename = "llava")]
    Llava,
    /// Idefics2 (`model_type: "idefics2"`).
    #[serde(rename = "idefics2")]
    Idefics2,
}

impl ModelFamily {
    /// The family of a config.json `model_type` value.
    ///
    /// ```
    /// use mllmu::eval::fewshot::ModelFamily;
    /// assert_eq!(ModelFamily::from_model_type("llava"), Some(ModelFamily::Llava));
    /// assert_eq!(ModelFamily::from_model_type("llama"), None);
    /// ```
    pub fn from_model_type(model_type: &str) -> Option<ModelFamily> {
        match model_type {
            "llava" => Some(ModelFamily::Llava),
            "idefics2" => Some(ModelFamily::Idefics2),
            _ => None,
        }
    }

    /// Reads `model_type` from a checkpoint's `config.json` (give the file or its folder).
    ///
    /// The reference keys this on the hub name (`llava...` / `HuggingFaceM4...`) and fails
    /// with `NameError` for a local path (SPEC Q13); the config works for both.
    pub fn from_config(path: &Path) -> Result<ModelFamily> {
        let file = if path.is_dir() {
            path.join("config.json")
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(Error::MissingFile {
                path: file,
                hint: "give a checkpoint folder holding config.json (Hugging Face layout)".into(),
            });
        }
        let config: serde_json::Value = crate::io::read_json(&file)?;
        let bad = |reason: String| Error::Config {
            file: file.display().to_string(),
            field: "model_type".into(),
            reason,
        };
        let model_type = config.get("model_type").and_then(|v| v.as_str());
        let model_type = model_type.ok_or_else(|| bad("missing or not a string".into()))?;
        ModelFamily::from_model_type(model_type).ok_or_else(|| bad(format!("`{model_type}` is not supported\nhint: the benchmark evaluates `llava` or `idefics2` checkpoints")))
    }

    /// Number of few-shot profile IDs the reference draws (`eval.py` at `0e3098e`):
    /// LLaVA 1 for classification, 2 for cloze; Idefics2 1 and 1; generation is zero-shot.
    ///
    /// ```
    /// use mllmu::eval::{fewshot::ModelFamily, items::Task};
    /// assert_eq!(ModelFamily::Llava.reference_k(Task::Cloze), 2);
    /// assert_eq!(ModelFamily::Idefics2.reference_k(Task::Cloze), 1);
    /// ```
    pub fn reference_k(self, task: Task) -> usize {
        match (self, task) {
            (_, Task::Generation) => 0,
            (ModelFamily::Llava, Task::Cloze) => 2,
            _ => 1,
        }
    }
}

/// Where few-shot profiles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ShotPool {
    /// The reference: IDs sampled from the evaluated ID list (so forget/test prompts show one
    /// forget profile's facts, SPEC Q3), with the celebrity rules of SPEC Q4.
    #[default]
    Evaluated,
    /// Corrected: profiles of the few-shot source (Full_Set) that are **not** evaluated, for
    /// every mode and task alike (celebrity sets included); nothing is skipped.
    Disjoint,
    /// No few-shot examples at all.
    ZeroShot,
}

/// Options of the few-shot procedure (default: the reference pool and counts, seed 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FewShotOptions {
    /// Where shots come from.
    pub pool: ShotPool,
    /// Number of profile IDs to draw; `None` keeps [`ModelFamily::reference_k`].
    pub k: Option<usize>,
    /// Base seed; each `(mode, task)` derives its own stream from it.
    pub seed: u64,
}

impl FewShotOptions {
    /// The reference rules with a seed.
    pub fn reference(seed: u64) -> Self {
        FewShotOptions {
            seed,
            ..Default::default()
        }
    }
}

/// One shot: a question of a few-shot profile, by index (classification: index in that
/// modality's list; cloze: index in the whole `Mask_Task` list).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShotRef {
    /// Profile ID in the few-shot source.
    pub profile: String,
    /// Modality of the question.
    pub modality: Modality,
    /// Question index.
    pub index: usize,
}

/// The recorded outcome of one few-shot draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FewShotDraw {
    /// Evaluation set.
    pub mode: EvalMode,
    /// Task.
    pub task: Task,
    /// Pool the IDs were drawn from.
    pub pool: ShotPool,
    /// IDs asked for.
    pub requested_k: usize,
    /// IDs drawn: `requested_k` capped by the pool size (the reference would raise instead).
    pub k: usize,
    /// The drawn profile IDs, in draw order.
    pub sampled_ids: Vec<String>,
    /// Drawn IDs absent from the few-shot source (celebrity IDs looked up in Full_Set).
    pub missing_ids: Vec<String>,
    /// Every shot, in few-shot-source row order then question order.
    pub shots: Vec<ShotRef>,
    /// Whether the shots appear in prompts (false for the reference's celebrity
    /// classification, which still skips by index).
    pub in_prompt: bool,
    /// Whether evaluation skips the shots' questions of the sampled profiles.
    pub skips: bool,
}

impl FewShotDraw {
    /// The shots of one modality that go into prompts.
    pub fn prompt_shots(&self, modality: Modality) -> Vec<&ShotRef> {
        let shown = |s: &&ShotRef| self.in_prompt && s.modality == modality;
        self.shots.iter().filter(shown).collect()
    }

    /// Whether evaluation skips question `index` of `modality` for `profile`.
    ///
    /// ```
    /// use mllmu::eval::fewshot::{select, FewShotOptions, ModelFamily};
    /// use mllmu::bench::{Mcq, Modality, Profile};
    /// use mllmu::eval::items::{EvalMode, Task};
    /// let q = Mcq {
    ///     question: "Job?".into(),
    ///     options: ["a", "b", "c", "d"].map(String::from),
    ///     correct: 'A',
    /// };
    /// let full: Vec<Profile> = ["001", "002"]
    ///     .map(|id| {
    ///         let mut p = Profile { id: id.into(), ..Default::default() };
    ///         p.classification.pure_text.push(q.clone());
    ///         p
    ///     })
    ///     .to_vec();
    /// let ids = vec!["001".to_string()]; // the evaluated (forget) profiles
    /// let opts = FewShotOptions::reference(7);
    /// let d = select(EvalMode::Forget, Task::Classification, ModelFamily::Llava, &ids, &full, &opts).unwrap();
    /// assert_eq!(d.sampled_ids, vec!["001"]);
    /// assert!(d.is_skipped("001", Modality::PureText, 0));
    /// assert!(!d.is_skipped("002", Modality::PureText, 0));
    /// ```
    pub fn is_skipped(&self, profile: &str, modality: Modality, index: usize) -> bool {
        self.skips
            && self
                .shots
                .iter()
                .any(|s| s.profile == profile && s.modality == modality && s.index == index)
    }

    /// The classification questions shown for `modality`, looked up in the few-shot source.
    pub fn choice_shots<'a>(&self, modality: Modality, source: &'a [Profile]) -> Vec<&'a Mcq> {
        self.prompt_shots(modality)
            .into_iter()
            .filter_map(|s| {
                find(source, &s.profile).and_then(|p| p.classification.get(modality).get(s.index))
            })
            .collect()
    }

    /// The cloze questions shown for `modality`, looked up in the few-shot source.
    pub fn cloze_shots<'a>(
        &self,
        modality: Modality,
        source: &'a [Profile],
    ) -> Vec<&'a OpenQuestion> {
        self.prompt_shots(modality)
            .into_iter()
            .filter_map(|s| find(source, &s.profile).and_then(|p| p.cloze.get(s.index)))
            .collect()
    }
}

fn find<'a>(source: &'a [Profile], id: &str) -> Option<&'a Profile> {
    source.iter().find(|p| p.id.as_str() == id)
}

/// A generator seeded by the SHA-256 of some parts ([`crate::io::hash_parts`]): each
/// seeded draw of a run gets its own stream, independent of the order of calls.
pub(crate) fn seeded_rng(parts: &[&[u8]]) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    // `hash_parts` returns 64 hex digits; a decoding failure is impossible, zeros are a
    // harmless fallback.
    if let Ok(bytes) = hex::decode(crate::io::hash_parts(parts)) {
        key.copy_from_slice(&bytes[..32]);
    }
    ChaCha8Rng::from_seed(key)
}

/// The generator of one `(seed, mode, task)` stream.
fn stream(seed: u64, mode: EvalMode, task: Task) -> ChaCha8Rng {
    seeded_rng(&[
        b"mllmu-fewshot",
        &seed.to_le_bytes(),
        mode.as_str().as_bytes(),
        task.as_str().as_bytes(),
    ])
}

/// All shots of the sampled profiles, in source row order, for `task`.
fn collect_shots(task: Task, sampled: &[String], source: &[Profile]) -> Vec<ShotRef> {
    let profiles = source
        .iter()
        .filter(|p| sampled.iter().any(|id| id == p.id.as_str()));
    let shots_of = |p: &Profile| -> Vec<(Modality, usize)> {
        match task {
            Task::Classification => Modality::ALL
                .into_iter()
                .flat_map(|m| (0..p.classification.get(m).len()).map(move |i| (m, i)))
                .collect(),
            // Types other than the two are neither shown nor skipped.
            Task::Cloze => (p.cloze.iter().enumerate())
                .filter_map(|(i, q)| Some((q.cloze_modality()?, i)))
                .collect(),
            Task::Generation => Vec::new(),
        }
    };
    profiles
        .flat_map(|p| {
            shots_of(p).into_iter().map(|(modality, index)| ShotRef {
                profile: p.id.to_string(),
                modality,
                index,
            })
        })
        .collect()
}

/// Draws the few-shot profiles of one `(mode, task)` and lists their shots.
///
/// `eval_ids` is the ID list of the evaluated set (for `test`, the forget IDs); `source` is
/// the few-shot source (Full_Set) in row order.
pub fn select(
    mode: EvalMode,
    task: Task,
    family: ModelFamily,
    eval_ids: &[String],
    source: &[Profile],
    opts: &FewShotOptions,
) -> Result<FewShotDraw> {
    let requested_k = match (opts.pool, task) {
        (ShotPool::ZeroShot, _) | (_, Task::Generation) => 0,
        _ => opts.k.unwrap_or_else(|| family.reference_k(task)),
    };
    // Each candidate ID once, in first-occurrence order.
    let candidates: Vec<&String> = match opts.pool {
        ShotPool::Evaluated => eval_ids.iter().collect(),
        ShotPool::Disjoint => {
            let outside = source.iter().map(|p| &p.id.0);
            outside.filter(|id| !eval_ids.contains(id)).collect()
        }
        ShotPool::ZeroShot => Vec::new(),
    };
    let mut seen = HashSet::new();
    let pool: Vec<&String> = candidates
        .into_iter()
        .filter(|id| seen.insert(id.as_str()))
        .collect();
    let k = requested_k.min(pool.len());
    if requested_k > 0 && k == 0 && opts.pool == ShotPool::Disjoint {
        return Err(Error::param(
            "few-shot pool",
            "disjoint",
            format!("no profile of the few-shot source lies outside the {mode} set\nhint: use the reference pool or zero-shot"),
        ));
    }
    let mut rng = stream(opts.seed, mode, task);
    let sampled_ids: Vec<String> = rand::seq::index::sample(&mut rng, pool.len(), k)
        .into_iter()
        .map(|i| pool[i].clone())
        .collect();
    let shots = collect_shots(task, &sampled_ids, source);
    let missing_ids = sampled_ids
        .iter()
        .filter(|id| find(source, id).is_none())
        .cloned()
        .collect();
    let reference = opts.pool == ShotPool::Evaluated;
    Ok(FewShotDraw {
        mode,
        task,
        pool: opts.pool,
        requested_k,
        k,
        sampled_ids,
        missing_ids,
        shots,
        // The reference builds no classification block for the celebrity set.
        in_prompt: !(reference
            && mode == EvalMode::RetainCelebrity
            && task == Task::Classification),
        // Only the reference pool overlaps the evaluated profiles.
        skips: reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use EvalMode::*;
    use FewShotOptions as Opts;
    use Modality::*;
    use ModelFamily::*;
    use Task::*;

    fn choice(q: &str) -> Mcq {
        Mcq {
            question: q.into(),
            options: ["a", "b", "c", "d"].map(String::from),
            correct: 'A',
        }
    }

    fn open(t: &str, q: &str) -> OpenQuestion {
        OpenQuestion::new(q, "x", t)
    }

    fn profile(id: &str) -> Profile {
        let q = |s: &str| choice(&format!("{id} {s}"));
        let m = |t: &str, s: &str| open(t, &format!("{id} {s}"));
        Profile {
            id: id.into(),
            classification: crate::bench::Classification {
                image_textual: vec![q("i0"), q("i1")],
                pure_text: vec![q("t0"), q("t1"), q("t2")],
            },
            cloze: vec![
                m("Image_Textual", "m0"),
                m("Pure_Text", "m1"),
                m("Other", "m2"),
                m("Image_Textual", "m3"),
            ],
            ..Default::default()
        }
    }

    fn full() -> Vec<Profile> {
        (1..=10).map(|i| profile(&format!("{i:03}"))).collect()
    }

    /// [`select`] with [`full`] as the few-shot source.
    fn sel(
        mode: EvalMode,
        task: Task,
        family: ModelFamily,
        eval: &[String],
        opts: &FewShotOptions,
    ) -> FewShotDraw {
        select(mode, task, family, eval, &full(), opts).unwrap()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reference_classification_uses_all_questions_of_one_evaluated_profile() {
        let src = full();
        let eval = ids(&["003", "005", "007"]);
        let d = sel(Forget, Classification, Llava, &eval, &Opts::reference(1));
        assert_eq!(d.k, 1);
        let id = d.sampled_ids[0].clone();
        assert!(eval.contains(&id));
        assert_eq!(d.shots.len(), 5);
        assert_eq!(d.choice_shots(ImageTextual, &src).len(), 2);
        assert_eq!(
            d.choice_shots(PureText, &src)[2].question,
            format!("{id} t2")
        );
        for i in 0..3 {
            assert!(d.is_skipped(&id, PureText, i));
        }
        assert!(!d.is_skipped(&id, PureText, 3));
        let other = eval.iter().find(|x| **x != id).unwrap();
        assert!(!d.is_skipped(other, PureText, 0));
    }

    #[test]
    fn reference_cloze_draws_two_ids_for_llava_and_indexes_the_whole_mask_list() {
        let src = full();
        let eval = ids(&["002", "004", "006", "008"]);
        let d = sel(RetainShared, Cloze, Llava, &eval, &Opts::reference(3));
        assert_eq!(d.sampled_ids.len(), 2);
        // Shots follow source row order, not draw order.
        let mut sorted = d.sampled_ids.clone();
        sorted.sort();
        let first = &d.shots[0].profile;
        assert_eq!(first, &sorted[0]);
        let img: Vec<usize> = d
            .prompt_shots(ImageTextual)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(img, vec![0, 3, 0, 3]);
        assert!(d.is_skipped(first, ImageTextual, 3));
        assert!(!d.is_skipped(first, PureText, 2)); // "Other" type: never a shot
        assert_eq!(d.cloze_shots(PureText, &src).len(), 2);
        let d1 = sel(RetainShared, Cloze, Idefics2, &eval, &Opts::reference(3));
        assert_eq!(d1.k, 1);
    }

    #[test]
    fn draws_depend_on_seed_mode_and_task_not_on_call_order() {
        let src = full();
        let eval: Vec<String> = src.iter().map(|p| p.id.to_string()).collect();
        let draw =
            |mode, task, seed| sel(mode, task, Llava, &eval, &Opts::reference(seed)).sampled_ids;
        let a = draw(Forget, Cloze, 11);
        let _ = draw(Test, Classification, 11);
        assert_eq!(draw(Forget, Cloze, 11), a);
        // Over several seeds, different (mode, task) streams and seeds give different draws.
        let seeds: Vec<_> = (0..8).map(|s| draw(Forget, Cloze, s)).collect();
        assert!(seeds.iter().any(|x| *x != seeds[0]));
        let modes: Vec<_> = (0..8).map(|s| draw(Test, Cloze, s)).collect();
        assert_ne!(seeds, modes);
    }

    #[test]
    fn celebrity_rules() {
        let celebs = ids(&["celeb_01", "celeb_02", "celeb_03"]);
        let r0 = Opts::reference(0);
        let c = sel(RetainCelebrity, Cloze, Llava, &celebs, &r0);
        assert_eq!(c.sampled_ids.len(), 2);
        assert_eq!(c.missing_ids, c.sampled_ids);
        assert!(c.shots.is_empty() && c.in_prompt);
        let k = sel(RetainCelebrity, Classification, Llava, &celebs, &r0);
        assert!(!k.in_prompt);
        // Colliding IDs: looked up in Full_Set, skipped by index, but never shown.
        let colliding = ids(&["004"]);
        let k = sel(RetainCelebrity, Classification, Llava, &colliding, &r0);
        assert!(k.prompt_shots(ImageTextual).is_empty());
        assert!(k.is_skipped("004", ImageTextual, 0));
    }

    #[test]
    fn disjoint_pool_never_uses_evaluated_profiles_and_skips_nothing() {
        let src = full();
        let eval = ids(&["001", "002", "003", "004", "005", "006", "007", "008"]);
        let opts = FewShotOptions {
            pool: ShotPool::Disjoint,
            k: Some(2),
            seed: 5,
        };
        let d = sel(Forget, Classification, Llava, &eval, &opts);
        let mut got = d.sampled_ids.clone();
        got.sort();
        assert_eq!(got, ids(&["009", "010"]));
        assert!(!d.is_skipped("009", ImageTextual, 0));
        assert_eq!(d.choice_shots(ImageTextual, &src).len(), 4);
        let all: Vec<String> = src.iter().map(|p| p.id.to_string()).collect();
        let e = select(Forget, Cloze, Llava, &all, &src, &opts).unwrap_err();
        assert!(e.to_string().contains("outside the forget set"), "{e}");
    }

    #[test]
    fn zero_shot_and_k_override() {
        let eval = ids(&["001", "002", "003"]);
        let z = FewShotOptions {
            pool: ShotPool::ZeroShot,
            ..Default::default()
        };
        let d = sel(Forget, Cloze, Llava, &eval, &z);
        assert!(d.sampled_ids.is_empty() && d.shots.is_empty());
        let big = FewShotOptions {
            k: Some(5),
            ..Default::default()
        };
        let d = sel(Forget, Cloze, Llava, &eval, &big);
        assert_eq!((d.requested_k, d.k), (5, 3));
        let g = sel(Forget, Generation, Llava, &eval, &FewShotOptions::default());
        assert_eq!(g.k, 0);
    }

    #[test]
    fn draws_serialize_for_the_run_manifest() {
        let eval = ids(&["001", "002"]);
        let d = sel(Test, Cloze, Idefics2, &eval, &Opts::reference(9));
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["mode"], "test");
        assert_eq!(v["task"], "fill_in_the_blank");
        assert_eq!(v["sampled_ids"], serde_json::json!(d.sampled_ids));
        assert_eq!(v["shots"][0]["modality"], "Image_Textual");
        assert_eq!(v["shots"][1]["index"], 1);
        let back: FewShotDraw = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn family_from_config_json() {
        let dir = tempfile::tempdir().unwrap();
        let write = |json: &str| std::fs::write(dir.path().join("config.json"), json).unwrap();
        let err = |p: &Path| ModelFamily::from_config(p).unwrap_err().to_string();
        write(r#"{"model_type": "llava", "vocab_size": 32064}"#);
        assert_eq!(ModelFamily::from_config(dir.path()).unwrap(), Llava);
        write(r#"{"model_type": "mllama"}"#);
        let e = err(dir.path());
        assert!(e.contains("model_type") && e.contains("mllama"), "{e}");
        write(r#"{"vocab_size": 1}"#);
        assert!(err(dir.path()).contains("missing"));
        let e = err(&dir.path().join("nope"));
        assert!(e.contains("missing file"), "{e}");
    }

    #[test]
    fn tiny_llava_fixture_is_llava() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llava");
        assert_eq!(ModelFamily::from_config(&p).unwrap(), Llava);
    }
}
