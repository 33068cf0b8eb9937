//! LoRA: initialisation, merging, dropout, saving adapters alone (PEFT layout).

mod model_common;

use candle_core::{DType, Device, Tensor};
use mllmu::model::lora::peft_key;
use mllmu::model::{Llava, LoraConfig};
use model_common::*;

fn model() -> Llava {
    Llava::load(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap()
}

fn perturb_b(vars: &candle_nn::VarMap) {
    for (name, v) in vars.data().lock().unwrap().iter() {
        if name.ends_with("lora_B.weight") {
            v.set(&Tensor::randn(0f32, 0.05, v.dims(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
}

#[test]
fn fresh_adapters_do_not_change_the_model_and_init_is_seeded() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("text", "input_ids"));
    let mut m = model();
    let before = m.forward(&ids, None, None).unwrap();
    let vars = m.add_lora(&LoraConfig::default()).unwrap();
    assert_eq!(
        max_abs_diff(&before, &m.forward(&ids, None, None).unwrap()),
        0.0
    );
    let data = vars.data().lock().unwrap();
    let a = data[&peft_key("language_model.model.layers.0.self_attn.q_proj", "A")]
        .as_tensor()
        .clone();
    assert_eq!(a.dims(), &[16, 96]);
    assert_eq!(a.dtype(), DType::F32);
    // σ = 1/r: the sample standard deviation of 1536 draws is near 1/16
    let std = a
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .sqrt();
    assert!((std - 1.0 / 16.0).abs() < 0.006, "std {std}");
    let mut m2 = model();
    let vars2 = m2.add_lora(&LoraConfig::default()).unwrap();
    let a2 = vars2.data().lock().unwrap()
        [&peft_key("language_model.model.layers.0.self_attn.q_proj", "A")]
        .as_tensor()
        .clone();
    assert_eq!(max_abs_diff(&a, &a2), 0.0);
    let mut m3 = model();
    let vars3 = m3
        .add_lora(&LoraConfig {
            seed: 1,
            ..Default::default()
        })
        .unwrap();
    let a3 = vars3.data().lock().unwrap()
        [&peft_key("language_model.model.layers.0.self_attn.q_proj", "A")]
        .as_tensor()
        .clone();
    assert!(max_abs_diff(&a, &a3) > 0.01);
}

#[test]
fn merging_gives_the_same_logits() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("image", "input_ids"));
    let pv = r.pixels("image").unwrap();
    let mut m = model();
    let plain = m.forward(&ids, Some(&pv), None).unwrap();
    let vars = m.add_lora(&LoraConfig::reference()).unwrap();
    perturb_b(&vars);
    let adapted = m.forward(&ids, Some(&pv), None).unwrap();
    assert!(
        max_abs_diff(&plain, &adapted) > 1e-3,
        "adapters had no effect"
    );
    m.merge_lora().unwrap();
    assert!(m.lora_config().is_none());
    assert!(m.linears().iter().all(|l| l.lora.is_none()));
    let merged = m.forward(&ids, Some(&pv), None).unwrap();
    let d = max_abs_diff(&adapted, &merged);
    assert!(d < 1e-4, "merged differs by {d}");
}

#[test]
fn dropout_acts_only_in_training_and_is_seeded() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("text", "input_ids"));
    let run = |seed: u64| {
        let mut m = model();
        let vars = m
            .add_lora(&LoraConfig {
                dropout: 0.5,
                seed,
                ..Default::default()
            })
            .unwrap();
        for (name, v) in vars.data().lock().unwrap().iter() {
            if name.ends_with("lora_B.weight") {
                v.set(
                    &Tensor::ones(v.dims(), DType::F32, &Device::Cpu)
                        .unwrap()
                        .affine(0.05, 0.0)
                        .unwrap(),
                )
                .unwrap();
            }
        }
        let eval = m.forward(&ids, None, None).unwrap();
        m.set_training(true);
        let t1 = m.forward(&ids, None, None).unwrap();
        let t2 = m.forward(&ids, None, None).unwrap();
        m.set_training(false);
        let eval2 = m.forward(&ids, None, None).unwrap();
        (eval, t1, t2, eval2)
    };
    let (eval, t1, t2, eval2) = run(3);
    assert_eq!(max_abs_diff(&eval, &eval2), 0.0);
    assert!(
        max_abs_diff(&eval, &t1) > 1e-4,
        "dropout inactive in training"
    );
    assert!(max_abs_diff(&t1, &t2) > 1e-4, "dropout masks repeat");
    let (_, t1_again, _, _) = run(3);
    assert_eq!(max_abs_diff(&t1, &t1_again), 0.0, "same seed, same masks");
}

#[test]
fn adapters_save_and_load_in_peft_layout() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("image", "input_ids"));
    let pv = r.pixels("image").unwrap();
    let mut m = model();
    let vars = m.add_lora(&LoraConfig::default()).unwrap();
    perturb_b(&vars);
    let want = m.forward(&ids, Some(&pv), None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    m.save_lora(tmp.path()).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 16);
    assert_eq!(cfg["lora_alpha"], 16);
    assert_eq!(cfg["target_modules"].as_array().unwrap().len(), 7);
    let st =
        candle_core::safetensors::load(tmp.path().join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    assert_eq!(st.len(), 42);
    assert!(st.contains_key(
        "base_model.model.language_model.model.layers.2.mlp.down_proj.lora_B.weight"
    ));

    let mut back = model();
    back.load_lora(tmp.path()).unwrap();
    let got = back.forward(&ids, Some(&pv), None).unwrap();
    assert_eq!(max_abs_diff(&want, &got), 0.0);
    assert!(
        model().save_lora(tmp.path()).is_err(),
        "saving without adapters must fail"
    );
}

#[test]
fn bad_configs_are_rejected() {
    let mut m = model();
    let err = m
        .add_lora(&LoraConfig {
            r: 0,
            ..Default::default()
        })
        .err()
        .unwrap();
    assert!(err.to_string().contains("lora.r"), "{err}");
    assert!(m
        .add_lora(&LoraConfig {
            dropout: 1.0,
            ..Default::default()
        })
        .is_err());
    let err = m
        .add_lora(&LoraConfig {
            targets: vec!["nope".into()],
            ..Default::default()
        })
        .err()
        .unwrap();
    assert!(err.to_string().contains("no linear layer matches"), "{err}");
}

#[test]
fn frozen_copy_is_independent_of_later_updates() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("text", "input_ids"));
    let mut m = model();
    let vars = m.add_lora(&LoraConfig::default()).unwrap();
    perturb_b(&vars);
    let frozen = m.frozen_copy().unwrap();
    assert!(frozen.lora_config().is_none());
    let want = m.forward(&ids, None, None).unwrap();
    assert!(max_abs_diff(&want, &frozen.forward(&ids, None, None).unwrap()) < 1e-4);
    perturb_b(&vars);
    let moved = m.forward(&ids, None, None).unwrap();
    assert!(max_abs_diff(&want, &moved) > 1e-3);
    assert!(max_abs_diff(&want, &frozen.forward(&ids, None, None).unwrap()) < 1e-4);
}
