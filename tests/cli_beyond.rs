//! `mllmu eval --retain-model` adds the `"beyond"` and `"beyond_ci95"` blocks of the issue's
//! shape to `--json` (and `report.json`, which `mllmu compare` reads back), leaves the JSON
//! unchanged without it; `mllmu relearn` writes its JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn mllmu(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mllmu"));
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    c.env("HF_HUB_OFFLINE", "1").output().unwrap()
}

fn eval(out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "eval",
        "--sets",
        "forget,retain",
        "--max-profiles",
        "2",
        "--no-progress",
        "--no-cache",
        "--json",
        "--device",
        "cpu",
        "--max-new-tokens",
        "2",
        "--forget",
        "5",
    ];
    args.extend_from_slice(extra);
    let o = mllmu(
        &args,
        &[
            ("--model", &fixture("tiny-llava")),
            ("--bench", &fixture("mllmu-sample")),
            ("--out", out),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn eval_with_a_retain_model_carries_beyond_in_the_issues_shape() {
    let dir = tempfile::tempdir().unwrap();
    let plain = eval(&dir.path().join("plain"), &[]);
    assert_eq!(keys(&plain), ["sets"]);

    let tiny = fixture("tiny-llava");
    let out = dir.path().join("beyond");
    let v = eval(
        &out,
        &[
            "--retain-model",
            tiny.to_str().unwrap(),
            "--holdout-from",
            "forget_10",
            "--beyond-retain-profiles",
            "2",
        ],
    );
    assert_eq!(keys(&v), ["beyond", "beyond_ci95", "sets"]);
    assert_eq!(v["sets"], plain["sets"]);
    let b = &v["beyond"];
    assert_eq!(
        keys(b),
        [
            "cross_modal_consistency",
            "forget_quality",
            "mia_auc",
            "privleak",
            "truth_ratio"
        ]
    );
    assert_eq!(keys(&b["truth_ratio"]), ["forget", "retain", "test"]);
    assert_eq!(keys(&b["mia_auc"]), ["loss", "min_k", "min_k_pp", "zlib"]);
    // The model is its own retain model.
    assert_eq!(b["forget_quality"].as_f64(), Some(1.0));
    assert!(b["privleak"].is_null() || b["privleak"].as_f64() == Some(0.0));
    for k in ["forget", "test", "retain"] {
        assert!(b["truth_ratio"][k].as_f64().is_some(), "{k}");
        let ci = &v["beyond_ci95"]["truth_ratio"][k];
        assert!(ci["low"].as_f64().unwrap() <= ci["high"].as_f64().unwrap());
    }
    // report.json keeps it, and compare shows it.
    let o = Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["compare", "--json"])
        .arg(dir.path().join("plain"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["table"]["beyond"]["beyond"], v["beyond"]);
    assert!(c["table"]["plain"].get("beyond").is_none());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["beyond"]["beyond"]["forget_quality"].as_f64(),
        Some(1.0)
    );

    let bad = mllmu(
        &[
            "eval",
            "--holdout-from",
            "nowhere",
            "--device",
            "cpu",
            "--no-progress",
            "--sets",
            "forget",
            "--max-profiles",
            "1",
            "--max-new-tokens",
            "1",
        ],
        &[
            ("--model", &tiny),
            ("--bench", &fixture("mllmu-sample")),
            ("--out", &dir.path().join("bad")),
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--holdout-from"));
}

#[test]
fn relearn_writes_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = mllmu::bench::MiniConfig {
        profiles: 20,
        celebrities: 1,
        ..Default::default()
    };
    let bench = mllmu::bench::mini::write(&dir.path().join("bench"), &cfg).unwrap();
    let out = dir.path().join("relearn");
    let o = mllmu(
        &[
            "relearn",
            "--forget",
            "10",
            "--fraction",
            "0.5",
            "--steps",
            "2",
            "--full",
            "--device",
            "cpu",
        ],
        &[
            ("--model", &fixture("tiny-llava")),
            ("--bench", &bench),
            ("--out", &out),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("relearn.json")).unwrap()).unwrap();
    let r = &v["result"];
    assert_eq!(r["steps"], 2);
    assert_eq!(r["relearned"].as_array().unwrap().len(), 1);
    assert_eq!(r["held_back"].as_array().unwrap().len(), 1);
    for k in ["mc_accuracy", "truth_ratio", "answer_nll"] {
        assert!(
            r["before"][k].is_number() && r["after"][k].is_number(),
            "{k}"
        );
    }
    let bad = mllmu(
        &["relearn", "--fraction", "0", "--device", "cpu"],
        &[
            ("--model", &fixture("tiny-llava")),
            ("--bench", &bench),
            ("--out", &out),
        ],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--fraction"));
}
