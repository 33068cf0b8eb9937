//! `mllmu mini-model`: a short run is bit-for-bit deterministic, and its folder loads as a
//! LLaVA-1.5 checkpoint.

use std::path::Path;
use std::process::Command;

fn run(out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["mini-model", "--out"])
        .arg(out)
        .args([
            "--seed",
            "3",
            "--people",
            "6",
            "--held-out",
            "2",
            "--max-steps",
            "3",
            "--batch-size",
            "4",
            "--hidden",
            "32",
            "--layers",
            "1",
        ])
        .status()
        .expect("mllmu runs");
    assert!(status.success());
}

#[test]
fn a_short_run_is_deterministic_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&a);
    run(&b);
    let sums = std::fs::read_to_string(a.join("SHA256SUMS")).unwrap();
    assert_eq!(sums, std::fs::read_to_string(b.join("SHA256SUMS")).unwrap());
    for f in ["model.safetensors", "tokenizer.json", "config.json"] {
        assert!(sums.contains(f), "{sums}");
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("pretrain_log.json")).unwrap())
            .unwrap();
    assert_eq!(log["log"]["steps"], 3);
    assert!(!a.join("base").exists());
    let m = mllmu::model::Model::load(&a, &candle_core::Device::Cpu).unwrap();
    assert_eq!(m.tokenizer.image_seq_len(), 16);
    assert_eq!(m.llava.config.text.hidden_size, 32);
    let ids = m
        .tokenizer
        .encode("USER: <image>\nWho is this?\nASSISTANT:")
        .unwrap();
    assert_eq!(ids[0], m.tokenizer.bos_id());
    assert_eq!(
        ids.iter()
            .filter(|&&t| t == m.tokenizer.image_token_id())
            .count(),
        16
    );
}
