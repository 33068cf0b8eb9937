//! Gradient coverage: every parameter that can influence the output receives a finite,
//! non-zero gradient from the masked cross-entropy loss (guards against candle ops without
//! a backward pass, which silently cut the graph), with full fine-tuning and with LoRA.

mod model_common;

use candle_core::{DType, Device, Tensor, Var};
use mllmu::model::lora::peft_key;
use mllmu::model::{Llava, LoraConfig};
use mllmu::train::loss::{token_mean_nll, Pass};
use model_common::*;

/// The left-padded training batch of the fixture with the benchmark's labels (every
/// non-pad token), so padded rows and fully masked attention rows are exercised.
fn batch(r: &Reference) -> (Tensor, Tensor, Tensor, Tensor) {
    let ids = r
        .tensor("train_step.input_ids")
        .to_dtype(DType::U32)
        .unwrap();
    let mask = ids.ne(1457u32).unwrap();
    let labels = mask
        .where_cond(
            &ids.to_dtype(DType::I64).unwrap(),
            &Tensor::full(-100i64, ids.dims(), &Device::Cpu).unwrap(),
        )
        .unwrap();
    let pv = Tensor::cat(
        &[
            r.pixels("image").unwrap(),
            r.pixels("image_eval_gen_prompt").unwrap(),
        ],
        0,
    )
    .unwrap();
    (ids, labels, mask, pv)
}

/// Parameters that cannot influence the output: with `vision_feature_layer = -2` the last
/// CLIP encoder layer (index 2 of 3) and `post_layernorm` are never run.
fn unused_parameters() -> Vec<String> {
    let mut v: Vec<String> = [
        "q_proj", "k_proj", "v_proj", "out_proj", "mlp.fc1", "mlp.fc2",
    ]
    .iter()
    .flat_map(|n| {
        let p = if n.starts_with("mlp") {
            n.to_string()
        } else {
            format!("self_attn.{n}")
        };
        ["weight", "bias"].map(|s| format!("vision_tower.vision_model.encoder.layers.2.{p}.{s}"))
    })
    .collect();
    for n in ["layer_norm1", "layer_norm2"] {
        for s in ["weight", "bias"] {
            v.push(format!(
                "vision_tower.vision_model.encoder.layers.2.{n}.{s}"
            ));
        }
    }
    v.push("vision_tower.vision_model.post_layernorm.weight".into());
    v.push("vision_tower.vision_model.post_layernorm.bias".into());
    v
}

fn abs_sum(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn full_fine_tuning_reaches_every_parameter_that_matters() {
    let r = Reference::load();
    let (model, vars) =
        Llava::load_trainable(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let (ids, labels, mask, pv) = batch(&r);
    let logits = model.forward(&ids, Some(&pv), Some(&mask)).unwrap();
    let loss = token_mean_nll(&Pass::new(&logits, &labels, Some(&mask))).unwrap();
    let grads = loss.backward().unwrap();
    let unused = unused_parameters();
    assert_eq!(unused.len(), 18);
    let data = vars.data().lock().unwrap();
    assert_eq!(data.len(), 89);
    for (name, var) in data.iter() {
        let g = grads.get(var.as_tensor());
        if unused.contains(name) {
            assert!(
                g.is_none(),
                "{name} cannot influence the output but got a gradient"
            );
            continue;
        }
        let g = g.unwrap_or_else(|| panic!("{name}: no gradient"));
        let s = abs_sum(g);
        assert!(s.is_finite() && s > 0.0, "{name}: gradient sum |g| = {s}");
    }
}

fn lora_case(cfg: &LoraConfig, expected_adapters: usize, dead_prefix: Option<&str>) {
    let r = Reference::load();
    let mut model = Llava::load(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let lora = model.add_lora(cfg).unwrap();
    let (ids, labels, mask, pv) = batch(&r);
    let run = |model: &Llava| {
        let logits = model.forward(&ids, Some(&pv), Some(&mask)).unwrap();
        token_mean_nll(&Pass::new(&logits, &labels, Some(&mask)))
            .unwrap()
            .backward()
            .unwrap()
    };
    let data = lora.data().lock().unwrap();
    assert_eq!(data.len(), 2 * expected_adapters);
    let adapted: Vec<String> = model
        .linears()
        .iter()
        .filter(|l| l.lora.is_some())
        .map(|l| l.name.clone())
        .collect();
    assert_eq!(adapted.len(), expected_adapters);
    let dead = |name: &str| dead_prefix.is_some_and(|p| name.starts_with(p));

    // B = 0 at first: B's gradient is already non-zero, A's is zero.
    let grads = run(&model);
    for lin in &adapted {
        let (a, b) = (&data[&peft_key(lin, "A")], &data[&peft_key(lin, "B")]);
        if dead(lin) {
            assert!(
                grads.get(a.as_tensor()).is_none() && grads.get(b.as_tensor()).is_none(),
                "{lin}"
            );
            continue;
        }
        let gb = abs_sum(
            grads
                .get(b.as_tensor())
                .unwrap_or_else(|| panic!("{lin}: no B gradient")),
        );
        assert!(gb.is_finite() && gb > 0.0, "{lin}: B gradient {gb}");
        assert_eq!(
            abs_sum(grads.get(a.as_tensor()).unwrap()),
            0.0,
            "{lin}: A gradient while B = 0"
        );
    }
    // Frozen base weights carry no gradient.
    for (name, t) in model.named_tensors() {
        assert!(grads.get(&t).is_none(), "frozen {name} got a gradient");
    }

    // With B non-zero, A learns too.
    for lin in &adapted {
        let b = &data[&peft_key(lin, "B")];
        b.set(&Tensor::randn(0f32, 0.1, b.dims(), &Device::Cpu).unwrap())
            .unwrap();
    }
    let grads = run(&model);
    for lin in adapted.iter().filter(|l| !dead(l)) {
        let ga = abs_sum(grads.get(data[&peft_key(lin, "A")].as_tensor()).unwrap());
        assert!(ga.is_finite() && ga > 0.0, "{lin}: A gradient {ga}");
    }
}

#[test]
fn lora_adapters_get_gradients_and_the_base_none() {
    // 3 decoder layers × q/k/v/o/gate/up/down
    lora_case(&LoraConfig::default(), 21, None);
}

#[test]
fn reference_lora_also_adapts_vision_qkv() {
    // + 3 CLIP layers × q/k/v; the last CLIP layer is never run, so its adapters stay idle
    lora_case(
        &LoraConfig::reference(),
        30,
        Some("vision_tower.vision_model.encoder.layers.2."),
    );
}

#[test]
fn vars_share_storage_with_the_model() {
    // An optimiser step on the VarMap must be seen by the model.
    let r = Reference::load();
    let (model, vars) =
        Llava::load_trainable(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let ids = ids_tensor(&r.ids("text", "input_ids"));
    let before = model.forward(&ids, None, None).unwrap();
    let data = vars.data().lock().unwrap();
    let head: &Var = &data["language_model.lm_head.weight"];
    head.set(&(head.as_tensor() * 2.0).unwrap()).unwrap();
    let after = model.forward(&ids, None, None).unwrap();
    let d = max_abs_diff(&(before * 2.0).unwrap(), &after);
    assert!(
        d < 1e-4,
        "doubling the head should double the logits (diff {d})"
    );
}
