//! Collation against the transformers reference batch (`tiny-llava/reference`, case
//! `train_step`): the fixture tokenizer, `<image>` expanded to 36 tokens, left padding with
//! `<pad>` = 1457, labels on the answer span only.

use candle_core::{Device, Tensor};
use mllmu::train::{CollateOptions, LabelMask, PadSide, PromptTemplate, TrainSample};
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/tiny-llava";

fn encoder() -> impl Fn(&str) -> mllmu::Result<Vec<u32>> {
    let tok = tokenizers::Tokenizer::from_file(Path::new(FIXTURE).join("tokenizer.json")).unwrap();
    move |text: &str| {
        let enc = tok
            .encode(text, true)
            .map_err(|e| mllmu::Error::tokenizer("tokenizer.json", e))?;
        // The processor's expansion: each <image> (1456) becomes 36 copies.
        Ok(enc
            .get_ids()
            .iter()
            .flat_map(|&id| std::iter::repeat_n(id, if id == 1456 { 36 } else { 1 }))
            .collect())
    }
}

fn reference() -> serde_json::Value {
    let text =
        std::fs::read_to_string(Path::new(FIXTURE).join("reference/ref_logits.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["cases"]["train_step"].clone()
}

/// Splits `"USER: <image>\n{q}\nASSISTANT: {a}"` back into (q, a).
fn split(prompt: &str) -> (String, String) {
    let rest = prompt.strip_prefix("USER: <image>\n").unwrap();
    let (q, a) = rest.split_once("\nASSISTANT: ").unwrap();
    (q.to_string(), a.to_string())
}

fn samples(case: &serde_json::Value) -> Vec<TrainSample> {
    case["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (question, answer) = split(p.as_str().unwrap());
            TrainSample {
                image: Some(i),
                question,
                answer,
            }
        })
        .collect()
}

fn as_vec2_u32(v: &serde_json::Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

fn fixture_options() -> CollateOptions {
    CollateOptions {
        template: PromptTemplate::Multimodal,
        labels: LabelMask::AnswerOnly,
        append_eos: false,
        eos_id: 2,
        pad_id: 1457,
        padding_side: PadSide::Left,
        max_length: None,
    }
}

#[test]
fn reproduces_the_transformers_training_batch() {
    let case = reference();
    let encode = encoder();
    let batch = fixture_options()
        .batch(&samples(&case), &encode, &Device::Cpu)
        .unwrap();
    assert_eq!(
        batch.input_ids.to_vec2::<u32>().unwrap(),
        as_vec2_u32(&case["input_ids"])
    );
    assert_eq!(
        batch.attention_mask.to_vec2::<u32>().unwrap(),
        as_vec2_u32(&case["attention_mask"])
    );
    let tensors = candle_core::safetensors::load(
        Path::new(FIXTURE).join("reference/ref_logits.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let want_labels: Vec<Vec<i64>> = tensors["train_step.labels"].to_vec2::<i64>().unwrap();
    assert_eq!(batch.labels.to_vec2::<i64>().unwrap(), want_labels);
    let want_ids: Vec<Vec<i64>> = tensors["train_step.input_ids"].to_vec2::<i64>().unwrap();
    let got_ids: Vec<Vec<i64>> = batch
        .input_ids
        .to_dtype(candle_core::DType::I64)
        .unwrap()
        .to_vec2()
        .unwrap();
    assert_eq!(got_ids, want_ids);
    // The label spans recorded by the reference.
    let spans = case["labels_answer_spans"].as_array().unwrap();
    for (row, span) in spans.iter().enumerate() {
        let (s, e) = (
            span[0].as_u64().unwrap() as usize,
            span[1].as_u64().unwrap() as usize,
        );
        let labels = &want_labels[row];
        assert!(labels[..s].iter().all(|&l| l == -100) && labels[s..e].iter().all(|&l| l >= 0));
    }
    assert_eq!(batch.images, vec![Some(0), Some(1)]);
}

#[test]
fn reference_labels_are_the_ids_with_padding_masked() {
    let case = reference();
    let encode = encoder();
    let opts = CollateOptions {
        labels: LabelMask::AllTokens,
        ..fixture_options()
    };
    let batch = opts.batch(&samples(&case), &encode, &Device::Cpu).unwrap();
    let ids = as_vec2_u32(&case["input_ids"]);
    let labels = batch.labels.to_vec2::<i64>().unwrap();
    for (row_ids, row_labels) in ids.iter().zip(&labels) {
        for (&id, &l) in row_ids.iter().zip(row_labels) {
            assert_eq!(l, if id == 1457 { -100 } else { id as i64 });
        }
    }
    // transformers keeps position t when mask[t+1] != 0: row 0 scores its 67 successors of
    // position 0; the left-padded row (56 tokens) also scores its BOS, predicted from the
    // last pad position, so all 56 of its tokens count.
    let logits = Tensor::zeros(
        (2, ids[0].len(), 1472),
        candle_core::DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let tl = mllmu::train::loss::token_logprobs(&batch.pass(&logits)).unwrap();
    assert_eq!(tl.tokens, vec![67, 56]);
}

#[test]
fn answer_only_with_eos_learns_the_answer_and_stop() {
    let case = reference();
    let encode = encoder();
    let opts = CollateOptions {
        pad_id: 1457,
        ..CollateOptions::answer_only()
    };
    let s = &samples(&case)[1];
    let e = opts.encode(s, &encode).unwrap();
    assert_eq!(*e.ids.last().unwrap(), 2);
    let learned: Vec<u32> = e
        .labels
        .iter()
        .filter(|&&l| l >= 0)
        .map(|&l| l as u32)
        .collect();
    // Unpadded, this row has 56 tokens and its answer span starts at 65 - 12 = 53: the
    // three answer tokens, then EOS.
    assert_eq!(e.ids.len(), 57);
    assert_eq!(learned.len(), 4);
    assert_eq!(&learned[..3], &e.ids[53..56]);
    assert!(e.labels[..53].iter().all(|&l| l == -100));
}
