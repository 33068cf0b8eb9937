//! One full-weight optimizer step of the trainer on the fixture's reference training batch
//! matches transformers 4.45.1 + `transformers.AdamW` (lr 1e-3): the loss before, the first
//! values of four tensors after the step, and the loss after.

mod train_run_common;

use candle_core::{DType, Device, Tensor};
use mllmu::train::collate::Batch;
use mllmu::train::loss::token_mean_nll;
use mllmu::train::objectives::{Nll, ObjectiveSpec};
use mllmu::train::{SampleSet, TrainData, TrainOptions, Trainer};
use train_run_common::*;

#[test]
fn one_full_weight_adamw_step_matches_transformers() {
    let dir = fixture("tiny-llava/reference");
    let json: serde_json::Value = mllmu::io::read_json(&dir.join("ref_logits.json")).unwrap();
    let case = &json["cases"]["train_step"];
    let t =
        candle_core::safetensors::load(dir.join("ref_logits.safetensors"), &Device::Cpu).unwrap();
    let ids = t["train_step.input_ids"].to_dtype(DType::U32).unwrap();
    let labels = t["train_step.labels"].clone();
    let mask_rows: Vec<Vec<u32>> = case["attention_mask"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let lengths = mask_rows
        .iter()
        .map(|r| r.iter().sum::<u32>() as usize)
        .collect();
    let attention_mask = Tensor::new(mask_rows, &Device::Cpu).unwrap();
    let pixels = Tensor::cat(
        &[
            &t["image.pixel_values"],
            &t["image_eval_gen_prompt.pixel_values"],
        ],
        0,
    )
    .unwrap();
    let batch = Batch {
        input_ids: ids,
        attention_mask,
        labels,
        images: vec![Some(0), Some(1)],
        lengths,
    };

    let base = base();
    let bench = mllmu::bench::Bench::open(fixture("mllmu-sample")).unwrap();
    let data = TrainData {
        primary: first(&SampleSet::from_bench(&bench, "ft").unwrap(), 4),
        retain: None,
    };
    let options = TrainOptions {
        lr: 1e-3,
        lora: None,
        ..quiet()
    };
    let mut trainer = Trainer::new(
        &base,
        ObjectiveSpec::Finetune(Nll::default()),
        data,
        options,
        None,
    )
    .unwrap();
    assert_eq!(trainer.trainable_names().len(), 89);

    let loss = trainer.step_on_batch(&batch, Some(&pixels)).unwrap();
    let want = case["loss_before"].as_f64().unwrap();
    assert!((loss - want).abs() < 1e-5, "loss before {loss} vs {want}");

    println!(
        "loss before: {loss} vs {want} (diff {:.2e})",
        (loss - want).abs()
    );
    let mut worst = 0f64;
    let params: std::collections::HashMap<String, Tensor> =
        trainer.model().named_tensors().into_iter().collect();
    for (name, values) in case["params_after_step_first_5"].as_object().unwrap() {
        let got = params[name]
            .flatten_all()
            .unwrap()
            .narrow(0, 0, 5)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (g, w) in got.iter().zip(values.as_array().unwrap()) {
            let w = w.as_f64().unwrap();
            worst = worst.max((*g as f64 - w).abs());
            assert!((*g as f64 - w).abs() < 1e-6, "{name}: {got:?} vs {values}");
        }
    }
    println!("params after step: max abs diff {worst:.2e}");
    let logits = trainer
        .model()
        .forward(&batch.input_ids, Some(&pixels), Some(&batch.attention_mask))
        .unwrap();
    let after = scalar(&token_mean_nll(&batch.pass(&logits)).unwrap());
    let want = case["loss_after_step"].as_f64().unwrap();
    println!(
        "loss after: {after} vs {want} (diff {:.2e})",
        (after - want).abs()
    );
    assert!((after - want).abs() < 1e-4, "loss after {after} vs {want}");
    assert_eq!(trainer.state().step, 1);
}
