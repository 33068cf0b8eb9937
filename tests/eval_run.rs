//! `mllmu eval` / `Evaluate::run` end to end on the tiny model and the sample benchmark:
//! the reference's files with exactly its keys and key order, question counts that follow
//! SPEC's skip rules (computed here from the fixture data and the recorded draws), resuming
//! a killed run from the generation cache, and seeded reproducibility.

use candle_core::{DType, Device};
use mllmu::bench::{Bench, Profile};
use mllmu::eval::fewshot::FewShotDraw;
use mllmu::eval::items::{EvalMode, Modality, Task};
use mllmu::eval::{Evaluate, Report};
use mllmu::model::Model;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn model() -> Model {
    Model::load_with(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap()
}

fn bench() -> Bench {
    Bench::open(fixture("mllmu-sample")).unwrap()
}

/// JSON with object keys in file order (serde_json's `Value` sorts them).
#[derive(Debug)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar(serde_json::Value),
}

impl Ordered {
    fn keys(&self) -> Vec<&str> {
        match self {
            Ordered::Object(kv) => kv.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn get(&self, key: &str) -> &Ordered {
        match self {
            Ordered::Object(kv) => {
                &kv.iter()
                    .find(|(k, _)| k == key)
                    .unwrap_or_else(|| panic!("no key {key}"))
                    .1
            }
            _ => panic!("not an object"),
        }
    }
    fn items(&self) -> &[Ordered] {
        match self {
            Ordered::Array(v) => v,
            _ => panic!("not an array"),
        }
    }
    fn scalar(&self) -> &serde_json::Value {
        match self {
            Ordered::Scalar(v) => v,
            _ => panic!("not a scalar"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut kv = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Ordered>()? {
                    kv.push((k, v));
                }
                Ok(Ordered::Object(kv))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = s.next_element::<Ordered>()? {
                    v.push(x);
                }
                Ok(Ordered::Array(v))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(b.into()))
            }
            fn visit_i64<E>(self, x: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(x.into()))
            }
            fn visit_u64<E>(self, x: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(x.into()))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(x.into()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(s.into()))
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(serde_json::Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

fn read_ordered(p: &Path) -> Ordered {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Expected `(classification, cloze, generation)` counts per modality of one set, from the
/// fixture rows and the draws the run recorded, following SPEC §2.3 directly: a question is
/// skipped when its profile was drawn and its index was shown (every question of a drawn
/// profile, looked up in Full_Set); unknown cloze types are skipped; generation never is.
fn expected_counts(
    rows: &[&Profile],
    full: &mllmu::bench::EvalSet,
    draws: &[&FewShotDraw],
    set: EvalMode,
) -> [[usize; 2]; 3] {
    let drawn = |task: Task| -> Vec<String> {
        let d = draws
            .iter()
            .find(|d| d.mode == set && d.task == task)
            .unwrap();
        d.sampled_ids.clone()
    };
    let (cls_ids, cloze_ids) = (drawn(Task::Classification), drawn(Task::Cloze));
    let mut out = [[0usize; 2]; 3];
    for row in rows {
        for (mi, m) in [
            mllmu::bench::Modality::ImageTextual,
            mllmu::bench::Modality::PureText,
        ]
        .into_iter()
        .enumerate()
        {
            let shown = if cls_ids.iter().any(|i| i == row.id.as_str()) {
                full.get(row.id.as_str())
                    .map_or(0, |p| p.classification.get(m).len())
            } else {
                0
            };
            out[0][mi] += row.classification.get(m).len().saturating_sub(shown);
            out[2][mi] += row.generation_of(m).count();
        }
        let fs_mask = cloze_ids
            .iter()
            .any(|i| i == row.id.as_str())
            .then(|| full.get(row.id.as_str()))
            .flatten();
        for (i, q) in row.cloze.iter().enumerate() {
            let Some(m) = q.cloze_modality() else {
                continue;
            };
            let mi = usize::from(m == mllmu::bench::Modality::PureText);
            let skipped =
                fs_mask.is_some_and(|p| p.cloze.get(i).and_then(|s| s.cloze_modality()) == Some(m));
            out[1][mi] += usize::from(!skipped);
        }
    }
    out
}

#[test]
fn cli_writes_the_reference_files_with_spec_counts() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["eval", "--model"])
        .arg(fixture("tiny-llava"))
        .arg("--bench")
        .arg(fixture("mllmu-sample"))
        .args([
            "--forget",
            "5",
            "--seed",
            "3",
            "--max-new-tokens",
            "6",
            "--json",
            "--no-progress",
            "--name",
            "tiny",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    // The final results file: four sections, three tasks, exact keys in order.
    let fin = read_ordered(&out.path().join("tiny_final_evaluation_results.json"));
    assert_eq!(
        fin.keys(),
        [
            "Forget Set Results",
            "Test Set Results",
            "Retain Set (shared dataset) Results",
            "Retain Set (real person) Results"
        ]
    );
    let gen_keys = [
        "Average ROUGE-1 (Image_Textual)",
        "Average ROUGE-2 (Image_Textual)",
        "Average ROUGE-L (Image_Textual)",
        "Average BLEU (Image_Textual)",
        "Average ROUGE-1 (Pure_Text)",
        "Average ROUGE-2 (Pure_Text)",
        "Average ROUGE-L (Pure_Text)",
        "Average BLEU (Pure_Text)",
    ];
    for (_, section) in match &fin {
        Ordered::Object(kv) => kv,
        _ => unreachable!(),
    } {
        assert_eq!(
            section.keys(),
            ["fill_in_the_blank", "classification", "generation"]
        );
        assert_eq!(
            section.get("fill_in_the_blank").keys(),
            ["image_textual_accuracy", "pure_text_accuracy"]
        );
        assert_eq!(
            section.get("classification").keys(),
            [
                "Image-Textual Question Accuracy",
                "Pure Text Question Accuracy"
            ]
        );
        assert_eq!(section.get("generation").keys(), gen_keys);
    }
    // forget_5 = {005}: every classification and cloze question is a few-shot question, so
    // none is asked and the reference writes the integer 0.
    let forget = fin.get("Forget Set Results");
    assert_eq!(
        forget
            .get("classification")
            .get("Image-Textual Question Accuracy")
            .scalar(),
        &serde_json::json!(0)
    );
    assert!(forget
        .get("classification")
        .get("Image-Textual Question Accuracy")
        .scalar()
        .is_u64());

    // Counts per set against SPEC's rules on the fixture data.
    let report = Report::load(out.path()).unwrap();
    let bench = bench();
    let split = bench.split(5).unwrap();
    let full = bench.full_set().unwrap();
    let draws: Vec<&FewShotDraw> = report.manifest.fewshot_draws.iter().collect();
    // LLaVA: classification 1 ID, cloze 2 IDs capped by the pool (forget_5 has one profile).
    for d in &draws {
        let want = if d.task == Task::Cloze { 2 } else { 1 };
        assert_eq!(d.requested_k, want);
    }
    let forget_draw = draws
        .iter()
        .find(|d| d.mode == EvalMode::Forget && d.task == Task::Cloze)
        .unwrap();
    assert_eq!(
        (forget_draw.k, forget_draw.sampled_ids.clone()),
        (1, vec!["005".to_string()])
    );
    let sets: [(EvalMode, &str, Vec<&Profile>); 4] = [
        (EvalMode::Forget, "forget", split.forget().iter().collect()),
        (EvalMode::Test, "test", split.test().iter().collect()),
        (
            EvalMode::RetainShared,
            "retain",
            split.retain().iter().collect(),
        ),
        (
            EvalMode::RetainCelebrity,
            "celebrity",
            split.celebrities().iter().collect(),
        ),
    ];
    for (mode, key, rows) in &sets {
        let want = expected_counts(rows, full, &draws, *mode);
        for (ti, task) in ["classification", "cloze", "generation"].iter().enumerate() {
            for (mi, m) in ["image_textual", "pure_text"].iter().enumerate() {
                let n = json["sets"][key][task][m]["n"].as_u64().unwrap() as usize;
                assert_eq!(n, want[ti][mi], "{key} {task} {m}");
            }
        }
        let dump = read_ordered(
            &out.path()
                .join(format!("{}_generation_results.json", mode.as_str())),
        );
        assert_eq!(dump.keys(), ["Generation_Questions"]);
        let items = dump.get("Generation_Questions").items();
        assert_eq!(items.len(), want[2][0] + want[2][1], "{key}");
        for it in items {
            assert_eq!(
                it.keys(),
                [
                    "image_id",
                    "question type",
                    "question",
                    "generated_answer",
                    "ground_truth"
                ]
            );
        }
    }
    // The hand count for this fixture (SPEC §2.3 worked through): forget and test keep only
    // generation; retain_95 loses one profile's classification and two profiles' cloze
    // questions; celebrities are looked up in Full_Set, find nothing, and lose nothing.
    assert_eq!(
        json["sets"]["forget"]["generation"]["image_textual"]["n"],
        2
    );
    assert_eq!(json["sets"]["test"]["cloze"]["pure_text"]["n"], 0);
    assert_eq!(
        json["sets"]["retain"]["classification"]["pure_text"]["n"],
        24
    );
    assert_eq!(json["sets"]["retain"]["cloze"]["image_textual"]["n"], 14);
    assert_eq!(
        json["sets"]["celebrity"]["classification"]["pure_text"]["n"],
        12
    );
    assert_eq!(json["sets"]["celebrity"]["cloze"]["pure_text"]["n"], 6);
    assert!(json["sets"]["retain"]["classification"]["image_textual"]["accuracy"].is_f64());
    assert!(json["sets"]["retain"]["generation"]["pure_text"]["rougeL"].is_f64());

    // Celebrity classification shows no few-shot block; retain cloze shows two profiles'.
    let celeb = report
        .questions
        .iter()
        .find(|q| q.set == EvalMode::RetainCelebrity && q.task == Task::Classification)
        .unwrap();
    assert!(celeb.prompt.starts_with("USER:") && celeb.prompt.matches("USER:").count() == 1);
    let cloze_img = report
        .questions
        .iter()
        .find(|q| {
            q.set == EvalMode::RetainShared
                && q.task == Task::Cloze
                && q.modality == Modality::ImageTextual
        })
        .unwrap();
    assert_eq!(cloze_img.images.len(), 2 * 2 + 1); // 2 profiles x 2 image cloze shots + query
    assert!(cloze_img.images[..4].iter().all(|i| i.set == "Full_Set"));
    assert_eq!(cloze_img.images[4].set, "retain_95");

    // Test rows show the Test_Set image drawn for that task.
    for q in report
        .questions
        .iter()
        .filter(|q| q.set == EvalMode::Test && q.modality == Modality::ImageTextual)
    {
        let d = report
            .manifest
            .test_images
            .iter()
            .find(|d| d.task == q.task && d.profile == q.profile)
            .unwrap();
        let img = q.images.last().unwrap();
        assert_eq!(
            (img.set.as_str(), img.column.as_str(), img.index),
            ("Test_Set", "images", d.index)
        );
        assert_eq!(d.of, split.test()[0].images.len());
    }
}

/// A report as JSON without what legitimately differs between runs: this run's counts and
/// timings, and options that do not change results.
fn comparable(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("run");
    let opts = v["manifest"]["options"].as_object_mut().unwrap();
    for k in [
        "max_new_generations",
        "cache_path",
        "batch_size",
        "progress",
    ] {
        opts.remove(k);
    }
    v
}

fn quick(seed: u64) -> Evaluate {
    Evaluate::paper()
        .with_seed(seed)
        .with_sets(&[EvalMode::Test, EvalMode::RetainShared])
        .with_max_profiles(3)
        .with_max_new_tokens(4)
        .with_progress(false)
}

#[test]
fn a_killed_run_resumes_with_only_the_missing_generations() {
    let (m, b) = (model(), bench());
    let split = b.split(5).unwrap();
    let whole = tempfile::tempdir().unwrap();
    let full = quick(1).run(&m, &b, &split, whole.path()).unwrap();
    let total = full.run.new_generations;
    assert_eq!(total, full.questions.len());
    assert_eq!(full.run.cached_generations, 0);

    // "Kill" after 7 generations (two batches of 4 would be 8: the limit is exact).
    let dir = tempfile::tempdir().unwrap();
    let err = quick(1)
        .with_max_new_generations(7)
        .run(&m, &b, &split, dir.path())
        .unwrap_err();
    assert!(err.to_string().contains("resume"), "{err}");
    let cache = dir.path().join("generation_cache.jsonl");
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 7);
    assert!(!dir.path().join("report.json").exists());
    let resumed = quick(1).run(&m, &b, &split, dir.path()).unwrap();
    assert_eq!(resumed.run.new_generations, total - 7);
    assert_eq!(resumed.run.cached_generations, 7);
    assert_eq!(comparable(&resumed), comparable(&full));

    // A crash mid-line: keep 5 whole lines and half of the sixth.
    let text = std::fs::read_to_string(&cache).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut torn = lines[..5].join("\n");
    torn.push('\n');
    torn.push_str(&lines[5][..lines[5].len() / 2]);
    std::fs::write(&cache, torn).unwrap();
    let again = quick(1).run(&m, &b, &split, dir.path()).unwrap();
    assert_eq!(again.run.new_generations, total - 5);
    assert_eq!(again.run.cache_lines_skipped, 1);
    assert_eq!(comparable(&again), comparable(&full));

    // Nothing changed: nothing generated, same files.
    let rerun = quick(1).run(&m, &b, &split, dir.path()).unwrap();
    assert_eq!(rerun.run.new_generations, 0);
    assert_eq!(comparable(&rerun), comparable(&full));
    assert!(rerun.questions.iter().any(|q| q.option_logprobs.is_some()));
    let fin = |d: &Path| std::fs::read(d.join("mllmu_final_evaluation_results.json")).unwrap();
    assert_eq!(fin(dir.path()), fin(whole.path()));
}

#[test]
fn one_seed_is_bit_identical_and_seeds_change_the_draws() {
    let (m, b) = (model(), bench());
    let split = b.split(5).unwrap();
    let run = |seed: u64, batch: usize| {
        let dir = tempfile::tempdir().unwrap();
        let r = quick(seed)
            .with_cache(false)
            .with_batch_size(batch)
            .run(&m, &b, &split, dir.path())
            .unwrap();
        let files: Vec<Vec<u8>> = [
            "mllmu_final_evaluation_results.json",
            "retain_shared_generation_results.json",
            "test_generation_results.json",
        ]
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
        (r, files)
    };
    let (a, fa) = run(2, 8);
    let (b2, fb) = run(2, 8);
    assert_eq!(a.run.cache_path, None);
    assert_eq!(
        serde_json::to_value(&a.questions).unwrap(),
        serde_json::to_value(&b2.questions).unwrap()
    );
    assert_eq!(comparable(&a), comparable(&b2));
    assert_eq!(fa, fb);

    // Batching and prefix reuse do not change a single output on this fixture.
    let (one, _) = run(2, 1);
    let outputs = |r: &Report| {
        r.questions
            .iter()
            .map(|q| q.raw_output.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(outputs(&one), outputs(&a));
    let dir = tempfile::tempdir().unwrap();
    let plain = quick(2)
        .with_cache(false)
        .with_reuse_prefix(false)
        .run(&m, &b, &split, dir.path())
        .unwrap();
    assert_eq!(outputs(&plain), outputs(&a));

    let (c, _) = run(5, 8);
    let ids = |r: &Report| {
        r.manifest
            .fewshot_draws
            .iter()
            .map(|d| d.sampled_ids.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(
        ids(&a),
        ids(&c),
        "seeds 2 and 5 drew the same few-shot profiles"
    );
    let imgs = |r: &Report| {
        r.manifest
            .test_images
            .iter()
            .map(|d| d.index)
            .collect::<Vec<_>>()
    };
    assert_eq!(imgs(&a).len(), 3);
    // The prompts follow the draws: a retain classification prompt shows the drawn profile.
    let shots_of = |r: &Report| {
        let d = r
            .manifest
            .fewshot_draws
            .iter()
            .find(|d| d.mode == EvalMode::RetainShared && d.task == Task::Classification)
            .unwrap();
        let id = d.sampled_ids[0].clone();
        let fs = b
            .full_set()
            .unwrap()
            .get(&id)
            .unwrap()
            .classification
            .pure_text[0]
            .question
            .clone();
        let q = r
            .questions
            .iter()
            .find(|q| {
                q.set == EvalMode::RetainShared
                    && q.task == Task::Classification
                    && q.modality == Modality::PureText
            })
            .unwrap();
        assert!(
            q.prompt.starts_with(&format!("USER:\nQuestion: {fs}\n")),
            "{}",
            q.prompt
        );
        id
    };
    shots_of(&a);
    shots_of(&c);
}

#[test]
fn the_corrected_preset_draws_shots_outside_every_evaluated_set() {
    let (m, b) = (model(), bench());
    let split = b.split(10).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = Evaluate::corrected()
        .with_max_profiles(1)
        .with_max_new_tokens(2)
        .with_progress(false)
        .run(&m, &b, &split, dir.path())
        .unwrap();
    assert!(r.skipped.is_empty());
    let forget: Vec<String> = split.forget_ids().iter().map(|i| i.to_string()).collect();
    let retain: Vec<String> = split.retain_ids().iter().map(|i| i.to_string()).collect();
    assert_eq!(r.manifest.fewshot_draws.len(), 8);
    for d in &r.manifest.fewshot_draws {
        assert!(d.in_prompt && !d.skips && d.missing_ids.is_empty(), "{d:?}");
        // Even with one profile evaluated, no profile of the whole set is a shot.
        let excluded = match d.mode {
            EvalMode::Forget | EvalMode::Test => &forget,
            EvalMode::RetainShared => &retain,
            EvalMode::RetainCelebrity => &vec![],
        };
        assert!(
            d.sampled_ids.iter().all(|id| !excluded.contains(id)),
            "{d:?}"
        );
    }
    // Test and celebrity classification are asked, with a few-shot block from Full_Set.
    for set in [EvalMode::Test, EvalMode::RetainCelebrity] {
        let q = r
            .questions
            .iter()
            .find(|q| {
                q.set == set
                    && q.task == Task::Classification
                    && q.modality == Modality::ImageTextual
            })
            .unwrap();
        assert!(
            q.prompt.starts_with("USER: <image>\nQuestion: "),
            "{}",
            q.prompt
        );
        assert!(q.images.len() > 1 && q.images[0].set == "Full_Set");
    }
    // New-token extraction: the answer is the stripped output.
    assert!(r.questions.iter().all(|q| q.task == Task::Classification
        || q.answer == mllmu::eval::pytext::py_strip(&q.raw_output)));
}

#[test]
fn a_sample_is_seeded_and_the_test_set_follows_the_forget_sample() {
    let (m, b) = (model(), bench());
    let split = b.split(10).unwrap();
    let profiles = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let r = Evaluate::paper()
            .with_seed(seed)
            .with_sets(&[EvalMode::Forget, EvalMode::Test, EvalMode::RetainShared])
            .with_sample(EvalMode::RetainShared, 2)
            .with_sample(EvalMode::Forget, 1)
            .with_shot_pool(mllmu::eval::fewshot::ShotPool::Disjoint)
            .with_max_new_tokens(1)
            .with_option_likelihood(false)
            .with_progress(false)
            .run(&m, &b, &split, dir.path())
            .unwrap();
        let of = |set: EvalMode| {
            let mut ids: Vec<String> = r
                .questions
                .iter()
                .filter(|q| q.set == set)
                .map(|q| q.profile.clone())
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        (
            of(EvalMode::Forget),
            of(EvalMode::Test),
            of(EvalMode::RetainShared),
        )
    };
    let (forget, test, retain) = profiles(3);
    assert_eq!(retain.len(), 2, "{retain:?}");
    assert_eq!(forget.len(), 1, "{forget:?}");
    assert_eq!(test, forget);
    assert!(split.retain().len() > 2);
    assert_eq!(profiles(3), (forget, test, retain.clone()));
    // Another seed draws other retain profiles for at least one of a few seeds.
    assert!((4..8).any(|s| profiles(s).2 != retain));
}

#[test]
fn answers_show_each_question_of_a_profile_with_its_truth() {
    let (m, b) = (model(), bench());
    let split = b.split(5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = quick(2).run(&m, &b, &split, dir.path()).unwrap();
    let q0 = r
        .questions
        .iter()
        .find(|q| q.task == mllmu::eval::items::Task::Classification)
        .unwrap();
    let mine = r
        .questions
        .iter()
        .filter(|q| q.set == q0.set && q.profile == q0.profile)
        .count();
    let t = r.answers(q0.set, &q0.profile);
    assert_eq!(t.rows.len(), mine);
    let row = t.rows.iter().find(|row| row[2] == q0.question).unwrap();
    let opts = q0.options.as_ref().unwrap();
    let i = "ABCD".find(q0.ground_truth.as_str()).unwrap();
    assert_eq!(row[3], format!("{}. {}", q0.ground_truth, opts[i]));
    assert_eq!(row[4], q0.answer);
    assert!(t.to_html().contains("<td>"));
    assert!(r.answers(q0.set, "no-such-profile").rows.is_empty());
}
