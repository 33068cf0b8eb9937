//! Gradient coverage: every parameter that can influence the output receives a finite,
//! non-zero gradient from the masked cross-entropy loss (guards against candle ops without
//! a backward pass, which silently cut the graph), with full fine-tuning and with LoRA; and
//! a training step's logits, loss and gradients are the same bits on 1, 2 and 3 threads.

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

/// Central finite differences in float64 (the composite path) for a few entries of every
/// kind of weight, against the analytic gradient; then the float32 gradients of the fused
/// CPU kernels against the float64 ones. A gradient with the right sign but the wrong size
/// (which a one-step AdamW parity cannot see) fails here.
///
/// Everything agrees to 1e-4 of the largest entry, with and without padding, except for one
/// term explained in [`the_pad_before_bos_term_is_differentiated_as_pytorch_does`].
#[test]
fn gradients_match_finite_differences_without_padding() {
    let r = Reference::load();
    let (ids, _, _, pv) = batch(&r);
    let labels = ids.to_dtype(DType::I64).unwrap();
    let mask = Tensor::ones(ids.dims(), DType::U8, &Device::Cpu).unwrap();
    check_finite_differences(&ids, &labels, &mask, &pv, 1e-4);
}

/// The fixture's left-padded batch, without the one prediction a padding position makes
/// (the last pad predicting BOS; see the next test).
#[test]
fn gradients_match_finite_differences_with_left_padding() {
    let r = Reference::load();
    let (ids, labels, mask, pv) = batch(&r);
    let pads: Vec<usize> = mask
        .to_dtype(DType::U8)
        .unwrap()
        .to_vec2::<u8>()
        .unwrap()
        .iter()
        .map(|m| m.iter().take_while(|&&x| x == 0).count())
        .collect();
    assert!(
        pads.iter().any(|&p| p > 0),
        "the fixture batch is left-padded"
    );
    let mut rows: Vec<Vec<i64>> = labels.to_vec2().unwrap();
    for (row, &p) in rows.iter_mut().zip(&pads) {
        if p > 0 {
            row[p] = -100;
        }
    }
    let labels = Tensor::new(rows, &Device::Cpu).unwrap();
    check_finite_differences(&ids, &labels, &mask, &pv, 1e-4);
}

/// With transformers' labels the last left pad predicts BOS, so its output counts. Its
/// attention row has every key masked: `q·k + f32::MIN` rounds to `f32::MIN`, the forward
/// does not depend on those keys, yet the chain rule (ours and PyTorch's alike)
/// differentiates the unrounded sum. The attention keys' gradients then differ from finite
/// differences by 0.1-0.3 % (measured); every other weight still agrees to 1e-4.
#[test]
fn the_pad_before_bos_term_is_differentiated_as_pytorch_does() {
    let r = Reference::load();
    let (ids, labels, mask, pv) = batch(&r);
    check_finite_differences(&ids, &labels, &mask, &pv, 5e-3);
}

fn check_finite_differences(ids: &Tensor, labels: &Tensor, mask: &Tensor, pv: &Tensor, tol: f64) {
    // The token-mean NLL in the model's own precision (the library's loss works in f32).
    let (b, l) = ids.dims2().unwrap();
    let label_rows: Vec<Vec<i64>> = labels.to_vec2().unwrap();
    let mut kept = vec![0f64; b * (l - 1)];
    let mut targets = vec![0u32; b * (l - 1)];
    for row in 0..b {
        for t in 1..l {
            if label_rows[row][t] >= 0 {
                kept[row * (l - 1) + t - 1] = 1.0;
                targets[row * (l - 1) + t - 1] = label_rows[row][t] as u32;
            }
        }
    }
    let n: f64 = kept.iter().sum();
    let targets = Tensor::from_vec(targets, (b, l - 1, 1), &Device::Cpu).unwrap();
    let loss_of = |model: &Llava, dtype: DType| -> Tensor {
        let pv = pv.to_dtype(dtype).unwrap();
        let logits = model.forward(ids, Some(&pv), Some(mask)).unwrap();
        let logits = logits.narrow(1, 0, l - 1).unwrap().contiguous().unwrap();
        let max = logits.max_keepdim(2).unwrap().detach();
        let shifted = logits.broadcast_sub(&max).unwrap();
        let lse = shifted
            .exp()
            .unwrap()
            .sum_keepdim(2)
            .unwrap()
            .log()
            .unwrap();
        let logp = shifted
            .broadcast_sub(&lse)
            .unwrap()
            .gather(&targets, 2)
            .unwrap()
            .squeeze(2)
            .unwrap();
        let kept = Tensor::from_vec(kept.clone(), (b, l - 1), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        (logp * kept)
            .unwrap()
            .sum_all()
            .unwrap()
            .affine(-1.0 / n, 0.0)
            .unwrap()
    };
    let (m64, vars64) =
        Llava::load_trainable(fixture("tiny-llava"), &Device::Cpu, DType::F64).unwrap();
    let (m32, vars32) =
        Llava::load_trainable(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    let g64 = loss_of(&m64, DType::F64).backward().unwrap();
    let g32 = loss_of(&m32, DType::F32).backward().unwrap();
    let names = [
        "language_model.model.layers.0.self_attn.q_proj.weight",
        "language_model.model.layers.0.self_attn.k_proj.weight",
        "language_model.model.layers.1.self_attn.v_proj.weight",
        "language_model.model.layers.1.self_attn.o_proj.weight",
        "language_model.model.layers.0.mlp.gate_proj.weight",
        "language_model.model.layers.0.mlp.up_proj.weight",
        "language_model.model.layers.1.mlp.down_proj.weight",
        "language_model.model.layers.0.input_layernorm.weight",
        "language_model.model.norm.weight",
        "language_model.model.embed_tokens.weight",
        "language_model.lm_head.weight",
        "multi_modal_projector.linear_1.weight",
        "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
        "vision_tower.vision_model.encoder.layers.0.self_attn.k_proj.weight",
        "vision_tower.vision_model.encoder.layers.1.layer_norm1.weight",
    ];
    let d64 = vars64.data().lock().unwrap();
    let d32 = vars32.data().lock().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for name in names {
        let v = d64.get(name).unwrap_or_else(|| panic!("{name} missing"));
        let g = g64.get(v.as_tensor()).unwrap().flatten_all().unwrap();
        let gv: Vec<f64> = g.to_vec1().unwrap();
        let g32v: Vec<f32> = g32
            .get(d32[name].as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // The entries with the largest gradients, where a wrong size shows best.
        let mut order: Vec<usize> = (0..gv.len()).collect();
        order.sort_by(|&a, &b| gv[b].abs().total_cmp(&gv[a].abs()));
        let scale = gv[order[0]].abs();
        assert!(scale > 0.0, "{name}: zero gradient");
        let original = v
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for &k in order.iter().take(3) {
            let eps = 1e-5;
            let mut values = original.clone();
            values[k] += eps;
            v.set(&Tensor::from_vec(values.clone(), v.dims(), &Device::Cpu).unwrap())
                .unwrap();
            let plus = loss_of(&m64, DType::F64).to_scalar::<f64>().unwrap();
            values[k] -= 2.0 * eps;
            v.set(&Tensor::from_vec(values, v.dims(), &Device::Cpu).unwrap())
                .unwrap();
            let minus = loss_of(&m64, DType::F64).to_scalar::<f64>().unwrap();
            v.set(&Tensor::from_vec(original.clone(), v.dims(), &Device::Cpu).unwrap())
                .unwrap();
            let numeric = (plus - minus) / (2.0 * eps);
            if (numeric - gv[k]).abs() > 1e-9 + tol * scale {
                failures.push(format!(
                    "{name}[{k}]: analytic {} vs finite difference {numeric}",
                    gv[k]
                ));
            }
            if (f64::from(g32v[k]) - gv[k]).abs() > 1e-3 * scale {
                failures.push(format!(
                    "{name}[{k}]: float32 (fused) {} vs float64 {}",
                    g32v[k], gv[k]
                ));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * names.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_training_step_gives_the_same_bits_on_one_two_and_three_threads() {
    // The fused kernels split matrix products into blocks and sum row reductions in fixed
    // chunks, so logits, loss and every gradient must not depend on the thread count.
    let r = Reference::load();
    let (ids, labels, mask, pv) = batch(&r);
    let step = |threads: usize| -> Vec<(String, Vec<u32>)> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (model, vars) =
                Llava::load_trainable(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
            let logits = model.forward(&ids, Some(&pv), Some(&mask)).unwrap();
            let loss = token_mean_nll(&Pass::new(&logits, &labels, Some(&mask))).unwrap();
            let grads = mllmu::model::fused::backward(&loss).unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                v.iter().map(|f| f.to_bits()).collect()
            };
            let mut out = vec![
                ("logits".to_string(), bits(&logits)),
                ("loss".to_string(), bits(&loss)),
            ];
            let data = vars.data().lock().unwrap();
            let mut names: Vec<&String> = data.keys().collect();
            names.sort();
            for name in names {
                if let Some(g) = grads.get(data[name].as_tensor()) {
                    out.push((name.clone(), bits(g)));
                }
            }
            out
        })
    };
    let one = step(1);
    // 2 logits/loss entries and the 71 parameters that influence the output
    assert_eq!(one.len(), 2 + 89 - 18);
    for threads in [2, 3] {
        let other = step(threads);
        assert_eq!(one.len(), other.len());
        for ((name, a), (name_b, b)) in one.iter().zip(&other) {
            assert_eq!(name, name_b);
            assert!(a == b, "{name} differs between 1 and {threads} threads");
        }
    }
}
