//! AdamW against transformers.AdamW's formula computed by hand in f64, and bit-exact resume
//! through the saved training state.

use candle_core::{Device, Tensor, Var};
use mllmu::train::{AdamW, AdamWParams, LossHistory, LossRecord, OptimizerState, TrainState};

const C: [f64; 6] = [0.3, -1.2, 0.05, 2.0, -0.7, 0.0];
const W0: [f64; 6] = [0.5, -0.25, 1.5, -2.0, 0.1, 0.8];

/// Loss Σ c_i w_i + ½ Σ w_i², whose gradient is g = c + w.
fn loss(w: &Var) -> Tensor {
    let c = Tensor::new(&C.map(|x| x as f32), &Device::Cpu)
        .unwrap()
        .reshape((2, 3))
        .unwrap();
    let lin = (w.as_tensor() * &c).unwrap().sum_all().unwrap();
    let quad = (w.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
    (lin + quad).unwrap()
}

/// transformers.AdamW, one tensor, in f64.
struct Reference {
    p: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Reference {
    fn new(p: &[f64]) -> Self {
        Reference {
            p: p.to_vec(),
            m: vec![0.0; p.len()],
            v: vec![0.0; p.len()],
            t: 0,
        }
    }
    fn step(&mut self, g: &[f64], h: &AdamWParams) {
        self.t += 1;
        let step_size = if h.correct_bias {
            h.lr * (1.0 - h.beta2.powi(self.t)).sqrt() / (1.0 - h.beta1.powi(self.t))
        } else {
            h.lr
        };
        for (i, &gi) in g.iter().enumerate() {
            self.m[i] = h.beta1 * self.m[i] + (1.0 - h.beta1) * gi;
            self.v[i] = h.beta2 * self.v[i] + (1.0 - h.beta2) * gi * gi;
            self.p[i] -= step_size * self.m[i] / (self.v[i].sqrt() + h.eps);
            self.p[i] -= h.lr * h.weight_decay * self.p[i];
        }
    }
}

fn values(w: &Var) -> Vec<f64> {
    w.as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn var(init: &[f64]) -> Var {
    Var::from_tensor(
        &Tensor::new(
            &init.iter().map(|&x| x as f32).collect::<Vec<_>>()[..],
            &Device::Cpu,
        )
        .unwrap()
        .reshape((2, 3))
        .unwrap(),
    )
    .unwrap()
}

fn check_against_formula(h: AdamWParams, steps: usize) {
    let w = var(&W0);
    let mut opt = AdamW::new(vec![w.clone()], h).unwrap();
    let mut r = Reference::new(&W0);
    for s in 0..steps {
        // The gradient at the current f64 reference point (c + w).
        let g: Vec<f64> = C.iter().zip(&r.p).map(|(c, p)| c + p).collect();
        r.step(&g, &h);
        assert_eq!(opt.step(&loss(&w).backward().unwrap()).unwrap(), 1);
        for (i, (got, want)) in values(&w).iter().zip(&r.p).enumerate() {
            assert!(
                (got - want).abs() < 2e-6 * want.abs().max(1.0),
                "step {s}, element {i}: {got} vs {want}"
            );
        }
    }
    let st = opt.state();
    let m = st.slots[0].as_ref().unwrap();
    assert_eq!(m.step, steps as u64);
    let got_v: Vec<f32> = m.exp_avg_sq.flatten_all().unwrap().to_vec1().unwrap();
    for (g, w) in got_v.iter().zip(&r.v) {
        assert!((*g as f64 - w).abs() < 1e-5 * w.abs().max(1e-3));
    }
}

#[test]
fn one_step_matches_transformers_adamw() {
    check_against_formula(
        AdamWParams {
            lr: 1e-3,
            ..Default::default()
        },
        1,
    );
}

#[test]
fn several_steps_with_weight_decay_match() {
    check_against_formula(
        AdamWParams {
            lr: 0.05,
            weight_decay: 0.1,
            ..Default::default()
        },
        6,
    );
}

#[test]
fn without_bias_correction_and_large_eps_match() {
    check_against_formula(
        AdamWParams {
            lr: 0.02,
            eps: 0.3,
            correct_bias: false,
            ..Default::default()
        },
        4,
    );
}

#[test]
fn eps_is_added_to_the_uncorrected_root() {
    // A large eps separates transformers.AdamW from torch.optim.AdamW (which adds eps to the
    // bias-corrected root): after one step from W0 the two differ by > 1e-2 here.
    let h = AdamWParams {
        lr: 0.05,
        eps: 0.1,
        ..Default::default()
    };
    check_against_formula(h, 3);
    let w = var(&W0);
    let mut opt = AdamW::new(vec![w.clone()], h).unwrap();
    opt.step(&loss(&w).backward().unwrap()).unwrap();
    let torch: Vec<f64> = W0
        .iter()
        .zip(&C)
        .map(|(p, c)| {
            let g = c + p;
            p - h.lr * g / (g.abs() + h.eps) // m̂ = g, √v̂ = |g| after one step
        })
        .collect();
    let got = values(&w);
    let max_gap = got
        .iter()
        .zip(&torch)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        max_gap > 1e-2,
        "indistinguishable from torch.optim.AdamW: {max_gap}"
    );
}

#[test]
fn each_tensor_counts_its_own_steps() {
    // `b` receives a gradient only from the third step on: its first update uses t = 1.
    let h = AdamWParams {
        lr: 0.01,
        ..Default::default()
    };
    let a = var(&W0);
    let b = Var::new(&[1.0f32, -3.0], &Device::Cpu).unwrap();
    let mut opt = AdamW::new(vec![a.clone(), b.clone()], h).unwrap();
    for step in 0..4 {
        let mut l = loss(&a);
        if step >= 2 {
            l = (l + b.as_tensor().sum_all().unwrap()).unwrap();
        }
        opt.step(&l.backward().unwrap()).unwrap();
    }
    let mut r = Reference::new(&[1.0, -3.0]);
    r.step(&[1.0, 1.0], &h);
    r.step(&[1.0, 1.0], &h);
    let got = b.as_tensor().to_vec1::<f32>().unwrap();
    assert!(
        (got[0] as f64 - r.p[0]).abs() < 1e-6 && (got[1] as f64 - r.p[1]).abs() < 1e-6,
        "{got:?} vs {:?}",
        r.p
    );
    let st = opt.state();
    assert_eq!(
        st.slots
            .iter()
            .map(|s| s.as_ref().unwrap().step)
            .collect::<Vec<_>>(),
        vec![4, 2]
    );
}

#[test]
fn resuming_from_saved_state_is_bit_identical() {
    let h = AdamWParams {
        lr: 0.03,
        weight_decay: 0.01,
        ..Default::default()
    };
    // Uninterrupted: 5 steps.
    let w = var(&W0);
    let mut opt = AdamW::new(vec![w.clone()], h).unwrap();
    for _ in 0..5 {
        opt.step(&loss(&w).backward().unwrap()).unwrap();
    }
    let uninterrupted = w
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();

    // Interrupted after 2 steps, saved, reloaded into a fresh optimizer and fresh weights.
    let dir = tempfile::tempdir().unwrap();
    let w1 = var(&W0);
    let mut opt1 = AdamW::new(vec![w1.clone()], h).unwrap();
    for _ in 0..2 {
        opt1.step(&loss(&w1).backward().unwrap()).unwrap();
    }
    let mut state = TrainState::new(11);
    state.step = 2;
    state.history.push(LossRecord {
        step: 2,
        epoch: 0,
        loss: 0.1 + 0.2,
        lr: 0.03,
        samples_per_sec: 1.0 / 3.0,
        grad_norm: Some(2.5),
    });
    state.save(dir.path(), &opt1.state()).unwrap();
    let saved_weights = w1
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    drop(opt1);

    let (back, opt_state) = TrainState::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(back, state);
    assert_eq!(
        back.history.records[0].loss.to_bits(),
        (0.1f64 + 0.2).to_bits()
    );
    let w2 = Var::from_tensor(
        &Tensor::new(&saved_weights[..], &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap(),
    )
    .unwrap();
    let mut opt2 = AdamW::new(vec![w2.clone()], h).unwrap();
    opt2.load_state(opt_state).unwrap();
    for _ in 0..3 {
        opt2.step(&loss(&w2).backward().unwrap()).unwrap();
    }
    let resumed = w2
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed), bits(&uninterrupted));
}

#[test]
fn state_files_replace_each_other_and_errors_name_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = var(&W0);
    let mut opt = AdamW::new(vec![w.clone()], AdamWParams::default()).unwrap();
    let mut state = TrainState::new(1);
    for step in 1..=3 {
        opt.step(&loss(&w).backward().unwrap()).unwrap();
        state.step = step;
        state.save(dir.path(), &opt.state()).unwrap();
    }
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec!["optimizer-00000003.safetensors", "train_state.json"]
    );
    let (_, st) = TrainState::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(st.to_bytes().unwrap(), opt.state().to_bytes().unwrap());

    std::fs::remove_file(dir.path().join("optimizer-00000003.safetensors")).unwrap();
    let e = TrainState::load(dir.path(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("optimizer-00000003.safetensors") && e.contains("folder is incomplete"),
        "{e}"
    );
    let empty = tempfile::tempdir().unwrap();
    let e = TrainState::load(empty.path(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("train_state.json") && e.contains("hint:"), "{e}");
    let e = OptimizerState::load(&empty.path().join("x.safetensors"), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("failed to read") && e.contains("x.safetensors"),
        "{e}"
    );
    assert!(LossHistory::default().is_empty());
}
