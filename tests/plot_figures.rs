//! Figures drawn from real values: the trade-off and the per-set bars from evaluation
//! reports of the tiny model (and methods derived from it by rescoring its questions), loss
//! curves and the judge's score histogram. Beyond "it renders", the SVGs are read back:
//! texts, whisker and bar geometry, the Pareto front's path, the tick labels.

use mllmu::bench::Bench;
use mllmu::eval::items::{EvalMode, Task};
use mllmu::eval::metrics::bootstrap::{bootstrap_ci, BootstrapOptions, ProfileScore};
use mllmu::eval::{Evaluate, Report};
use mllmu::model::Model;
use mllmu::plot::{loss_curves, method_bars, tradeoff, Score};
use mllmu::train::{LossHistory, LossRecord};
use std::collections::HashMap;

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

/// Writes a figure's PNG and SVG into `$MLLMU_FIGURE_DIR` when set, to look at.
fn keep(fig: &mllmu::plot::Figure, name: &str) {
    if let Some(dir) = std::env::var_os("MLLMU_FIGURE_DIR") {
        let dir = std::path::Path::new(&dir);
        fig.save_png(dir.join(format!("{name}.png"))).unwrap();
        fig.save_svg(dir.join(format!("{name}.svg"))).unwrap();
    }
}

/// One SVG element: its tag, attributes and text content.
#[derive(Debug)]
struct El {
    tag: String,
    attrs: HashMap<String, String>,
    text: String,
}

impl El {
    fn num(&self, key: &str) -> f64 {
        self.attrs[key].parse().unwrap()
    }

    fn points(&self) -> Vec<(f64, f64)> {
        self.attrs["points"]
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }
}

/// Every element of a plotters SVG, in drawing order.
fn elements(svg: &str) -> Vec<El> {
    svg.split('<')
        .skip(1)
        .filter(|t| !t.starts_with('/') && !t.starts_with('?'))
        .map(|t| {
            let (head, text) = t.split_once('>').unwrap_or((t, ""));
            let tag = head.split_whitespace().next().unwrap_or("").to_string();
            let mut attrs = HashMap::new();
            for part in head.split("\" ") {
                if let Some((k, v)) = part.split_once("=\"") {
                    let k = k.split_whitespace().last().unwrap_or("").to_string();
                    attrs.insert(k, v.trim_end_matches(['"', '/', ' ']).to_string());
                }
            }
            El {
                tag,
                attrs,
                text: text.trim().to_string(),
            }
        })
        .collect()
}

/// A rough deterministic "hash" of a question, spreading scores within a method.
fn jitter(q: &mllmu::eval::report::QuestionResult) -> f64 {
    let p: usize = q.profile.bytes().map(usize::from).sum();
    ((p * 7 + q.index * 3 + q.task as usize) % 5) as f64 * 0.1 - 0.2
}

/// A "method": the tiny model's report with every question rescored around a level per set
/// (quality in 0-1: ROUGE-L for generation, right when above 0.5 otherwise), and its
/// summary cells and intervals recomputed from the new scores as evaluation does.
fn method(base: &Report, forget: f64, retain: f64) -> Report {
    let mut r = base.clone();
    for q in &mut r.questions {
        let level = if q.set == EvalMode::Forget {
            forget
        } else {
            retain
        };
        let quality = (level + jitter(q)).clamp(0.0, 1.0);
        if q.task == Task::Generation {
            q.text_scores.as_mut().unwrap().rouge_l = quality;
            q.score = quality;
        } else {
            q.correct = Some(quality > 0.5);
            q.score = if quality > 0.5 { 100.0 } else { 0.0 };
        }
    }
    let opts = BootstrapOptions {
        seed: r.manifest.options.seed,
        ..r.manifest.options.bootstrap
    };
    for c in &mut r.summary {
        let qs: Vec<_> = r
            .questions
            .iter()
            .filter(|q| q.set == c.set && q.task == c.task && q.modality == c.modality)
            .collect();
        c.n = qs.len();
        if qs.is_empty() {
            c.ci = None;
            continue;
        }
        let mean = qs.iter().map(|q| q.score).sum::<f64>() / qs.len() as f64;
        if c.task == Task::Generation {
            c.rouge_l = Some(mean);
        } else {
            c.accuracy = Some(mean);
        }
        let items: Vec<_> = qs
            .iter()
            .map(|q| ProfileScore::new(q.profile.clone(), q.score))
            .collect();
        c.ci = Some(bootstrap_ci(&items, &opts).unwrap());
    }
    r
}

#[test]
fn tradeoff_draws_whiskers_from_the_bootstrap_and_the_pareto_front() {
    let dir = tempfile::tempdir().unwrap();
    let base = report(dir.path());
    // GA forgets and keeps a little less; "worse" forgets less and keeps less than vanilla,
    // so vanilla dominates it: the front is GA then vanilla.
    let vanilla = method(&base, 0.7, 0.75);
    let ga = method(&base, 0.3, 0.6);
    let worse = method(&base, 0.8, 0.4);
    let reports = [("vanilla", &vanilla), ("GA", &ga), ("worse", &worse)];
    let score = Score::RougeL;
    let mut cis = Vec::new();
    for (name, r) in reports {
        let mut per_axis = Vec::new();
        for set in [EvalMode::Forget, EvalMode::RetainShared] {
            let ci = score.ci(r, set).unwrap().unwrap();
            let of = score.of(r, set).unwrap();
            assert!(
                (ci.mean - of).abs() < 1e-9,
                "{name} {set:?}: {} vs {of}",
                ci.mean
            );
            assert!(
                ci.low < ci.mean && ci.mean < ci.high,
                "{name} {set:?}: {ci:?}"
            );
            // The same profile bootstrap, seeded as the report's cells: it repeats exactly.
            let items: Vec<_> = r
                .questions
                .iter()
                .filter(|q| q.set == set && q.task == Task::Generation)
                .map(|q| ProfileScore::new(q.profile.clone(), q.score))
                .collect();
            let opts = BootstrapOptions {
                seed: r.manifest.options.seed,
                ..r.manifest.options.bootstrap
            };
            assert_eq!(bootstrap_ci(&items, &opts).unwrap(), ci);
            per_axis.push(ci);
        }
        cis.push(per_axis);
    }
    assert_eq!(score.ci(&vanilla, EvalMode::Test).unwrap(), None);

    let fig = tradeoff(&reports, score).unwrap();
    let els = elements(fig.to_svg());
    let circles: Vec<&El> = els.iter().filter(|e| e.tag == "circle").collect();
    assert_eq!(circles.len(), 3);
    for (i, c) in circles.iter().enumerate() {
        let (cx, cy) = (c.num("cx"), c.num("cy"));
        let whiskers: Vec<Vec<(f64, f64)>> = els
            .iter()
            .filter(|e| e.tag == "polyline" && e.attrs["stroke"] == c.attrs["fill"])
            .map(El::points)
            .collect();
        // Two bars and four end caps per point.
        assert_eq!(whiskers.len(), 6, "point {i}: {whiskers:?}");
        let horizontal = whiskers
            .iter()
            .filter(|w| w.len() == 2 && w.iter().all(|p| p.1 == cy))
            .any(|w| w[0].0 < cx && cx < w[1].0);
        let vertical = whiskers
            .iter()
            .filter(|w| w.len() == 2 && w.iter().all(|p| p.0 == cx))
            .any(|w| w[0].1.max(w[1].1) > cy && cy > w[0].1.min(w[1].1));
        assert!(
            horizontal && vertical,
            "point {i} at ({cx}, {cy}): {whiskers:?}"
        );
    }
    let texts: Vec<&str> = els.iter().map(|e| e.text.as_str()).collect();
    for label in ["vanilla", "GA", "worse", "Pareto front"] {
        assert!(texts.contains(&label), "missing {label:?}");
    }
    // The front: the dashes after the legend entry, in the legend dash's colour, all on the
    // staircase through GA then vanilla (a vertex on a vertical step shares a front
    // point's x, one on a horizontal step its y).
    let key = els.iter().position(|e| e.text == "Pareto front").unwrap();
    let front_colour = &els[..key]
        .iter()
        .rev()
        .find(|e| e.tag == "polyline")
        .unwrap()
        .attrs["stroke"];
    let dashes: Vec<(f64, f64)> = els[key..]
        .iter()
        .filter(|e| e.tag == "polyline" && &e.attrs["stroke"] == front_colour)
        .flat_map(El::points)
        .collect();
    assert!(dashes.len() > 10, "{dashes:?}");
    let centre = |i: usize| (circles[i].num("cx"), circles[i].num("cy"));
    let front = [centre(1), centre(0)];
    for &(x, y) in &dashes {
        assert!(
            front
                .iter()
                .any(|&(fx, fy)| (x - fx).abs() <= 1.0 || (y - fy).abs() <= 1.0),
            "dash vertex ({x}, {y}) is off the front through {front:?}"
        );
    }
    // The step up to vanilla is drawn (so vanilla is on the front), and at the dominated
    // point's x the front only passes along vanilla's level, it does not step down.
    let (wx, _) = centre(2);
    assert!(dashes.iter().any(|&(x, _)| (x - front[1].0).abs() <= 1.0));
    assert!(dashes
        .iter()
        .filter(|&&(x, _)| (x - wx).abs() <= 1.0)
        .all(|&(_, y)| (y - front[1].1).abs() <= 1.0));
    keep(&fig, "tradeoff");
}

#[test]
fn method_bars_show_every_evaluated_cell_with_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let base = report(dir.path());
    let vanilla = method(&base, 0.7, 0.75);
    let ga = method(&base, 0.3, 0.6);
    let fig = method_bars(&[("vanilla", &vanilla), ("GA", &ga)]).unwrap();
    assert_eq!(fig.size().0, 1200);
    let els = elements(fig.to_svg());
    let texts: Vec<&str> = els.iter().map(|e| e.text.as_str()).collect();
    for label in [
        "vanilla",
        "GA",
        "forget set: classification accuracy (%)",
        "forget set: cloze accuracy (%)",
        "retain set: generation ROUGE-L",
        "image+text",
        "text only",
    ] {
        assert!(texts.contains(&label), "missing {label:?} in {texts:?}");
    }
    // Only the evaluated sets get panels.
    assert!(!texts.iter().any(|t| t.starts_with("test set")));
    assert!(!texts.iter().any(|t| t.starts_with("celebrity set")));
    let cells = |r: &Report| r.summary.iter().filter(|c| c.n > 0).count();
    let with_ci = |r: &Report| r.summary.iter().filter(|c| c.ci.is_some()).count();
    assert!(cells(&vanilla) >= 6, "{}", cells(&vanilla));
    for (name, r) in [("vanilla", &vanilla), ("GA", &ga)] {
        // The legend swatch just before the name gives the method's colour.
        let at = els.iter().position(|e| e.text == name).unwrap();
        let colour = &els[at - 1].attrs["fill"];
        let bars: Vec<&El> = els[at..]
            .iter()
            .filter(|e| e.tag == "rect" && &e.attrs["fill"] == colour)
            .collect();
        assert_eq!(bars.len(), cells(r), "{name}");
        assert_eq!(with_ci(r), cells(r));
        // Each bar carries its interval: a vertical line at its centre through its top
        // (the interval holds the plotted mean).
        for bar in bars {
            let (centre, top) = (bar.num("x") + bar.num("width") / 2.0, bar.num("y"));
            let whisker = els.iter().filter(|e| e.tag == "polyline").any(|e| {
                let p = e.points();
                p.len() == 2
                    && p[0].0 == p[1].0
                    && (p[0].0 - centre).abs() <= 1.0
                    && p[0].1.min(p[1].1) <= top + 1.0
                    && top - 1.0 <= p[0].1.max(p[1].1)
            });
            assert!(whisker, "{name}: no interval on the bar at x {centre}");
        }
    }
    keep(&fig, "method_bars");
    let err = method_bars(&[]).unwrap_err().to_string();
    assert!(err.contains("at least one labelled report"), "{err}");
}

/// The texts drawn on the same baseline as `anchor` (an axis's tick labels), left to right.
fn row_of(els: &[El], anchor: &str) -> Vec<String> {
    let y = els
        .iter()
        .find(|e| e.tag == "text" && e.text == anchor)
        .unwrap()
        .attrs["y"]
        .clone();
    let mut row: Vec<&El> = els
        .iter()
        .filter(|e| e.tag == "text" && e.attrs["y"] == y)
        .collect();
    row.sort_by(|a, b| a.num("x").total_cmp(&b.num("x")));
    row.iter().map(|e| e.text.clone()).collect()
}

fn history(steps: usize) -> LossHistory {
    let mut h = LossHistory::default();
    for step in 1..=steps {
        h.push(LossRecord {
            step,
            epoch: 0,
            loss: 3.0 / (1.0 + step as f64 / 40.0),
            lr: 1e-3,
            samples_per_sec: 2.0,
            grad_norm: None,
        });
    }
    h
}

#[test]
fn loss_axis_labels_are_round_integer_steps() {
    let (long, short) = (history(250), history(237));
    let fig = loss_curves(&[("GA", &long), ("NPO", &short)]).unwrap();
    let els = elements(fig.to_svg());
    assert_eq!(row_of(&els, "250"), ["0", "50", "100", "150", "200", "250"]);
    let few = history(3);
    let fig = loss_curves(&[("tiny", &few)]).unwrap();
    assert_eq!(row_of(&elements(fig.to_svg()), "3"), ["0", "1", "2", "3"]);
    let texts = svg_texts(fig.to_svg());
    assert!(texts.iter().any(|t| t == "step") && texts.iter().any(|t| t == "loss"));
    keep(
        &loss_curves(&[("GA", &long), ("NPO", &short)]).unwrap(),
        "loss_curves",
    );
}

/// The judge's histogram (feature `judge`).
mod judge {
    use super::*;
    use mllmu::judge::{JudgeItem, JudgeOptions, JudgeReport, JudgeSummary, Judgement};
    use mllmu::plot::judge_histogram;

    fn judged(profile: usize, score: Option<u8>) -> Judgement {
        Judgement {
            item: JudgeItem::generation("forget", format!("{profile:03}"), "q", "a", "g"),
            score,
            justification: None,
            failure: score.is_none().then(|| "no score in the reply".to_string()),
            cached: false,
            requests: 1,
            prompt_tokens: 0,
            completion_tokens: 0,
        }
    }

    fn judge_report(scores: &[Option<u8>]) -> JudgeReport {
        let judgements: Vec<_> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| judged(i, s))
            .collect();
        JudgeReport {
            summary: JudgeSummary::new(&JudgeOptions::default(), &judgements, 0, 0, 0.0),
            judgements,
        }
    }

    #[test]
    fn judge_histogram_has_one_bar_per_score_and_model() {
        let vanilla = judge_report(&[Some(9), Some(9), Some(10), Some(8), Some(9)]);
        let ga = judge_report(&[Some(2), Some(1), Some(2), None, Some(3)]);
        let fig = judge_histogram(&[("vanilla", &vanilla), ("GA", &ga)]).unwrap();
        let els = elements(fig.to_svg());
        let texts: Vec<&str> = els.iter().map(|e| e.text.as_str()).collect();
        for label in [
            "Judge factuality scores",
            "factuality score (1 = wrong, 10 = fully correct)",
            "answers (% of scored)",
            "vanilla (n = 5)",
            "GA (n = 4, 1 unscored)",
        ] {
            assert!(texts.contains(&label), "missing {label:?} in {texts:?}");
        }
        assert_eq!(
            row_of(&els, "7"),
            ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
        );
        let tick_x = |s: &str| {
            els.iter()
                .find(|e| e.tag == "text" && e.text == s)
                .unwrap()
                .num("x")
        };
        for (legend, tallest) in [("vanilla (n = 5)", "9"), ("GA (n = 4, 1 unscored)", "2")] {
            let at = els.iter().position(|e| e.text == legend).unwrap();
            let colour = &els[at - 1].attrs["fill"];
            let bars: Vec<&El> = els[at..]
                .iter()
                .filter(|e| e.tag == "rect" && &e.attrs["fill"] == colour)
                .collect();
            assert_eq!(bars.len(), 10, "{legend}");
            let top = bars
                .iter()
                .max_by(|a, b| a.num("height").total_cmp(&b.num("height")))
                .unwrap();
            let centre = top.num("x") + top.num("width") / 2.0;
            assert!(
                (centre - tick_x(tallest)).abs() < 30.0,
                "{legend}: tallest bar at {centre}, score {tallest} at {}",
                tick_x(tallest)
            );
        }
        keep(&fig, "judge_histogram");
        let err = judge_histogram(&[("none", &judge_report(&[None]))])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("none") && err.contains("no scored answer"),
            "{err}"
        );
    }
}

/// The forget-quality figure read back from its SVG: the title and axis texts, decade tick
/// labels of the log scale, one labelled point per method that has a forget quality, placed
/// by its values.
mod forget_quality_figure {
    use super::*;
    use mllmu::eval::beyond::{BeyondOptions, BeyondRun};
    use mllmu::plot::forget_quality;

    /// `(cx, cy)` of every circle.
    fn circles(svg: &str) -> Vec<(f64, f64)> {
        let attr = |c: &str, name: &str| -> f64 {
            let at = c.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            c[at..].split('"').next().unwrap().parse().unwrap()
        };
        svg.split("<circle")
            .skip(1)
            .map(|c| (attr(c, "cx"), attr(c, "cy")))
            .collect()
    }

    #[test]
    fn forget_quality_points_sit_on_a_log_scale() {
        let dir = tempfile::tempdir().unwrap();
        let model = Model::load("tests/fixtures/tiny-llava", &candle_core::Device::Cpu).unwrap();
        let bench = Bench::open("tests/fixtures/mllmu-sample").unwrap();
        let split = bench.split(5).unwrap();
        let report = Evaluate::paper()
            .with_sets(&[EvalMode::Forget, EvalMode::RetainShared])
            .with_max_profiles(2)
            .with_max_new_tokens(2)
            .with_progress(false)
            .run(&model, &bench, &split, dir.path())
            .unwrap();
        let opts = BeyondOptions {
            retain_profiles: 2,
            ..BeyondOptions::default()
        };
        let m = opts.measure(&model, &split, None).unwrap();
        let own = BeyondRun::new(m.clone(), Some((&m, "itself")), &Default::default()).unwrap();
        assert_eq!(own.beyond.forget_quality, Some(1.0));
        let mut low = own.clone();
        low.beyond.forget_quality = Some(1e-4);
        let mut none = own.clone();
        none.beyond.forget_quality = None;
        let runs: Vec<(String, Report)> = [("retain_only", own), ("GA", low), ("no_retain", none)]
            .into_iter()
            .map(|(n, b)| (n.to_string(), report.clone().with_beyond(b)))
            .collect();
        let labelled: Vec<(&str, &Report)> = runs.iter().map(|(n, r)| (n.as_str(), r)).collect();
        let fig = forget_quality(&labelled, Score::ClassificationAccuracy).unwrap();
        let svg = fig.to_svg();
        let texts = svg_texts(svg);
        for t in ["retain_only", "GA", "1e0", "1e-1", "1e-4"] {
            assert!(texts.iter().any(|x| x == t), "{t} missing from {texts:?}");
        }
        assert!(!texts.iter().any(|x| x == "no_retain"));
        assert!(texts
            .iter()
            .any(|x| x.starts_with("Forget quality vs model utility")));
        assert!(texts
            .iter()
            .any(|x| x.contains("forget quality") && x.contains("log")));
        let pts = circles(svg);
        assert_eq!(pts.len(), 2);
        // Same utility, so the same x; forget quality 1 above 1e-4 (SVG y grows downwards).
        assert!((pts[0].0 - pts[1].0).abs() < 1e-6);
        assert!(pts[0].1 < pts[1].1);
        let reports: Vec<(&str, &Report)> = vec![("no_retain", &runs[2].1)];
        assert!(forget_quality(&reports, Score::ClassificationAccuracy)
            .unwrap_err()
            .to_string()
            .contains("retain-model"));
    }
}
