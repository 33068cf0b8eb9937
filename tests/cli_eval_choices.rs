//! Every evaluation choice from the command line: each `mllmu eval` flag lands in the
//! options recorded in report.json's manifest, and a bad value names its flag.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn eval(out: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["eval", "--model"])
        .arg(fixture("tiny-llava"))
        .arg("--bench")
        .arg(fixture("mllmu-sample"))
        .args([
            "--sets",
            "forget,retain",
            "--max-profiles",
            "2",
            "--no-progress",
        ])
        .args(["--no-cache", "--json", "--device", "cpu", "--out"])
        .arg(out)
        .args(extra)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

#[test]
fn each_flag_is_recorded_in_the_manifest() {
    let out = tempfile::tempdir().unwrap();
    let o = eval(
        out.path(),
        &[
            "--shots",
            "2,classification=1",
            "--shot-pool",
            "disjoint",
            "--option-likelihood",
            "off",
            "--extraction",
            "new-tokens",
            "--max-new-tokens",
            "3",
            "--family",
            "llava",
            "--sample",
            "retain=1",
            "--bootstrap-resamples",
            "50",
            "--confidence",
            "0.9",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    let m = &report["manifest"];
    let opts = &m["options"];
    assert_eq!(opts["shots"], 2);
    assert_eq!(
        opts["task_shots"],
        serde_json::json!([["classification", 1]])
    );
    assert_eq!(opts["shot_pool"], "Disjoint");
    assert_eq!(opts["option_likelihood"], false);
    assert_eq!(opts["extraction"], "NewTokens");
    assert_eq!(opts["max_new_tokens"], 3);
    assert_eq!(opts["family"], "llava");
    assert_eq!(opts["samples"], serde_json::json!([["retain_shared", 1]]));
    assert_eq!(opts["bootstrap"]["resamples"], 50);
    assert_eq!(opts["bootstrap"]["level"], 0.9);
    let corrections = m["corrections"].to_string();
    assert!(
        corrections.contains("1 few-shot profile(s) for Classification"),
        "{corrections}"
    );
    // The draws follow: classification draws 1 profile, cloze 2, none from the evaluated set.
    for d in m["fewshot_draws"].as_array().unwrap() {
        let want = if d["task"] == "classification" { 1 } else { 2 };
        assert_eq!(d["requested_k"], want, "{d}");
    }
}

#[test]
fn zero_shot_from_the_command_line() {
    let out = tempfile::tempdir().unwrap();
    let o = eval(out.path(), &["--shots", "0", "--max-new-tokens", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    let m = &report["manifest"];
    assert_eq!(m["options"]["shot_pool"], "ZeroShot");
    assert_eq!(m["options"]["shots"], 0);
    for d in m["fewshot_draws"].as_array().unwrap() {
        assert_eq!(d["k"], 0, "{d}");
    }
}

#[test]
fn a_bad_value_names_its_flag() {
    let out = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--shots", "many"),
        ("--shots", "generation=1"),
        ("--shot-pool", "everyone"),
        ("--option-likelihood", "maybe"),
        ("--extraction", "regex"),
        ("--max-new-tokens", "0"),
        ("--family", "gpt"),
        ("--sample", "moon=3"),
        ("--bootstrap-resamples", "0"),
        ("--confidence", "95"),
    ] {
        let o = eval(out.path(), &[flag, value]);
        assert!(!o.status.success(), "{flag} {value} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(flag) && err.contains(value),
            "{flag} {value}: {err}"
        );
    }
}
