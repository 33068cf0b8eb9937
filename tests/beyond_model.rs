//! The model side of the beyond numbers on the tiny fixture checkpoint and the sample
//! benchmark: a model against itself, truth ratios from the likelihoods reported, the
//! batched likelihood routine against the training loss's per-token log-probabilities on
//! one unpadded sample, the attack scores against their formulas, and relearning.

use candle_core::{DType, Device};
use mllmu::bench::{Bench, MiniConfig};
use mllmu::eval::beyond::likelihood::{answer_logprobs, scoring_collate};
use mllmu::eval::beyond::membership::{MiaScores, MIN_K};
use mllmu::eval::beyond::mia::{
    loss_score, min_k_pp_score, min_k_score, zlib_score, NextTokenMoments,
};
use mllmu::eval::beyond::truth_ratio::truth_ratio;
use mllmu::eval::beyond::BeyondOptions;
use mllmu::eval::items::EvalMode;
use mllmu::model::Model;
use mllmu::train::loss::{log_softmax, token_logprobs};
use mllmu::train::{PromptTemplate, Relearn, SampleSet};

fn tiny() -> (Model, Bench) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = Model::load_with(root.join("tiny-llava"), &Device::Cpu, DType::F32).unwrap();
    (model, Bench::open(root.join("mllmu-sample")).unwrap())
}

fn opts() -> BeyondOptions {
    BeyondOptions {
        retain_profiles: 2,
        batch_size: 3,
        ..BeyondOptions::default()
    }
}

/// Per-answer-token log-probabilities of one sample, alone in its batch, from the training
/// loss (`token_logprobs`), and the moments of each answer position's log-softmax row.
fn reference(
    model: &Model,
    set: &SampleSet,
    i: usize,
    template: PromptTemplate,
) -> (Vec<f64>, Vec<NextTokenMoments>) {
    let one = SampleSet {
        samples: vec![set.samples[i].clone()],
        ..set.clone()
    };
    let collate = scoring_collate(template, model.tokenizer.pad_id());
    let batch = collate
        .batch(&one.samples, &|t| model.tokenizer.encode(t), &Device::Cpu)
        .unwrap();
    let pixels = match (template, one.samples[0].image) {
        (PromptTemplate::Multimodal, Some(k)) => {
            let rgb = one.images[k].decode().unwrap();
            Some(
                model
                    .processor
                    .preprocess_batch(&[rgb], &Device::Cpu)
                    .unwrap(),
            )
        }
        _ => None,
    };
    let logits = model
        .llava
        .forward(
            &batch.input_ids,
            pixels.as_ref(),
            Some(&batch.attention_mask),
        )
        .unwrap();
    let tl = token_logprobs(&batch.pass(&logits)).unwrap();
    let lp = tl.logprobs.to_vec2::<f32>().unwrap().remove(0);
    let kept = tl.kept.to_vec2::<f32>().unwrap().remove(0);
    let rows = log_softmax(&logits)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap()
        .remove(0);
    let mut out = (Vec::new(), Vec::new());
    for t in 0..lp.len() {
        if kept[t] == 1.0 {
            out.0.push(lp[t] as f64);
            out.1.push(NextTokenMoments::from_log_probs(&rows[t]));
        }
    }
    out
}

#[test]
fn a_model_against_itself_has_forget_quality_1_and_privleak_0() {
    let (model, bench) = tiny();
    let split = bench.split(5).unwrap();
    let run = opts()
        .run(&model, Some((&model, "itself")), &split, None)
        .unwrap();
    let b = run.beyond;
    assert_eq!(b.forget_quality, Some(1.0));
    let own = run.retain_mia_auc.unwrap();
    assert_eq!(Some(own), b.mia_auc);
    if own.min_k_pp > 0.0 {
        assert_eq!(b.privleak, Some(0.0));
    } else {
        assert_eq!(b.privleak, None);
    }
    for v in [
        b.truth_ratio.forget,
        b.truth_ratio.test,
        b.truth_ratio.retain,
    ] {
        assert!(v.is_some_and(|v| (0.0..=1.0).contains(&v)), "{b:?}");
    }
    assert!(b.cross_modal_consistency.is_some());
    // Without a retain model, only the model's own numbers.
    let alone = opts().run(&model, None, &split, None).unwrap();
    assert_eq!(alone.beyond.forget_quality, None);
    assert_eq!(alone.beyond.privleak, None);
    assert_eq!(alone.beyond.truth_ratio, b.truth_ratio);
    assert_eq!(alone.beyond.mia_auc, b.mia_auc);
}

#[test]
fn truth_ratios_are_the_formula_on_the_reported_option_likelihoods() {
    let (model, bench) = tiny();
    let split = bench.split(5).unwrap();
    let m = opts().measure(&model, &split, None).unwrap();
    assert!(m.questions.iter().any(|q| q.set == EvalMode::Forget));
    assert!(m.questions.iter().any(|q| q.set == EvalMode::Test));
    for q in &m.questions {
        let d: Vec<f64> = (0..4)
            .filter(|&k| k != q.correct)
            .map(|k| q.option_loglik[k])
            .collect();
        assert_eq!(
            truth_ratio(q.option_loglik[q.correct], &d).unwrap(),
            q.truth_ratio
        );
    }
    // The forget profile's facts pair image question i with pure-text question i.
    let facts = m.facts();
    let n_img = m
        .questions
        .iter()
        .filter(|q| q.set == EvalMode::Forget && q.modality == mllmu::bench::Modality::ImageTextual)
        .count();
    assert!(!facts.is_empty() && facts.len() <= n_img);
}

#[test]
fn batched_answer_likelihoods_equal_the_training_losss_on_one_sample() {
    let (model, bench) = tiny();
    let split = bench.split(5).unwrap();
    let mut set = SampleSet::forget(&split).unwrap();
    set.samples.truncate(5);
    for template in [PromptTemplate::Multimodal, PromptTemplate::TextOnly] {
        let batched = answer_logprobs(&model, &set, template, 3).unwrap();
        for (i, a) in batched.iter().enumerate() {
            let (lp, moments) = reference(&model, &set, i, template);
            assert_eq!(a.logprobs.len(), lp.len(), "sample {i}");
            for (x, y) in a.logprobs.iter().zip(&lp) {
                assert!((x - y).abs() < 1e-4, "sample {i}: {x} vs {y}");
            }
            for (x, y) in a.moments.iter().zip(&moments) {
                assert!((x.mean - y.mean).abs() < 1e-4 && (x.variance - y.variance).abs() < 1e-3);
            }
        }
    }
}

#[test]
fn attack_scores_are_the_formulas_on_the_models_log_probs() {
    let (model, bench) = tiny();
    let split = bench.split(5).unwrap();
    let mut set = SampleSet::forget(&split).unwrap();
    set.samples.truncate(4);
    let s = MiaScores::measure(&model, &set, 4, MIN_K).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-4 * b.abs().max(1.0);
    for i in 0..set.samples.len() {
        let (lp, m) = reference(&model, &set, i, PromptTemplate::Multimodal);
        assert!(close(s.loss[i], loss_score(&lp).unwrap()), "{i}");
        assert!(close(
            s.zlib[i],
            zlib_score(&lp, &set.samples[i].answer).unwrap()
        ));
        assert!(close(s.min_k[i], min_k_score(&lp, MIN_K).unwrap()));
        assert!(close(
            s.min_k_pp[i],
            min_k_pp_score(&lp, &m, MIN_K).unwrap()
        ));
    }
}

#[test]
fn relearning_is_seeded_and_brings_the_held_back_answers_closer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MiniConfig {
        profiles: 20,
        celebrities: 1,
        ..MiniConfig::default()
    };
    let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg).unwrap()).unwrap();
    let split = bench.split(10).unwrap();
    let base = mllmu::model::embedded::write_mini_llava(dir.path().join("m")).unwrap();
    let model = Model::load(base, &Device::Cpu).unwrap();
    let mut r = Relearn::mini(0.5, 4);
    r.finetune.options.progress = false;
    let a = r.run(&model, &split).unwrap();
    let b = r.run(&model, &split).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.relearned.len(), a.held_back.len(), a.steps), (1, 1, 4));
    assert!(a.relearned[0] != a.held_back[0]);
    // Fine-tuning on one person's answers teaches the answer form the other shares.
    assert!(
        a.after.answer_nll < a.before.answer_nll,
        "{:?} -> {:?}",
        a.before,
        a.after
    );
    assert!(Relearn::mini(1.0, 4)
        .run(&model, &split)
        .unwrap_err()
        .to_string()
        .contains("--fraction"));
}
