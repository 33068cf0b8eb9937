//! Forward-pass semantics: padding masks, explicit positions, hidden states, dtypes.

mod model_common;

use candle_core::{DType, Device, Module, Tensor};
use mllmu::model::Llava;
use model_common::*;

fn model() -> Llava {
    Llava::load(fixture("tiny-llava"), &Device::Cpu, DType::F32).unwrap()
}

#[test]
fn padding_with_cumsum_positions_leaves_real_tokens_unchanged() {
    let r = Reference::load();
    let m = model();
    let ids = r.ids("image", "input_ids");
    let pv = r.pixels("image").unwrap();
    let plain = last(&m.forward(&ids_tensor(&ids), Some(&pv), None).unwrap());
    let pad = 5;
    let l = ids.len();
    // left padding, positions cumsum(mask) - 1 as generate uses them
    let mut left = vec![1457u32; pad];
    left.extend(&ids);
    let mask: Vec<u32> = (0..pad + l).map(|i| u32::from(i >= pad)).collect();
    let pos: Vec<u32> = (0..pad + l)
        .map(|i| if i < pad { 1 } else { (i - pad) as u32 })
        .collect();
    let mask = Tensor::from_vec(mask, (1, pad + l), &Device::Cpu).unwrap();
    let pos = Tensor::from_vec(pos, (1, pad + l), &Device::Cpu).unwrap();
    let out = m
        .forward_with_positions(&ids_tensor(&left), Some(&pv), Some(&mask), &pos)
        .unwrap();
    let d = max_abs_diff(&last(&out), &plain);
    assert!(d < 1e-5, "left padding changed the logits by {d}");
    // without the mask the pads leak into attention
    let leak = m
        .forward_with_positions(&ids_tensor(&left), Some(&pv), None, &pos)
        .unwrap();
    assert!(max_abs_diff(&last(&leak), &plain) > 1e-3);
    // right padding: the real positions are untouched
    let mut right = ids.clone();
    right.extend([1457u32; 4]);
    let rmask: Vec<u32> = (0..l + 4).map(|i| u32::from(i < l)).collect();
    let rmask = Tensor::from_vec(rmask, (1, l + 4), &Device::Cpu).unwrap();
    let out = m
        .forward(&ids_tensor(&right), Some(&pv), Some(&rmask))
        .unwrap();
    let d = max_abs_diff(
        &out.narrow(1, l - 1, 1).unwrap().flatten_all().unwrap(),
        &plain,
    );
    assert!(d < 1e-5, "right padding changed the logits by {d}");
}

#[test]
fn plain_forward_uses_positions_from_zero_even_when_left_padded() {
    // transformers' plain forward: position ids 0..L-1 regardless of padding
    let r = Reference::load();
    let m = model();
    let ids = r.ids("text", "input_ids");
    let mut left = vec![1457u32; 3];
    left.extend(&ids);
    let n = left.len();
    let mask = Tensor::from_vec(
        (0..n).map(|i| u32::from(i >= 3)).collect::<Vec<_>>(),
        (1, n),
        &Device::Cpu,
    )
    .unwrap();
    let pos = Tensor::arange(0u32, n as u32, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let a = m.forward(&ids_tensor(&left), None, Some(&mask)).unwrap();
    let b = m
        .forward_with_positions(&ids_tensor(&left), None, Some(&mask), &pos)
        .unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    // RoPE only sees position differences, so a uniform shift of the real tokens is harmless
    let unpadded = last(&m.forward(&ids_tensor(&ids), None, None).unwrap());
    assert!(max_abs_diff(&last(&a), &unpadded) < 1e-4);
    // but non-uniform positions change the result
    let zeros = Tensor::zeros((1, n), DType::U32, &Device::Cpu).unwrap();
    let c = m
        .forward_with_positions(&ids_tensor(&left), None, Some(&mask), &zeros)
        .unwrap();
    assert!(
        max_abs_diff(&last(&c), &unpadded) > 1e-3,
        "positions are ignored"
    );
}

#[test]
fn hidden_states_follow_transformers_layout() {
    let r = Reference::load();
    let m = model();
    let ids = ids_tensor(&r.ids("image", "input_ids"));
    let pv = r.pixels("image").unwrap();
    let out = m.forward_hidden_states(&ids, Some(&pv), None).unwrap();
    assert_eq!(out.hidden_states.len(), 4);
    for h in &out.hidden_states {
        assert_eq!(h.dims(), &[1, 62, 96]);
    }
    assert_eq!(
        max_abs_diff(&out.hidden_states[0], &m.embed(&ids, Some(&pv)).unwrap()),
        0.0
    );
    let logits = m.forward(&ids, Some(&pv), None).unwrap();
    assert_eq!(max_abs_diff(&out.logits, &logits), 0.0);
    let head = m.lm_head().forward(&out.hidden_states[3]).unwrap();
    assert_eq!(max_abs_diff(&head, &logits), 0.0);
    // the image positions hold the projected features, in order
    let feats = m.image_features(&pv).unwrap();
    let at_images = out.hidden_states[0].narrow(1, 3, 36).unwrap();
    assert_eq!(max_abs_diff(&at_images, &feats), 0.0);
}

#[test]
fn half_precision_stays_close_to_float32() {
    let r = Reference::load();
    let ids = ids_tensor(&r.ids("image", "input_ids"));
    let pv = r.pixels("image").unwrap();
    let want = r.tensor("image.logits_last");
    for dtype in [DType::BF16, DType::F16] {
        let m = Llava::load(fixture("tiny-llava"), &Device::Cpu, dtype).unwrap();
        let got = last(&m.forward(&ids, Some(&pv), None).unwrap());
        assert_eq!(got.dtype(), dtype);
        let d = max_abs_diff(&got, &want);
        println!("{dtype:?}: max |logit diff| = {d:.3e}");
        assert!(d < 5e-2 * 4.0, "{dtype:?}: {d}");
    }
}
