//! Weight-only checkpoints (config + safetensors, no tokenizer or processor files, as the
//! reference scripts save them) load with the tokenizer and processor of a base model:
//! `--processor-from`, or the config's `_name_or_path`; the same logits and greedy output
//! as the full folder.

mod resolve_common;

use candle_core::{DType, Device};
use mllmu::model::Model;
use resolve_common::*;

#[test]
fn processor_from_gives_the_full_folders_logits_and_output() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bare = weight_only_copy(&tmp.path().join("vanilla"));
    let full = fixture("tiny-llava");
    let expected = ok_stdout(&generate(home.path(), full.to_str().unwrap(), &[]));
    let got = ok_stdout(&generate(
        home.path(),
        bare.to_str().unwrap(),
        &["--processor-from", full.to_str().unwrap()],
    ));
    // new ids, text and the first step's top-5 logits, bit for bit
    assert_eq!(got, expected);

    let err = err_stderr(&generate(home.path(), bare.to_str().unwrap(), &[]));
    assert!(err.contains("--processor-from"), "{err}");
    for f in PROCESSOR_FILES {
        assert!(err.contains(f), "{f} not named: {err}");
    }
    assert!(err.contains("_name_or_path"), "{err}");
}

#[test]
fn the_configs_base_model_is_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = weight_only_copy(&tmp.path().join("vanilla"));
    let config_path = bare.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["_name_or_path"] = fixture("tiny-llava").display().to_string().into();
    std::fs::write(&config_path, config.to_string()).unwrap();

    let full = Model::load_with(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let m = Model::load_with(&bare, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(m.dir, bare);
    assert_eq!(m.processor_dir, fixture("tiny-llava"));
    assert_eq!(m.weights_hash().unwrap(), full.weights_hash().unwrap());
    let prompt = "USER: <image>\nWho is this?\nASSISTANT:";
    assert_eq!(
        m.tokenizer.encode(prompt).unwrap(),
        full.tokenizer.encode(prompt).unwrap()
    );

    // A base model that does not resolve is named in the error.
    config["_name_or_path"] = "/no/such/base".into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    let err = Model::load_with(&bare, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/no/such/base") && err.contains("--processor-from"),
        "{err}"
    );

    // --processor-from pointing at another weight-only folder names what it lacks.
    let err = Model::load_with_processor(
        &bare,
        Some(bare.to_str().unwrap()),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--processor-from") && err.contains("tokenizer.json"),
        "{err}"
    );
}
