//! The `Report` of an evaluation: it round-trips through disk, becomes a DataFrame with one
//! row per question, displays itself, compares with another report on the same questions,
//! and its option log-likelihoods match an independent forward pass.

use candle_core::{DType, Device, Tensor, D};
use mllmu::bench::Bench;
use mllmu::eval::extract::Extraction;
use mllmu::eval::items::{EvalMode, Modality, Task};
use mllmu::eval::{compare, Evaluate, Report};
use mllmu::model::Model;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn setup() -> (Model, Bench) {
    let m = Model::load_with(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    (m, Bench::open(fixture("mllmu-sample")).unwrap())
}

fn quick() -> Evaluate {
    Evaluate::paper()
        .with_sets(&[EvalMode::RetainShared, EvalMode::RetainCelebrity])
        .with_max_profiles(3)
        .with_max_new_tokens(5)
        .with_progress(false)
}

#[test]
fn report_round_trips_and_becomes_a_dataframe() {
    let (m, b) = setup();
    let split = b.split(10).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = quick().run(&m, &b, &split, dir.path()).unwrap();
    assert!(!r.questions.is_empty());

    let back = Report::load(dir.path()).unwrap();
    assert_eq!(back, r);
    assert_eq!(Report::load(dir.path().join("report.json")).unwrap(), r);
    let e = Report::load(dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("report.json"), "{e}");

    let df = r.to_dataframe().unwrap();
    assert_eq!(df.height(), r.questions.len());
    for col in [
        "set",
        "task",
        "modality",
        "profile",
        "index",
        "prompt",
        "images",
        "raw_output",
        "answer",
        "correct",
        "score",
        "rougeL",
    ] {
        assert!(df.column(col).is_ok(), "missing column {col}");
    }
    let i = r
        .questions
        .iter()
        .position(|q| q.task == Task::Generation)
        .unwrap();
    let q = &r.questions[i];
    let rl = df.column("rougeL").unwrap().f64().unwrap().get(i);
    assert_eq!(rl, q.text_scores.map(|t| t.rouge_l));
    let profile = df
        .column("profile")
        .unwrap()
        .str()
        .unwrap()
        .get(i)
        .map(str::to_string);
    assert_eq!(profile.as_deref(), Some(q.profile.as_str()));
    assert_eq!(df.column("correct").unwrap().bool().unwrap().get(i), None);

    // Summaries agree with the questions and with the reference numbers.
    let cell = r
        .cell(
            EvalMode::RetainShared,
            Task::Classification,
            Modality::PureText,
        )
        .unwrap();
    let qs: Vec<_> = r
        .questions
        .iter()
        .filter(|q| {
            q.set == EvalMode::RetainShared
                && q.task == Task::Classification
                && q.modality == Modality::PureText
        })
        .collect();
    assert_eq!(cell.n, qs.len());
    let hits = qs.iter().filter(|q| q.correct == Some(true)).count();
    assert_eq!(cell.accuracy, Some(hits as f64 / qs.len() as f64 * 100.0));
    assert_eq!(
        r.final_results
            .retain_shared
            .classification
            .pure_text
            .value(),
        cell.accuracy.unwrap()
    );
    assert_eq!(
        cell.format_failures,
        Some(qs.iter().filter(|q| q.predicted.is_none()).count())
    );
    // retain_90 with 3 profiles: one drawn for classification, so 2 x 3 questions remain.
    assert_eq!((cell.n, cell.skipped), (6, 3));
    let ci = cell.ci.unwrap();
    assert!(ci.low <= ci.mean && ci.mean <= ci.high && ci.profiles == 2);

    let text = r.to_string();
    assert!(
        text.contains("retain_celebrity") && text.contains("95% CI"),
        "{text}"
    );
    assert!(r.to_html().starts_with("<table"));
    assert!(format!("{r:?}").contains("Report"));
}

#[test]
fn questions_batch_by_set_task_and_modality_across_profiles() {
    // The plan interleaves each profile's tasks and modalities; batches gather a set's
    // questions of one task and modality from every profile, `batch_size` at a time.
    let (m, b) = setup();
    let split = b.split(10).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = quick()
        .with_batch_size(4)
        .run(&m, &b, &split, dir.path())
        .unwrap();
    assert_eq!(r.run.new_generations, r.questions.len());
    let mut groups: Vec<((EvalMode, Task, Modality), usize)> = Vec::new();
    let mut runs = 0;
    let mut last = None;
    for q in &r.questions {
        let k = (q.set, q.task, q.modality);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, n)) => *n += 1,
            None => groups.push((k, 1)),
        }
        if last != Some(k) {
            runs += 1;
            last = Some(k);
        }
    }
    let expected: usize = groups.iter().map(|(_, n)| n.div_ceil(4)).sum();
    assert_eq!(r.run.batches, expected, "{groups:?}");
    assert!(
        runs > expected,
        "the fixture's plan should interleave: {runs} runs"
    );

    // Batching does not change what a question gets: one question at a time agrees.
    let dir1 = tempfile::tempdir().unwrap();
    let one = quick()
        .with_batch_size(1)
        .run(&m, &b, &split, dir1.path())
        .unwrap();
    assert_eq!(one.run.batches, r.questions.len());
    for (a, b) in r.questions.iter().zip(&one.questions) {
        assert_eq!(a.raw_output, b.raw_output, "{} {}", a.profile, a.index);
    }
}

#[test]
fn option_loglikelihoods_match_an_independent_forward_pass() {
    let (m, b) = setup();
    let split = b.split(5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = quick()
        .with_sets(&[EvalMode::RetainShared])
        .with_max_profiles(2)
        .run(&m, &b, &split, dir.path())
        .unwrap();
    let ids = r.manifest.option_token_ids.unwrap();
    let q = r
        .questions
        .iter()
        .find(|q| q.task == Task::Classification && q.modality == Modality::ImageTextual)
        .unwrap();
    assert_eq!(q.images.len(), 3 + 1); // one drawn profile's 3 image questions + the query
    let lp = q.option_logprobs.unwrap();
    let best = (0..4).max_by(|&a, &b| lp[a].total_cmp(&lp[b])).unwrap();
    assert_eq!(q.likelihood_choice, Some(['A', 'B', 'C', 'D'][best]));

    // Recompute: tokenize the recorded prompt, preprocess the recorded images, one forward.
    let prompt_ids = m.tokenizer.encode(&q.prompt).unwrap();
    assert_eq!(prompt_ids.len(), q.prompt_tokens);
    let full = b.full_set().unwrap();
    let retain = b.set("retain_95").unwrap();
    let mut pixels = Vec::new();
    for img in &q.images {
        let set = if img.set == "Full_Set" { full } else { retain };
        let rgb = set
            .get(&img.profile)
            .unwrap()
            .portrait()
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(
            mllmu::io::sha256_hex(
                &set.get(&img.profile)
                    .unwrap()
                    .portrait()
                    .unwrap()
                    .bytes()
                    .unwrap()
            ),
            img.sha256
        );
        let (w, h) = m.processor.output_size(rgb.width(), rgb.height());
        pixels.push(
            Tensor::from_vec(
                m.processor.preprocess(&rgb).unwrap(),
                (1, 3, h as usize, w as usize),
                &Device::Cpu,
            )
            .unwrap(),
        );
    }
    let pv = Tensor::cat(&pixels, 0).unwrap();
    let input = Tensor::from_vec(prompt_ids.clone(), (1, prompt_ids.len()), &Device::Cpu).unwrap();
    let logits = m.llava.forward(&input, Some(&pv), None).unwrap();
    let last = logits
        .narrow(1, prompt_ids.len() - 1, 1)
        .unwrap()
        .flatten_all()
        .unwrap();
    let logp = candle_nn::ops::log_softmax(&last.to_dtype(DType::F64).unwrap(), D::Minus1)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for k in 0..4 {
        assert!(
            (logp[ids[k] as usize] - lp[k]).abs() < 1e-3,
            "option {k}: {} vs {}",
            logp[ids[k] as usize],
            lp[k]
        );
    }
    // The greedy first token is the argmax of the same distribution.
    let first = m
        .tokenizer
        .encode(&format!("{}{}", q.prompt, q.raw_output))
        .unwrap();
    let argmax = logp
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0 as u32;
    assert_eq!(
        first
            .get(prompt_ids.len())
            .copied()
            .filter(|_| !q.raw_output.is_empty())
            .unwrap_or(argmax),
        argmax
    );
}

#[test]
fn rescoring_with_new_token_extraction_reuses_the_cache_and_compares_paired() {
    let (m, b) = setup();
    let split = b.split(5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = quick().run(&m, &b, &split, dir.path()).unwrap();
    let n = a.questions.len();
    assert_eq!(a.run.new_generations, n);
    let other = tempfile::tempdir().unwrap();
    let fixed = quick()
        .with_extraction(Extraction::NewTokens)
        .with_cache_path(dir.path().join("generation_cache.jsonl"))
        .run(&m, &b, &split, other.path())
        .unwrap();
    // The cache is keyed by what is generated, not how it is read.
    assert_eq!(fixed.run.new_generations, 0);
    assert_eq!(fixed.questions.len(), n);
    for (x, y) in a.questions.iter().zip(&fixed.questions) {
        assert_eq!(x.raw_output, y.raw_output);
        assert_eq!(y.answer, mllmu::eval::pytext::py_strip(&y.raw_output));
    }

    let same = compare(&a, &a).unwrap();
    assert!(!same.rows.is_empty());
    assert!(same.rows.iter().all(|r| r.difference == 0.0 && r.a == r.b));
    let c = a.compare(&fixed).unwrap();
    let gen = c
        .rows
        .iter()
        .find(|r| {
            r.set == EvalMode::RetainShared
                && r.task == Task::Generation
                && r.modality == Modality::PureText
        })
        .unwrap();
    let mean = |r: &Report| {
        let v: Vec<f64> = r
            .questions
            .iter()
            .filter(|q| {
                q.set == EvalMode::RetainShared
                    && q.task == Task::Generation
                    && q.modality == Modality::PureText
            })
            .map(|q| q.score)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!((gen.difference - (mean(&fixed) - mean(&a))).abs() < 1e-12);
    assert!(gen.low <= gen.difference && gen.difference <= gen.high);
    assert!(c.to_string().contains("B - A"));

    // Different questions cannot be paired.
    let d2 = tempfile::tempdir().unwrap();
    let corrected = Evaluate::corrected()
        .with_sets(&[EvalMode::RetainShared])
        .with_max_profiles(3)
        .with_max_new_tokens(5)
        .with_progress(false)
        .run(&m, &b, &split, d2.path())
        .unwrap();
    assert!(corrected.skipped.is_empty());
    assert!(corrected
        .manifest
        .corrections
        .iter()
        .any(|c| c.starts_with("Q3")));
    assert!(compare(&a, &corrected).is_err());
}
