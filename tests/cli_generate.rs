//! `mllmu generate` and `mllmu bench-model` as a user runs them: the binary on the tiny
//! fixture, compared with the transformers reference (`ref_logits.json`, case `image`).

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn mllmu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run mllmu")
}

fn reference_case() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("tiny-llava/reference/ref_logits.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["cases"]["image"].clone()
}

fn u32s(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn generate_json_matches_transformers() {
    let case = reference_case();
    let model = fixture("tiny-llava");
    let image = fixture("tiny-llava/reference/ref_image.png");
    let out = mllmu(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--prompt",
        case["prompt"].as_str().unwrap(),
        "--max-new-tokens",
        "20",
        "--json",
        "--device",
        "cpu",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        4,
        "exactly input_ids, new_ids, text, first_step_top5: {keys:?}"
    );

    assert_eq!(u32s(&got["input_ids"]), u32s(&case["input_ids"]));
    assert_eq!(u32s(&got["new_ids"]), u32s(&case["greedy"]["new_ids"]));
    assert_eq!(got["text"], case["greedy"]["new_text"]);

    let top5 = got["first_step_top5"].as_array().unwrap();
    assert_eq!(top5.len(), 5);
    let want_ids = u32s(&case["last_logits"]["top5_ids"]);
    let want_values = case["last_logits"]["top5_values"].as_array().unwrap();
    for (i, pair) in top5.iter().enumerate() {
        assert_eq!(pair[0].as_u64().unwrap(), want_ids[i], "top-5 id {i}");
        let (got, want) = (pair[1].as_f64().unwrap(), want_values[i].as_f64().unwrap());
        assert!(
            (got - want).abs() < 1e-4,
            "top-5 value {i}: {got} vs {want}"
        );
    }
}

#[test]
fn generate_without_json_prints_the_text() {
    let case = reference_case();
    let out = mllmu(&[
        "generate",
        "--model",
        fixture("tiny-llava").to_str().unwrap(),
        "--image",
        fixture("tiny-llava/reference/ref_image.png")
            .to_str()
            .unwrap(),
        "--prompt",
        case["prompt"].as_str().unwrap(),
        "--max-new-tokens",
        "20",
        "--device",
        "cpu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim_end_matches('\n'),
        case["greedy"]["new_text"].as_str().unwrap()
    );
}

#[test]
fn image_count_mismatch_is_a_clear_error() {
    let image = fixture("tiny-llava/reference/ref_image.png");
    let out = mllmu(&[
        "generate",
        "--model",
        fixture("tiny-llava").to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--prompt",
        "USER: <image>\nWho is this?\nASSISTANT:",
        "--max-new-tokens",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("mllmu: "),
        "errors are prefixed: {stderr}"
    );
    assert!(
        stderr.contains("the prompt holds 1 <image> placeholder but 2 images were given"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pass one --image per <image>"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_model_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    let out = mllmu(&[
        "generate",
        "--model",
        missing.to_str().unwrap(),
        "--prompt",
        "USER: hi\nASSISTANT:",
        "--max-new-tokens",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("missing folder {}", missing.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pass a llava-hf model folder"),
        "{stderr}"
    );
}

#[test]
fn a_missing_image_file_is_named() {
    let out = mllmu(&[
        "generate",
        "--model",
        fixture("tiny-llava").to_str().unwrap(),
        "--image",
        "no/such/image.png",
        "--prompt",
        "USER: <image>\nWho?\nASSISTANT:",
        "--max-new-tokens",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing file no/such/image.png"),
        "{stderr}"
    );
}

/// `mllmu bench-model` on the tiny fixture, one timed run, no warm-up, 1 thread, as JSON.
fn bench_model_json(extra: &[&str]) -> serde_json::Value {
    let fixture = fixture("tiny-llava");
    let mut args = vec![
        "bench-model",
        "--model",
        fixture.to_str().unwrap(),
        "--threads",
        "1",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = mllmu(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

#[test]
fn bench_model_json_has_the_three_timings_rates_and_the_thread_count() {
    let got = bench_model_json(&["--device", "cpu"]);
    for k in ["forward_b4x128_s", "generate_50_s", "train_step_b4x128_s"] {
        let v = got[k].as_f64().unwrap_or(-1.0);
        assert!(v > 0.0 && v < 600.0, "{k} = {v}");
    }
    assert_eq!(got["threads"], 1, "--threads reaches candle");
    assert_eq!(got["elementwise_threads"], 1);
    assert_eq!(got["allocator_tuned"], true);
    assert_eq!(got["device"], "cpu");
    assert_eq!(got["dtype"], "f32");
    assert_eq!(got["samples"]["forward"].as_array().unwrap().len(), 1);
    // tokens per second are the timings' reciprocals times the token counts
    for (rate, secs, tokens) in [
        ("forward_tokens_per_s", "forward_b4x128_s", 512.0),
        ("generate_tokens_per_s", "generate_50_s", 50.0),
        ("train_tokens_per_s", "train_step_b4x128_s", 512.0),
    ] {
        let (r, s) = (got[rate].as_f64().unwrap(), got[secs].as_f64().unwrap());
        assert!(
            (r * s - tokens).abs() < 1e-6 * tokens,
            "{rate} = {r}, {secs} = {s}"
        );
    }
    assert_eq!(got["fused"], true, "fused kernels are the default");
    // one timed run: its three phases add up to at most the whole step
    let p = &got["train_phases"];
    let sum: f64 = ["forward_s", "backward_s", "optimizer_s"]
        .iter()
        .map(|k| p[k].as_f64().unwrap())
        .sum();
    let step = got["train_step_b4x128_s"].as_f64().unwrap();
    assert!(sum > 0.0 && sum <= step + 1e-6, "phases {p}, step {step}");
}

#[test]
fn bench_model_composite_switches_the_fused_kernels_off() {
    assert_eq!(bench_model_json(&["--composite"])["fused"], false);
}
