//! The forget-quality figure read back from its SVG: the title and axis texts, decade tick
//! labels of the log scale, one labelled point per method that has a forget quality, placed
//! by its values.

use mllmu::bench::Bench;
use mllmu::eval::beyond::{BeyondOptions, BeyondRun};
use mllmu::eval::items::EvalMode;
use mllmu::eval::{Evaluate, Report};
use mllmu::model::Model;
use mllmu::plot::{forget_quality, Score};

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
