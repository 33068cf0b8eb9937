//! `mllmu finetune` and `mllmu unlearn` end to end on the tiny model: the `--json`
//! summary, the output folder, resuming after `--max-steps`, and errors.

mod train_run_common;

use std::process::Command;
use train_run_common::*;

fn mllmu(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn finetune_then_unlearn_from_the_command_line() {
    let model = fixture("tiny-llava");
    let bench = fixture("mllmu-sample");
    let (ft_out, ul_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ft_dir = ft_out.path().to_str().unwrap();
    let common = |out: &str| -> Vec<String> {
        [
            "--model",
            model.to_str().unwrap(),
            "--bench",
            bench.to_str().unwrap(),
            "--out",
            out,
            "--lr",
            "1e-3",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // 10 rows of the sample → 70 QA pairs → 9 batches of 8; stop after 4 steps, then resume.
    let mut args: Vec<String> = vec![
        "finetune".into(),
        "--epochs".into(),
        "1".into(),
        "--max-steps".into(),
        "4".into(),
    ];
    args.extend(common(ft_dir));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, stdout, stderr) = mllmu(&argv);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["steps"], 4);
    assert_eq!(v["status"], "stopped");
    let argv: Vec<&str> = argv
        .iter()
        .copied()
        .filter(|a| *a != "--max-steps" && *a != "4")
        .collect();
    let (ok, stdout, stderr) = mllmu(&argv);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["steps"], 9);
    assert_eq!(v["status"], "complete");
    assert_eq!(v["out"], ft_dir);
    assert!(v["loss_first"].as_f64().unwrap() > v["loss_last"].as_f64().unwrap());
    assert!(ft_out.path().join("model.safetensors").is_file());
    let log: serde_json::Value =
        mllmu::io::read_json(&ft_out.path().join("train_log.json")).unwrap();
    assert_eq!(log["resumed_from_step"], 4);
    assert_eq!(log["options"]["lora"]["r"], 16);

    // Unlearn the fine-tuned model: NPO on forget_10 (2 profiles, 14 pairs → 2 batches).
    let mut args: Vec<String> = ["unlearn", "--method", "npo", "--forget", "10", "--full"]
        .map(String::from)
        .to_vec();
    let mut c = common(ul_out.path().to_str().unwrap());
    c[1] = ft_dir.to_string();
    args.extend(c);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, stdout, stderr) = mllmu(&argv);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["objective"], "npo");
    assert_eq!(v["steps"], 2);
    // Starting from the model itself as reference, the first NPO loss is (2/β) ln 2.
    assert!(
        (v["loss_first"].as_f64().unwrap() - 5.0 * 2f64.ln()).abs() < 1e-5,
        "{v}"
    );
    let log: serde_json::Value =
        mllmu::io::read_json(&ul_out.path().join("train_log.json")).unwrap();
    assert_eq!(log["mode"], "full");
    assert_eq!(log["data"][0]["name"], "forget_10");
    assert_eq!(log["objective"]["beta"], 0.4);
}

#[test]
fn command_line_errors_are_clear() {
    let model = fixture("tiny-llava");
    let bench = fixture("mllmu-sample");
    let out = tempfile::tempdir().unwrap();
    let (m, b, o) = (
        model.to_str().unwrap(),
        bench.to_str().unwrap(),
        out.path().to_str().unwrap(),
    );
    let (ok, _, stderr) = mllmu(&[
        "unlearn",
        "--method",
        "forgetful",
        "--forget",
        "5",
        "--model",
        m,
        "--bench",
        b,
        "--out",
        o,
    ]);
    assert!(!ok);
    assert!(
        stderr.starts_with("mllmu: invalid method = forgetful"),
        "{stderr}"
    );
    assert!(stderr.contains("ga, grad_diff, kl"), "{stderr}");
    let (ok, _, stderr) = mllmu(&[
        "unlearn", "--method", "ga", "--forget", "7", "--model", m, "--bench", b, "--out", o,
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("forget ratio") && stderr.contains("5, 10 and 15"),
        "{stderr}"
    );
    let (ok, _, stderr) = mllmu(&[
        "finetune",
        "--model",
        "nobody/nothing",
        "--bench",
        b,
        "--out",
        o,
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("nobody/nothing is neither a folder nor in the local Hugging Face cache"),
        "{stderr}"
    );
    let (ok, _, stderr) = mllmu(&[
        "finetune",
        "--model",
        m,
        "--bench",
        b,
        "--out",
        o,
        "--lora-rank",
        "4",
        "--full",
    ]);
    assert!(!ok);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let (ok, _, stderr) = mllmu(&[
        "unlearn",
        "--method",
        "npo",
        "--forget",
        "5",
        "--model",
        m,
        "--bench",
        b,
        "--out",
        o,
        "--objective-json",
        "{\"objective\":\"npo\",\"beta\":\"high\"}",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("invalid objective-json") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn exclude_forget_trains_the_retain_only_model() {
    let model = fixture("tiny-llava");
    let bench = fixture("mllmu-sample");
    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let mut argv = vec![
            "finetune",
            "--model",
            model.to_str().unwrap(),
            "--bench",
            bench.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--max-steps",
            "1",
            "--device",
            "cpu",
        ];
        argv.extend_from_slice(extra);
        let (ok, _, stderr) = mllmu(&argv);
        assert!(ok, "{stderr}");
        let log: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("train_log.json")).unwrap())
                .unwrap();
        (
            log["data"][0]["name"].as_str().unwrap().to_string(),
            log["data"][0]["samples"].as_u64().unwrap(),
        )
    };
    let (all_name, all) = run(&[]);
    let (name, retain) = run(&["--exclude-forget", "10"]);
    assert_eq!((all_name.as_str(), name.as_str()), ("ft_Data", "retain_90"));
    // Exactly the forget profiles' ft_Data pairs are left out.
    let b = mllmu::bench::Bench::open(&bench).unwrap();
    let forget = mllmu::train::SampleSet::forget(&b.split(10).unwrap())
        .unwrap()
        .len() as u64;
    assert!(forget > 0);
    assert_eq!((all, retain), (70, 70 - forget));
    let (ok, _, stderr) = mllmu(&[
        "finetune",
        "--model",
        model.to_str().unwrap(),
        "--bench",
        bench.to_str().unwrap(),
        "--out",
        "/nonexistent-out",
        "--exclude-forget",
        "7",
    ]);
    assert!(!ok && stderr.contains("--exclude-forget"), "{stderr}");
}
