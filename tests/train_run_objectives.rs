//! Every objective through the trainer's own passes on the real tiny model: its loss on a
//! fixed micro-batch equals the formula computed here by hand (from separately computed
//! NLLs, logits or hidden states), and one optimizer step moves the forget data the
//! intended way.

mod train_run_common;

use candle_core::{Device, Tensor};
use mllmu::model::{Llava, LoraConfig, Model};
use mllmu::train::collate::Batch;
use mllmu::train::loss::{sequence_nll, token_mean_nll};
use mllmu::train::objectives::*;
use mllmu::train::{SampleSet, TrainData, TrainOptions, Trainer, Unit, Unlearn};
use std::sync::OnceLock;
use train_run_common::*;

struct Ctx {
    base: Model,
    forget: SampleSet,
    retain: SampleSet,
}

fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| {
        let bench = mini();
        Ctx {
            base: base(),
            forget: first(&SampleSet::from_bench(&bench, "forget_15").unwrap(), 4),
            retain: first(&SampleSet::from_bench(&bench, "retain_85").unwrap(), 4),
        }
    })
}

const SEED: u64 = 5;

fn trainer(objective: ObjectiveSpec) -> Trainer {
    let c = ctx();
    let mut u = Unlearn::with_objective(objective);
    u.options = TrainOptions {
        lr: 1e-3,
        batch_size: 2,
        seed: SEED,
        lora: Some(LoraConfig {
            dropout: 0.0,
            ..LoraConfig::default()
        }),
        ..quiet()
    };
    u.trainer(
        &c.base,
        TrainData {
            primary: c.forget.clone(),
            retain: Some(c.retain.clone()),
        },
    )
    .unwrap()
}

struct Enc {
    batch: Batch,
    pixels: Option<Tensor>,
}

fn enc(t: &Trainer, set: &SampleSet) -> Enc {
    let samples = &set.samples[..2];
    let tok = &ctx().base.tokenizer;
    let batch = t
        .collate()
        .batch(samples, &|s| tok.encode(s), &Device::Cpu)
        .unwrap();
    let pixels = pixels(&ctx().base, set, &batch);
    Enc { batch, pixels }
}

fn logits(m: &Llava, e: &Enc) -> Tensor {
    m.forward(
        &e.batch.input_ids,
        e.pixels.as_ref(),
        Some(&e.batch.attention_mask),
    )
    .unwrap()
}

fn nll(m: &Llava, e: &Enc) -> f64 {
    scalar(&token_mean_nll(&e.batch.pass(&logits(m, e))).unwrap())
}

fn seq(m: &Llava, e: &Enc) -> (Vec<f64>, Vec<usize>) {
    let (s, n) = sequence_nll(&e.batch.pass(&logits(m, e))).unwrap();
    (
        s.to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        n,
    )
}

fn logsig(x: f64) -> f64 {
    -(1.0 + (-x).exp()).ln()
}

fn both() -> Unit {
    Unit {
        primary: Some(vec![0, 1]),
        retain: Some(vec![0, 1]),
    }
}

fn forget_only() -> Unit {
    Unit {
        primary: Some(vec![0, 1]),
        retain: None,
    }
}

fn retain_only() -> Unit {
    Unit {
        primary: None,
        retain: Some(vec![0, 1]),
    }
}

/// A first step (so the model differs from the reference), then the loss on `unit`.
fn loss_after_one_step(t: &mut Trainer, unit: &Unit) -> f64 {
    t.step_on(unit).unwrap();
    scalar(&t.objective_loss(unit).unwrap())
}

fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 2e-5 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

fn vanilla() -> &'static Llava {
    &ctx().base.llava
}

#[test]
fn finetune_is_the_nll_and_lowers_it() {
    let mut t = trainer(ObjectiveSpec::Finetune(Nll::default()));
    let f = enc(&t, &ctx().forget);
    let got = loss_after_one_step(&mut t, &forget_only());
    let before = nll(t.model(), &f);
    close(got, before);
    t.step_on(&forget_only()).unwrap();
    assert!(nll(t.model(), &f) < before);
}

#[test]
fn grad_ascent_is_minus_the_nll_and_raises_it() {
    let mut t = trainer(ObjectiveSpec::GradAscent(GradAscent::default()));
    let f = enc(&t, &ctx().forget);
    // The first step's loss is −NLL of the starting model.
    close(t.step_on(&forget_only()).unwrap(), -nll(vanilla(), &f));
    let before = nll(t.model(), &f);
    close(scalar(&t.objective_loss(&forget_only()).unwrap()), -before);
    t.step_on(&forget_only()).unwrap();
    assert!(nll(t.model(), &f) > before);
}

#[test]
fn grad_diff_in_sequence_and_paired() {
    let mut t = trainer(ObjectiveSpec::GradDiff(GradDiff::default()));
    assert_eq!(t.plan().stepping, mllmu::train::Stepping::PerEpoch);
    let (f, r) = (enc(&t, &ctx().forget), enc(&t, &ctx().retain));
    close(
        loss_after_one_step(&mut t, &forget_only()),
        -nll(t.model(), &f),
    );
    close(
        scalar(&t.objective_loss(&retain_only()).unwrap()),
        nll(t.model(), &r),
    );
    let (nf, nr) = (nll(t.model(), &f), nll(t.model(), &r));
    t.step_on(&forget_only()).unwrap();
    assert!(nll(t.model(), &f) > nf);
    let nr_mid = nll(t.model(), &r);
    t.step_on(&retain_only()).unwrap();
    assert!(nll(t.model(), &r) < nr_mid, "{nr} {nr_mid}");

    let mut p = trainer(ObjectiveSpec::GradDiff(GradDiff {
        forget_weight: 0.5,
        retain_weight: 2.0,
        pairing: Pairing::Paired,
    }));
    let got = loss_after_one_step(&mut p, &both());
    close(got, -0.5 * nll(p.model(), &f) + 2.0 * nll(p.model(), &r));
}

/// KL(van ‖ cur) summed over every position and the vocabulary, divided by the batch size.
fn kl_batchmean(cur: &Tensor, van: &Tensor) -> f64 {
    let (c, v) = (cur.to_vec3::<f32>().unwrap(), van.to_vec3::<f32>().unwrap());
    let lsm = |row: &[f32]| -> Vec<f64> {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
        let s: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
        row.iter().map(|&x| x as f64 - m - s.ln()).collect()
    };
    let mut total = 0.0;
    for (cb, vb) in c.iter().zip(&v) {
        for (ct, vt) in cb.iter().zip(vb) {
            let (lc, lv) = (lsm(ct), lsm(vt));
            total += lv
                .iter()
                .zip(&lc)
                .map(|(a, b)| a.exp() * (a - b))
                .sum::<f64>();
        }
    }
    total / c.len() as f64
}

#[test]
fn kl_min_retain_step_is_nll_plus_summed_kl_to_the_vanilla_model() {
    let mut t = trainer(ObjectiveSpec::KlMin(KlMin::default()));
    let (f, r) = (enc(&t, &ctx().forget), enc(&t, &ctx().retain));
    // Move away from the vanilla model first (a forget step), then check the retain loss.
    t.step_on(&forget_only()).unwrap();
    t.step_on(&forget_only()).unwrap();
    let got = scalar(&t.objective_loss(&retain_only()).unwrap());
    let kl = kl_batchmean(&logits(t.model(), &r), &logits(vanilla(), &r));
    assert!(kl > 1e-4, "the model has not moved: {kl}");
    close(got, nll(t.model(), &r) + kl);
    close(
        scalar(&t.objective_loss(&forget_only()).unwrap()),
        -nll(t.model(), &f),
    );
    // A retain step pulls back towards the vanilla model.
    t.step_on(&retain_only()).unwrap();
    assert!(scalar(&t.objective_loss(&retain_only()).unwrap()) < got);
}

#[test]
fn npo_matches_the_batch_level_formula_and_raises_the_forget_nll() {
    let mut t = trainer(ObjectiveSpec::Npo(Npo::default()));
    let f = enc(&t, &ctx().forget);
    // At the start the model is its own reference: (2/β)·log 2.
    close(t.step_on(&forget_only()).unwrap(), 2.0 / 0.4 * 2f64.ln());
    let got = scalar(&t.objective_loss(&forget_only()).unwrap());
    let (cur, reference) = (nll(t.model(), &f), nll(vanilla(), &f));
    assert!(cur > reference);
    close(got, -2.0 / 0.4 * logsig(0.4 * (cur - reference)));
    t.step_on(&forget_only()).unwrap();
    assert!(nll(t.model(), &f) > cur);

    let mut s = trainer(ObjectiveSpec::Npo(Npo {
        form: NpoForm::SequenceSum,
        beta: 0.7,
        retain_weight: 0.0,
    }));
    let got = loss_after_one_step(&mut s, &forget_only());
    let ((c, _), (v, _)) = (seq(s.model(), &f), seq(vanilla(), &f));
    let want = -2.0 / 0.7 * (0..2).map(|i| logsig(0.7 * (c[i] - v[i]))).sum::<f64>() / 2.0;
    close(got, want);
}

#[test]
fn simnpo_matches_the_length_normalised_formula_with_retain() {
    let mut t = trainer(ObjectiveSpec::SimNpo(SimNpo::default()));
    let (f, r) = (enc(&t, &ctx().forget), enc(&t, &ctx().retain));
    let got = loss_after_one_step(&mut t, &both());
    let (s, n) = seq(t.model(), &f);
    let forget = -2.0 / 2.5
        * (0..2)
            .map(|i| logsig(2.5 * s[i] / n[i] as f64))
            .sum::<f64>()
        / 2.0;
    close(got, 0.1375 * forget + nll(t.model(), &r));
    // The forget term alone raises the forget NLL (with the default weights the retain
    // NLL, 7x heavier, dominates one step on this tiny model).
    let mut alone = trainer(ObjectiveSpec::SimNpo(SimNpo {
        forget_weight: 1.0,
        retain_weight: 0.0,
        ..SimNpo::default()
    }));
    alone.step_on(&forget_only()).unwrap();
    let before = nll(alone.model(), &f);
    alone.step_on(&forget_only()).unwrap();
    assert!(nll(alone.model(), &f) > before);
}

#[test]
fn idk_nll_learns_the_refusals() {
    let mut t = trainer(ObjectiveSpec::IdkNll(IdkNll::default()));
    let idk_set = ctx().forget.with_idk_answers(SEED);
    let (i, r) = (enc(&t, &idk_set), enc(&t, &ctx().retain));
    assert!(mllmu::train::objectives::IDK_TEMPLATES.contains(&idk_set.samples[0].answer.as_str()));
    let got = loss_after_one_step(&mut t, &both());
    close(got, nll(t.model(), &i) + nll(t.model(), &r));
    let before = nll(t.model(), &i);
    t.step_on(&both()).unwrap();
    assert!(nll(t.model(), &i) < before);
}

#[test]
fn idk_dpo_prefers_the_refusal_over_the_answer() {
    let mut t = trainer(ObjectiveSpec::IdkDpo(IdkDpo::default()));
    let (w, l) = (
        enc(&t, &ctx().forget.with_idk_answers(SEED)),
        enc(&t, &ctx().forget),
    );
    let got = loss_after_one_step(&mut t, &forget_only());
    let ((sw, _), (sl, _)) = (seq(t.model(), &w), seq(t.model(), &l));
    let ((rw, _), (rl, _)) = (seq(vanilla(), &w), seq(vanilla(), &l));
    let want = -(0..2)
        .map(|k| logsig(0.1 * ((-sw[k] + rw[k]) - (-sl[k] + rl[k]))))
        .sum::<f64>()
        / 2.0;
    close(got, want);
    let gap = |t: &Trainer| {
        let ((a, _), (b, _)) = (seq(t.model(), &w), seq(t.model(), &l));
        a.iter().sum::<f64>() - b.iter().sum::<f64>()
    };
    let before = gap(&t);
    t.step_on(&forget_only()).unwrap();
    assert!(
        gap(&t) < before,
        "refusals did not become relatively likelier"
    );
}

#[test]
fn rmu_steers_the_forget_states_towards_the_control_vector() {
    let rmu = Rmu {
        layer: 1,
        update_layers: vec![0, 1],
        ..Rmu::default()
    };
    let mut t = trainer(ObjectiveSpec::Rmu(rmu.clone()));
    // Only the down projections of layers 0 and 1 train (LoRA A and B of each).
    assert_eq!(t.trainable_names().len(), 4);
    assert!(t
        .trainable_names()
        .iter()
        .all(|n| n.contains("mlp.down_proj")));
    let (f, r) = (enc(&t, &ctx().forget), enc(&t, &ctx().retain));
    let control = rmu
        .control_vector(96, &Device::Cpu)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let states = |m: &Llava, e: &Enc| -> Vec<Vec<Vec<f32>>> {
        m.forward_hidden_states(
            &e.batch.input_ids,
            e.pixels.as_ref(),
            Some(&e.batch.attention_mask),
        )
        .unwrap()
        .hidden_states[2]
            .to_vec3::<f32>()
            .unwrap()
    };
    let mse = |a: &[Vec<Vec<f32>>], b: &dyn Fn(usize, usize, usize) -> f32| {
        let (mut s, mut n) = (0.0, 0usize);
        for (i, x) in a.iter().enumerate() {
            for (j, y) in x.iter().enumerate() {
                for (k, &z) in y.iter().enumerate() {
                    s += ((z - b(i, j, k)) as f64).powi(2);
                    n += 1;
                }
            }
        }
        s / n as f64
    };
    let got = loss_after_one_step(&mut t, &both());
    let (hf, hr, h0) = (
        states(t.model(), &f),
        states(t.model(), &r),
        states(vanilla(), &r),
    );
    let forget_term = mse(&hf, &|_, _, k| control[k]);
    let retain_term = mse(&hr, &|i, j, k| h0[i][j][k]);
    close(got, forget_term + 1200.0 * retain_term);
    t.step_on(&both()).unwrap();
    assert!(mse(&states(t.model(), &f), &|_, _, k| control[k]) < forget_term);
}

#[test]
fn objectives_reject_bad_setups() {
    let c = ctx();
    let bad = Unlearn::with_objective(ObjectiveSpec::Rmu(Rmu::default()));
    let e = bad
        .trainer(
            &c.base,
            TrainData {
                primary: c.forget.clone(),
                retain: Some(c.retain.clone()),
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("invalid rmu.layer = 7") && e.contains("3 decoder layers"),
        "{e}"
    );
    let e = Unlearn::grad_diff()
        .trainer(
            &c.base,
            TrainData {
                primary: c.forget.clone(),
                retain: None,
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("grad_diff objective needs retain samples"),
        "{e}"
    );
}

#[test]
fn text_only_variant_trains_without_images() {
    let c = ctx();
    let mut u = Unlearn::grad_ascent().text_only();
    u.options.lora = Some(LoraConfig {
        dropout: 0.0,
        ..LoraConfig::default()
    });
    u.options.batch_size = 2;
    u.options.progress = false;
    let mut t = u
        .trainer(
            &c.base,
            TrainData {
                primary: c.forget.clone(),
                retain: None,
            },
        )
        .unwrap();
    let f = enc(&t, &c.forget);
    assert!(f.pixels.is_none());
    let ids = f.batch.input_ids.to_vec2::<u32>().unwrap();
    let image_id = c.base.tokenizer.image_token_id();
    assert!(ids.iter().flatten().all(|&i| i != image_id));
    let text = c.base.tokenizer.decode(&ids[0], true).unwrap();
    assert!(
        text.starts_with("USER: ") && text.contains("\nASSISTANT: "),
        "{text}"
    );
    close(t.step_on(&forget_only()).unwrap(), -nll(vanilla(), &f));
    let before = nll(t.model(), &f);
    t.step_on(&forget_only()).unwrap();
    assert!(nll(t.model(), &f) > before);
}
