//! `mllmu compare` over two saved evaluation runs of the tiny model (the same questions,
//! decoded with 4 and 12 new tokens): the public JSON shape, Markdown and LaTeX tables, the
//! HTML page, and errors that name the folder or the baseline.

use candle_core::{DType, Device};
use mllmu::bench::Bench;
use mllmu::eval::items::EvalMode;
use mllmu::eval::Evaluate;
use mllmu::model::Model;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn runs(dir: &Path) -> (PathBuf, PathBuf) {
    let m = Model::load_with(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let b = Bench::open(fixture("mllmu-sample")).unwrap();
    let split = b.split(5).unwrap();
    let eval = |tokens| {
        Evaluate::paper()
            .with_seed(1)
            .with_sets(&[EvalMode::Forget, EvalMode::RetainShared])
            .with_max_profiles(3)
            .with_shot_pool(mllmu::eval::fewshot::ShotPool::Disjoint)
            .with_max_new_tokens(tokens)
            .with_progress(false)
    };
    let (short, long) = (dir.join("short"), dir.join("long"));
    eval(4).run(&m, &b, &split, &short).unwrap();
    eval(12).run(&m, &b, &split, &long).unwrap();
    (short, long)
}

fn mllmu(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .arg("compare")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn compare_prints_the_table_and_paired_differences() {
    let dir = tempfile::tempdir().unwrap();
    let (short, long) = runs(dir.path());
    let html = dir.path().join("compare.html");
    let out = mllmu(&[
        short.as_os_str(),
        long.as_os_str(),
        "--json".as_ref(),
        "--html".as_ref(),
        html.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"], serde_json::json!(["short", "long"]));
    assert!(v["table"]["short"]["sets"]["forget"]["generation"].is_object());
    let paired = v["paired"].as_array().unwrap();
    assert!(!paired.is_empty());
    let keys = [
        "baseline", "ci95", "diff", "metric", "modality", "p_value", "run", "set", "task",
    ];
    for p in paired {
        let mut k: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        assert_eq!(k, keys);
        assert_eq!(
            (p["run"].as_str(), p["baseline"].as_str()),
            (Some("long"), Some("short"))
        );
        let (lo, hi, d) = (
            p["ci95"][0].as_f64().unwrap(),
            p["ci95"][1].as_f64().unwrap(),
            p["diff"].as_f64().unwrap(),
        );
        assert!(lo <= d + 1e-12 && d <= hi + 1e-12, "{p}");
        let pv = p["p_value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&pv));
    }
    // Twelve new tokens change generation scores somewhere against four.
    assert!(paired
        .iter()
        .any(|p| p["metric"] == "rougeL" && p["diff"].as_f64().unwrap() != 0.0));
    // The library's DataFrame holds the same rows as the JSON.
    let methods = mllmu::eval::Methods::load(&[short.clone(), long.clone()]).unwrap();
    let df = methods.paired_frame("short").unwrap();
    // Every run folder under one root, in name order (no `vanilla` here to put first).
    let all = mllmu::eval::Methods::load_all(dir.path()).unwrap();
    let names: Vec<&str> = all.reports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["long", "short"]);
    let from_root = mllmu(&[dir.path().as_os_str(), "--json".as_ref()]);
    let v: serde_json::Value = serde_json::from_slice(&from_root.stdout).unwrap();
    assert_eq!(v["runs"], serde_json::json!(["long", "short"]));
    assert_eq!(df.height(), paired.len());
    let diffs: Vec<f64> = df
        .column("diff")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let json_diffs: Vec<f64> = paired.iter().map(|p| p["diff"].as_f64().unwrap()).collect();
    assert_eq!(diffs, json_diffs);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.matches("<svg").count() >= 3 && page.contains("Pareto front"));

    let md = mllmu(&[short.as_os_str(), long.as_os_str(), "--markdown".as_ref()]);
    let note = String::from_utf8_lossy(&md.stderr).into_owned();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.starts_with("| method | forget MC img |"), "{md}");
    assert!(md.contains("\n| short | ") && md.contains("\n| long | "));
    // The choices table shows what differs between the runs: 4 and 12 new tokens, the
    // disjoint shot pool of both, and stderr warns that the runs are not comparable as is.
    assert!(
        md.contains("| run | family | shots | shot pool | extraction | new tokens |"),
        "{md}"
    );
    let choice_row = |run: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {run} | llava |")))
            .unwrap_or_else(|| panic!("no choices row for {run}:\n{md}"))
            .to_string()
    };
    let (short_row, long_row) = (choice_row("short"), choice_row("long"));
    assert!(
        short_row.contains("| Disjoint |") && short_row.contains("| 4 |"),
        "{short_row}"
    );
    assert!(
        long_row.contains("| Disjoint |") && long_row.contains("| 12 |"),
        "{long_row}"
    );
    assert!(note.contains("different choices"), "{note}");

    let tex = mllmu(&[
        short.as_os_str(),
        long.as_os_str(),
        "--latex".as_ref(),
        "--baseline".as_ref(),
        "long".as_ref(),
    ]);
    let tex = String::from_utf8(tex.stdout).unwrap();
    assert!(tex.contains("\\begin{tabular}") && tex.contains("\\toprule"));
}

#[test]
fn compare_names_a_missing_report_and_an_unknown_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("not-a-run");
    std::fs::create_dir_all(&empty).unwrap();
    let out = mllmu(&[empty.as_os_str()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not-a-run") && err.contains("report.json"),
        "{err}"
    );

    let err = mllmu::eval::Methods::load_all(&empty)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not-a-run") && err.contains("report.json"),
        "{err}"
    );

    let (short, long) = runs(dir.path());
    let out = mllmu(&[
        short.as_os_str(),
        long.as_os_str(),
        "--baseline".as_ref(),
        "vanila".as_ref(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--baseline") && err.contains("short, long"),
        "{err}"
    );
}
