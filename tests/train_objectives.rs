//! Every objective moves a tiny differentiable toy the intended way after one AdamW step:
//! the "model" is a `Var` holding the logits (or hidden states) directly.

use candle_core::{DType, Device, Tensor, Var};
use mllmu::train::loss::{kl_batchmean, token_mean_nll, Pass};
use mllmu::train::objectives::*;
use mllmu::train::{AdamW, AdamWParams};

const B: usize = 2;
const L: usize = 6;
const V: usize = 11;

/// Deterministic logits `[B, L, V]`, a different pattern per `salt`.
fn logits(salt: usize) -> Tensor {
    let data: Vec<f32> = (0..B * L * V)
        .map(|i| (((i * 37 + salt * 101) % 23) as f32 - 11.0) * 0.15)
        .collect();
    Tensor::from_vec(data, (B, L, V), &Device::Cpu).unwrap()
}

fn toy(salt: usize) -> Var {
    Var::from_tensor(&logits(salt)).unwrap()
}

/// Answer-style labels: the prompt (first two positions) is −100.
fn labels(salt: usize) -> Tensor {
    let data: Vec<i64> = (0..B * L)
        .map(|i| {
            if i % L < 2 {
                -100
            } else {
                ((i * 5 + salt * 3) % V) as i64
            }
        })
        .collect();
    Tensor::from_vec(data, (B, L), &Device::Cpu).unwrap()
}

fn nll(v: &Var, labels: &Tensor) -> f64 {
    let t = v.as_tensor().detach();
    token_mean_nll(&Pass::new(&t, labels, None))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64
}

/// One AdamW step (lr 0.05) on `vars` for `loss`.
fn step(vars: &[&Var], loss: Tensor) {
    let mut opt = AdamW::new(
        vars.iter().map(|v| (*v).clone()).collect(),
        AdamWParams {
            lr: 0.05,
            ..Default::default()
        },
    )
    .unwrap();
    let updated = opt.step(&loss.backward().unwrap()).unwrap();
    assert_eq!(
        updated,
        vars.len(),
        "every toy tensor must receive a gradient"
    );
}

#[test]
fn finetune_lowers_the_nll() {
    let (w, y) = (toy(1), labels(1));
    let before = nll(&w, &y);
    step(
        &[&w],
        Nll::default()
            .loss(&Pass::new(w.as_tensor(), &y, None))
            .unwrap(),
    );
    assert!(nll(&w, &y) < before - 1e-3, "{before} -> {}", nll(&w, &y));
}

#[test]
fn grad_ascent_raises_the_forget_nll() {
    let (w, y) = (toy(2), labels(2));
    let before = nll(&w, &y);
    step(
        &[&w],
        GradAscent::default()
            .loss(&Pass::new(w.as_tensor(), &y, None))
            .unwrap(),
    );
    assert!(nll(&w, &y) > before + 1e-3);
}

#[test]
fn grad_diff_raises_forget_and_lowers_retain() {
    let (f, r, yf, yr) = (toy(3), toy(4), labels(3), labels(4));
    let (f0, r0) = (nll(&f, &yf), nll(&r, &yr));
    let gd = GradDiff {
        pairing: Pairing::Paired,
        ..Default::default()
    };
    let loss = gd
        .loss(
            Some(&Pass::new(f.as_tensor(), &yf, None)),
            Some(&Pass::new(r.as_tensor(), &yr, None)),
        )
        .unwrap();
    step(&[&f, &r], loss);
    assert!(nll(&f, &yf) > f0 + 1e-3 && nll(&r, &yr) < r0 - 1e-3);
}

#[test]
fn kl_min_forget_step_ascends_and_retain_step_pulls_towards_vanilla() {
    let (f, yf) = (toy(5), labels(5));
    let f0 = nll(&f, &yf);
    step(
        &[&f],
        KlMin::default()
            .loss(Some(&Pass::new(f.as_tensor(), &yf, None)), None)
            .unwrap(),
    );
    assert!(nll(&f, &yf) > f0 + 1e-3);

    let (r, yr, vanilla) = (toy(6), labels(6), logits(7));
    let kl = |v: &Var| {
        kl_batchmean(&v.as_tensor().detach(), &vanilla)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (k0, r0) = (kl(&r), nll(&r, &yr));
    let pass = Pass::new(r.as_tensor(), &yr, None);
    step(
        &[&r],
        KlMin::default()
            .loss(None, Some((&pass, &vanilla)))
            .unwrap(),
    );
    assert!(kl(&r) < k0 - 1e-3, "KL {k0} -> {}", kl(&r));
    assert!(nll(&r, &yr) < r0, "retain NLL {r0} -> {}", nll(&r, &yr));
}

#[test]
fn npo_raises_the_forget_nll_in_both_forms() {
    for form in [NpoForm::BatchTokenMean, NpoForm::SequenceSum] {
        let (w, y) = (toy(8), labels(8));
        let reference = w.as_tensor().detach().copy().unwrap();
        let before = nll(&w, &y);
        let npo = Npo {
            form,
            ..Default::default()
        };
        step(
            &[&w],
            npo.loss(&Pass::new(w.as_tensor(), &y, None), &reference, None)
                .unwrap(),
        );
        assert!(nll(&w, &y) > before + 1e-3, "{form:?}");
    }
}

#[test]
fn simnpo_raises_forget_and_lowers_retain() {
    let (f, r, yf, yr) = (toy(9), toy(10), labels(9), labels(10));
    let (f0, r0) = (nll(&f, &yf), nll(&r, &yr));
    let loss = SimNpo::default()
        .loss(
            &Pass::new(f.as_tensor(), &yf, None),
            Some(&Pass::new(r.as_tensor(), &yr, None)),
        )
        .unwrap();
    step(&[&f, &r], loss);
    assert!(nll(&f, &yf) > f0 + 1e-3 && nll(&r, &yr) < r0 - 1e-3);
}

#[test]
fn idk_nll_teaches_the_refusal() {
    let (w, y_idk) = (toy(11), labels(11));
    let before = nll(&w, &y_idk);
    let loss = IdkNll { retain_weight: 0.0 }
        .loss(&Pass::new(w.as_tensor(), &y_idk, None), None)
        .unwrap();
    step(&[&w], loss);
    assert!(nll(&w, &y_idk) < before - 1e-3);
}

#[test]
fn idk_dpo_prefers_the_refusal_over_the_answer() {
    let (wi, wf, yi, yf) = (toy(12), toy(13), labels(12), labels(13));
    let (ri, rf) = (logits(12), logits(13));
    let (i0, f0) = (nll(&wi, &yi), nll(&wf, &yf));
    let loss = IdkDpo::default()
        .loss(
            &Pass::new(wi.as_tensor(), &yi, None),
            &Pass::new(wf.as_tensor(), &yf, None),
            &ri,
            &rf,
            None,
        )
        .unwrap();
    step(&[&wi, &wf], loss);
    assert!(
        nll(&wf, &yf) > f0 + 1e-3,
        "forget NLL {f0} -> {}",
        nll(&wf, &yf)
    );
    assert!(
        nll(&wi, &yi) < i0 - 1e-3,
        "refusal NLL {i0} -> {}",
        nll(&wi, &yi)
    );
}

#[test]
fn rmu_steers_forget_states_and_keeps_retain_states() {
    let h = 8;
    let rmu = Rmu {
        steering_coeff: 2.0,
        alpha: 5.0,
        ..Default::default()
    };
    let control = rmu.control_vector(h, &Device::Cpu).unwrap();
    let hf = Var::randn(0f32, 1.0, (B, L, h), &Device::Cpu).unwrap();
    let frozen = Tensor::randn(0f32, 1.0, (B, L, h), &Device::Cpu).unwrap();
    let hr = Var::from_tensor(&(frozen.clone() + 0.5).unwrap()).unwrap();
    let dist = |x: &Tensor, t: &Tensor| {
        x.broadcast_sub(t)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (d_f0, d_r0) = (
        dist(hf.as_tensor(), &control),
        dist(hr.as_tensor(), &frozen),
    );
    let loss = rmu
        .loss(
            &control,
            &Hidden {
                states: hf.as_tensor(),
                attention_mask: None,
            },
            &Hidden {
                states: hr.as_tensor(),
                attention_mask: None,
            },
            &frozen,
        )
        .unwrap();
    step(&[&hf, &hr], loss);
    assert!(dist(hf.as_tensor(), &control) < d_f0 - 1e-3);
    assert!(dist(hr.as_tensor(), &frozen) < d_r0 - 1e-3);
    assert_eq!(hf.dtype(), DType::F32);
}
