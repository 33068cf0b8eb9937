//! Figures drawn from real values: the trade-off from evaluation reports of the tiny model,
//! and loss curves.

use mllmu::bench::Bench;
use mllmu::eval::items::{EvalMode, Task};
use mllmu::eval::Evaluate;
use mllmu::model::Model;
use mllmu::plot::{loss_curves, tradeoff, Score};
use mllmu::train::{LossHistory, LossRecord};

/// The text content of every `<text>` element of an SVG.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            t.split('>')
                .nth(1)
                .unwrap_or("")
                .split('<')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .collect()
}

fn report(out: &std::path::Path) -> mllmu::eval::Report {
    let model = Model::load("tests/fixtures/tiny-llava", &candle_core::Device::Cpu).unwrap();
    let bench = Bench::open("tests/fixtures/mllmu-sample").unwrap();
    let split = bench.split(15).unwrap();
    Evaluate::paper()
        .with_sets(&[EvalMode::Forget, EvalMode::RetainShared])
        .with_max_profiles(3)
        .with_progress(false)
        .run(&model, &bench, &split, out)
        .unwrap()
}

/// The question-weighted mean of one score over both modalities, from the per-question rows.
fn expected(r: &mllmu::eval::Report, set: EvalMode, task: Task) -> f64 {
    let rows: Vec<_> = r
        .questions
        .iter()
        .filter(|q| q.set == set && q.task == task)
        .collect();
    assert!(!rows.is_empty());
    let sum: f64 = rows
        .iter()
        .map(|q| match task {
            Task::Generation => q.text_scores.as_ref().unwrap().rouge_l,
            _ => 100.0 * f64::from(u8::from(q.correct.unwrap())),
        })
        .sum();
    sum / rows.len() as f64
}

#[test]
fn tradeoff_points_are_the_reports_scores() {
    let dir = tempfile::tempdir().unwrap();
    let r = report(dir.path());
    for (score, task) in [
        (Score::RougeL, Task::Generation),
        (Score::ClassificationAccuracy, Task::Classification),
    ] {
        for set in [EvalMode::Forget, EvalMode::RetainShared] {
            let got = score.of(&r, set).unwrap();
            let want = expected(&r, set, task);
            assert!(
                (got - want).abs() < 1e-9,
                "{score:?} {set:?}: {got} vs {want}"
            );
        }
    }
    let fig = tradeoff(&[("vanilla", &r), ("copy", &r)], Score::RougeL).unwrap();
    let svg = fig.to_svg();
    let texts = svg_texts(svg);
    for label in [
        "vanilla",
        "copy",
        "forget set generation ROUGE-L (lower = forgotten)",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "missing {label:?} in {texts:?}"
        );
    }
    assert_eq!(svg.matches("<circle").count(), 2);
    assert!(fig.png_bytes().starts_with(b"\x89PNG"));
    // The celebrity set was not evaluated: a clear error naming the report.
    let err =
        mllmu::plot::tradeoff_against(&[("vanilla", &r)], Score::RougeL, EvalMode::RetainCelebrity)
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("vanilla") && err.contains("retain_celebrity"),
        "{err}"
    );
}

#[test]
fn loss_curves_skip_non_finite_points_and_name_empty_runs() {
    let mut h = LossHistory::default();
    for (step, loss) in [(1, 3.0), (2, 2.0), (3, f64::NAN)] {
        h.push(LossRecord {
            step,
            epoch: 0,
            loss,
            lr: 1e-3,
            samples_per_sec: 2.0,
            grad_norm: None,
        });
    }
    let fig = loss_curves(&[("ga", &h)]).unwrap();
    assert!(svg_texts(fig.to_svg()).iter().any(|t| t == "ga"));
    let mut bad = LossHistory::default();
    bad.push(LossRecord {
        step: 1,
        epoch: 0,
        loss: f64::INFINITY,
        lr: 1e-3,
        samples_per_sec: 2.0,
        grad_norm: None,
    });
    let err = loss_curves(&[("diverged", &bad)]).unwrap_err().to_string();
    assert!(
        err.contains("diverged") && err.contains("no finite loss"),
        "{err}"
    );
}
