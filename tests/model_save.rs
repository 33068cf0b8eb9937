//! Saving a model: hub key names, config, side files, sharding, identical logits after reload.

mod model_common;

use candle_core::{DType, Device};
use mllmu::model::{Llava, LoraConfig, SaveOptions};
use model_common::*;

#[test]
fn save_and_reload_gives_identical_logits() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("multi_image", "input_ids"));
    let pv = r.pixels("multi_image").unwrap();
    let m = Llava::load(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let want = m.forward(&ids, Some(&pv), None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    m.save(tmp.path(), &SaveOptions::default()).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "preprocessor_config.json",
        "processor_config.json",
        "generation_config.json",
    ] {
        assert!(tmp.path().join(f).is_file(), "{f} missing");
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["torch_dtype"], "float32");
    assert_eq!(cfg["text_config"]["torch_dtype"], "float32");
    assert_eq!(cfg["image_seq_length"], 36);
    // the same key set as the hub checkpoint, with pt metadata
    let bytes = std::fs::read(tmp.path().join("model.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");
    let orig = std::fs::read(fixture("tiny-llava/model.safetensors")).unwrap();
    let (_, orig_meta) = safetensors::SafeTensors::read_metadata(&orig).unwrap();
    let mut a: Vec<_> = meta.tensors().keys().cloned().collect();
    let mut b: Vec<_> = orig_meta.tensors().keys().cloned().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);

    let back = Llava::load(tmp.path(), &Device::Cpu, DType::F32).unwrap();
    assert_eq!(
        max_abs_diff(&want, &back.forward(&ids, Some(&pv), None).unwrap()),
        0.0
    );
}

#[test]
fn sharded_float16_save_with_merged_lora() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("image", "input_ids"));
    let pv = r.pixels("image").unwrap();
    let mut m = Llava::load(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let vars = m.add_lora(&LoraConfig::default()).unwrap();
    for (name, v) in vars.data().lock().unwrap().iter() {
        if name.ends_with("lora_B.weight") {
            v.set(&candle_core::Tensor::randn(0f32, 0.05, v.dims(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let want = m.forward(&ids, Some(&pv), None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let opts = SaveOptions {
        dtype: Some(DType::F16),
        max_shard_bytes: 600_000,
    };
    m.save(tmp.path(), &opts).unwrap();
    assert!(tmp.path().join("model.safetensors.index.json").is_file());
    assert!(!tmp.path().join("model.safetensors").exists());
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["torch_dtype"], "float16");
    let back = Llava::load(tmp.path(), &Device::Cpu, DType::F32).unwrap();
    assert!(back.linears().iter().all(|l| l.lora.is_none()));
    let got = back.forward(&ids, Some(&pv), None).unwrap();
    let d = max_abs_diff(&want, &got);
    assert!(d > 0.0 && d < 5e-2, "merged float16 reload differs by {d}");
}
