//! Tokenizer parity with transformers 4.45.1 (`LlavaProcessor` / `LlamaTokenizerFast`) on the
//! reference prompts: ids, `<image>` expansion, decoding, the padded training batch.

use std::path::{Path, PathBuf};

use candle_core::Device;
use mllmu::model::tokenizer::{LlavaTokenizer, PaddingSide};
use serde_json::Value;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llava")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(model_dir().join("reference/ref_logits.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn tokenizer() -> LlavaTokenizer {
    LlavaTokenizer::from_dir(model_dir()).unwrap()
}

/// The generation cases (those with a prompt and greedy output).
fn generation_cases(r: &Value) -> Vec<(String, Value)> {
    let cases: Vec<_> = r["cases"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| c.get("prompt").is_some())
        .map(|(n, c)| (n.clone(), c.clone()))
        .collect();
    assert_eq!(cases.len(), 4);
    cases
}

#[test]
fn special_ids_and_image_length() {
    let tok = tokenizer();
    assert_eq!((tok.bos_id(), tok.eos_id(), tok.pad_id()), (1, 2, 1457));
    assert_eq!(tok.image_token_id(), 1456);
    assert_eq!(tok.image_seq_len(), 36);
    assert_eq!(tok.padding_side(), PaddingSide::Left);
    assert_eq!(tok.model_max_length(), 1024);
    assert_eq!(tok.vocab_size(), 1458);
}

#[test]
fn prompts_tokenize_like_the_processor() {
    let tok = tokenizer();
    let r = reference();
    for (name, case) in generation_cases(&r) {
        let prompt = case["prompt"].as_str().unwrap();
        let got = tok.encode(prompt).unwrap();
        assert_eq!(got, ids(&case["input_ids"]), "case {name}");
        assert_eq!(
            got.len() as u64,
            case["prompt_len"].as_u64().unwrap(),
            "case {name}"
        );
        let n_img = got.iter().filter(|&&i| i == tok.image_token_id()).count();
        // the text-only case has no `n_image_tokens` field
        assert_eq!(
            n_img as u64,
            case["n_image_tokens"].as_u64().unwrap_or(0),
            "case {name}"
        );
        assert_eq!(
            n_img,
            tok.count_images(prompt) * tok.image_seq_len(),
            "case {name}"
        );
        if let Some(unexpanded) = case.get("input_ids_unexpanded") {
            assert_eq!(
                tok.encode_unexpanded(prompt).unwrap(),
                ids(unexpanded),
                "case {name}"
            );
        }
    }
}

#[test]
fn greedy_outputs_decode_like_transformers() {
    let tok = tokenizer();
    let r = reference();
    for (name, case) in generation_cases(&r) {
        let greedy = &case["greedy"];
        let new_ids = ids(&greedy["new_ids"]);
        assert_eq!(
            tok.decode(&new_ids, true).unwrap(),
            greedy["new_text"].as_str().unwrap(),
            "case {name}"
        );
        let mut full = ids(&case["input_ids"]);
        full.extend(&new_ids);
        let eval = tok.eval_style_decode(&full).unwrap();
        assert_eq!(
            eval,
            greedy["eval_style_decode"].as_str().unwrap(),
            "case {name}"
        );
    }
}

#[test]
fn byte_tokens_decode_to_nul_and_replacement_char() {
    let tok = tokenizer();
    let r = reference();
    // `text` ends in <0x00> (id 3) and holds <0x75>; `image_eval_gen_prompt` a lone byte
    let text = tok
        .decode(&ids(&r["cases"]["text"]["greedy"]["new_ids"]), true)
        .unwrap();
    assert!(text.ends_with('\u{0}'), "{text:?}");
    let lone = tok
        .decode(
            &ids(&r["cases"]["image_eval_gen_prompt"]["greedy"]["new_ids"]),
            true,
        )
        .unwrap();
    assert!(lone.contains('\u{FFFD}'), "{lone:?}");
    assert_eq!(tok.decode(&[3 + 0x75], true).unwrap(), "u");
}

#[test]
fn training_batch_ids_mask_and_labels() {
    let tok = tokenizer();
    let r = reference();
    let case = &r["cases"]["train_step"];
    let prompts: Vec<&str> = case["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let seqs: Vec<Vec<u32>> = prompts.iter().map(|p| tok.encode(p).unwrap()).collect();
    // the 4.45.1 processor pads on tokenizer_config's side even when "right" was requested
    assert_eq!(case["padding_side_effective"], "left");
    let (batch, mask) = tok.pad_batch(&seqs, tok.padding_side());

    let tensors = candle_core::safetensors::load(
        model_dir().join("reference/ref_logits.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let want_ids: Vec<Vec<i64>> = tensors["train_step.input_ids"].to_vec2().unwrap();
    let got_ids: Vec<Vec<i64>> = batch
        .iter()
        .map(|row| row.iter().map(|&i| i64::from(i)).collect())
        .collect();
    assert_eq!(got_ids, want_ids);
    let want_mask: Vec<Vec<u32>> = case["attention_mask"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    assert_eq!(mask, want_mask);

    // answer span: the tokens after "ASSISTANT:", found by tokenizing the prompt part alone
    let want_labels: Vec<Vec<i64>> = tensors["train_step.labels"].to_vec2().unwrap();
    let spans = case["labels_answer_spans"].as_array().unwrap();
    for (row, prompt) in prompts.iter().enumerate() {
        let cut = prompt.find("ASSISTANT:").unwrap() + "ASSISTANT:".len();
        let prefix_len = tok.encode(&prompt[..cut]).unwrap().len();
        let pad = batch[row].len() - seqs[row].len();
        let span = (pad + prefix_len, batch[row].len());
        assert_eq!(
            ids(&spans[row]),
            vec![span.0 as u32, span.1 as u32],
            "row {row}"
        );
        let labels: Vec<i64> = (0..batch[row].len())
            .map(|t| {
                if (span.0..span.1).contains(&t) {
                    i64::from(batch[row][t])
                } else {
                    -100
                }
            })
            .collect();
        assert_eq!(labels, want_labels[row], "row {row}");
    }
}

#[test]
fn right_padding_is_available() {
    let tok = tokenizer();
    let (ids, mask) = tok.pad_batch(&[vec![1, 2], vec![1, 2, 3, 4]], PaddingSide::Right);
    assert_eq!(ids[0], vec![1, 2, 1457, 1457]);
    assert_eq!(mask, vec![vec![1, 1, 0, 0], vec![1, 1, 1, 1]]);
}

/// A copy of the fixture model folder without weights, to break one file at a time.
fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "processor_config.json",
    ] {
        std::fs::copy(model_dir().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn missing_files_are_named() {
    for f in ["tokenizer.json", "tokenizer_config.json", "config.json"] {
        let dir = copy_fixture();
        std::fs::remove_file(dir.path().join(f)).unwrap();
        let err = LlavaTokenizer::from_dir(dir.path()).unwrap_err();
        assert!(
            matches!(err, mllmu::Error::MissingFile { .. }),
            "{f}: {err}"
        );
        assert!(err.to_string().contains(f), "{f}: {err}");
    }
}

#[test]
fn corrupt_tokenizer_is_a_tokenizer_error() {
    let dir = copy_fixture();
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let err = LlavaTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, mllmu::Error::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn inconsistent_configs_are_rejected() {
    let dir = copy_fixture();
    let cfg = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        cfg.replace("\"image_seq_length\": 36", "\"image_seq_length\": 576"),
    )
    .unwrap();
    let err = LlavaTokenizer::from_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `image_seq_length`") && err.contains("36"),
        "{err}"
    );

    let dir = copy_fixture();
    let proc = std::fs::read_to_string(dir.path().join("processor_config.json")).unwrap();
    std::fs::write(
        dir.path().join("processor_config.json"),
        proc.replace("\"default\"", "\"cls\""),
    )
    .unwrap();
    let err = LlavaTokenizer::from_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `vision_feature_select_strategy`"),
        "{err}"
    );
}

#[test]
fn bos_eos_flags_rebuild_the_template() {
    let dir = copy_fixture();
    let cfg = std::fs::read_to_string(dir.path().join("tokenizer_config.json")).unwrap();
    let cfg = cfg.replace("\"add_bos_token\": true", "\"add_bos_token\": false");
    let cfg = cfg.replace("\"add_eos_token\": false", "\"add_eos_token\": true");
    std::fs::write(dir.path().join("tokenizer_config.json"), cfg).unwrap();
    let tok = LlavaTokenizer::from_dir(dir.path()).unwrap();
    let plain = tokenizer().encode("USER: hi").unwrap();
    let flipped = tok.encode("USER: hi").unwrap();
    assert_eq!(plain[0], 1);
    let mut expect = plain[1..].to_vec();
    expect.push(2);
    assert_eq!(flipped, expect);
}

#[test]
fn processor_config_fallbacks_come_from_config_json() {
    let dir = copy_fixture();
    std::fs::remove_file(dir.path().join("processor_config.json")).unwrap();
    let tok = LlavaTokenizer::from_dir(dir.path()).unwrap();
    // config.json: image_size 42, patch_size 7, strategy "default" → 36
    assert_eq!(tok.image_seq_len(), 36);
    assert_eq!(tok.image_token(), "<image>");
}
