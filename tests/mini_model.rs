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

/// The corpus the shipped `mini-llava` was pretrained on, reduced to one digest: the text
/// and image indices of every document of the embedded recipe's corpus (and its fresh
/// question plans). A change to the corpus generator that changes it makes the shipped
/// checkpoint irreproducible from the code: retrain and ship the new one with it.
#[test]
fn the_default_corpus_is_the_one_the_shipped_model_was_trained_on() {
    use mllmu::train::corpus::{Corpus, CorpusConfig};
    let log: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mini-llava/pretrain_log.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cfg: CorpusConfig = serde_json::from_value(log["recipe"]["corpus"].clone()).unwrap();
    assert_eq!(cfg, mllmu::train::mini_llava::MiniRecipe::seeded(0).corpus);
    let mut all = String::new();
    for plan_seed in [None, Some(cfg.seed.wrapping_mul(31).wrapping_add(1))] {
        let c = Corpus::generate(&CorpusConfig {
            plan_seed,
            ..cfg.clone()
        })
        .unwrap();
        for d in &c.docs {
            all.push_str(&format!("{:?}\n{}\n", d.images, d.text));
        }
    }
    assert_eq!(
        mllmu::io::sha256_hex(all.as_bytes()),
        "fbebda6d77dbc1a6849ea542016ecc083f9168d79121a0accf41790b3695d91a",
        "the pretraining corpus changed"
    );
}
