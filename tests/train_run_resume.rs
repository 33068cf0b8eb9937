//! Interrupting and resuming: a run stopped by its step budget and resumed from its
//! checkpoint ends bit for bit where an uninterrupted run ends; a NaN loss stops the run
//! with a clear error and keeps the last good checkpoint.

mod train_run_common;

use candle_core::{Device, Tensor};
use mllmu::model::LoraConfig;
use mllmu::train::objectives::{GradDiff, ObjectiveSpec, Pairing};
use mllmu::train::{Checkpoint, Finetune, SampleSet, TrainData, TrainOptions, Unlearn};
use std::path::Path;
use train_run_common::*;

fn ft_data() -> TrainData {
    let ft = SampleSet::from_bench(&mini(), "ft").unwrap();
    TrainData {
        primary: first(&ft, 10),
        retain: None,
    }
}

/// LoRA with dropout (the masks must be replayed), accumulation over 2 micro-batches,
/// clipping: 10 samples, batch 2 → 5 micro-batches, 3 steps per epoch, 6 steps.
fn options(out: &Path) -> TrainOptions {
    TrainOptions {
        lr: 5e-3,
        epochs: 2,
        batch_size: 2,
        grad_accum: 2,
        max_grad_norm: Some(0.5),
        lora: Some(LoraConfig {
            dropout: 0.1,
            ..LoraConfig::default()
        }),
        out_dir: Some(out.to_path_buf()),
        ..quiet()
    }
}

#[test]
fn resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let base = base();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = Finetune {
        set: "ft".into(),
        options: options(a.path()),
    }
    .run_on(&base, ft_data())
    .unwrap();
    assert_eq!(whole.history.len(), 6);

    // Stopped after 4 steps: inside the second epoch, between two micro-batch pairs.
    let mut budget = Finetune {
        set: "ft".into(),
        options: options(b.path()),
    };
    budget.options.max_steps = Some(4);
    let stopped = budget.run_on(&base, ft_data()).unwrap();
    assert!(!stopped.is_complete());
    assert_eq!(stopped.history.len(), 4);
    assert!(!b.path().join("model.safetensors").exists());
    let ckpt = Checkpoint::latest(b.path()).unwrap().unwrap();
    assert_eq!(
        (ckpt.state.step, ckpt.state.epoch, ckpt.state.batch_in_epoch),
        (4, 1, 2)
    );
    assert!(ckpt.is_lora());
    let log: serde_json::Value = mllmu::io::read_json(&b.path().join("train_log.json")).unwrap();
    assert_eq!(log["status"], "stopped");

    // Resume with the same settings and no budget.
    budget.options.max_steps = None;
    let resumed = budget.run_on(&base, ft_data()).unwrap();
    assert!(resumed.is_complete());
    assert_eq!(resumed.log.resumed_from_step, Some(4));
    for (x, y) in whole.history.records.iter().zip(&resumed.history.records) {
        assert_eq!(x.loss.to_bits(), y.loss.to_bits(), "step {}", x.step);
        assert_eq!(x.lr.to_bits(), y.lr.to_bits());
    }
    assert_eq!(resumed.history.len(), 6);
    let (wa, wb) = (weights(&whole.model.llava), weights(&resumed.model.llava));
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(
            va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{na} differs"
        );
    }
    let file = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(file(a.path()), file(b.path()));

    // Other settings are refused.
    let mut other = Finetune {
        set: "ft".into(),
        options: options(b.path()),
    };
    other.options.lr = 1e-3;
    let e = other.run_on(&base, ft_data()).unwrap_err().to_string();
    assert!(
        e.contains("other settings (options)") && e.contains("hint:"),
        "{e}"
    );

    // So is data of the same size whose text changed (a regenerated benchmark).
    let mut changed = ft_data();
    changed.primary.samples[3].answer.push_str(" Indeed.");
    let e = budget.run_on(&base, changed).unwrap_err().to_string();
    assert!(
        e.contains("other settings (data)") && e.contains("hint:"),
        "{e}"
    );
}

#[test]
fn resuming_a_paired_two_set_run_replays_the_retain_batches() {
    // GradDiff paired: each forget batch is matched with the next retain batch; the retain
    // order wraps around with a new shuffle. Full fine-tuning this time.
    let base = base();
    let bench = mini();
    let split = bench.split(15).unwrap();
    let _ = split;
    let forget = SampleSet::from_bench(&bench, "forget_15").unwrap();
    let retain = SampleSet::from_bench(&bench, "retain_85").unwrap();
    let data = || TrainData {
        primary: first(&forget, 6),
        retain: Some(first(&retain, 4)),
    };
    let unlearn = |out: &Path, max_steps: Option<usize>| {
        let mut u = Unlearn::with_objective(ObjectiveSpec::GradDiff(GradDiff {
            pairing: Pairing::Paired,
            ..GradDiff::default()
        }));
        u.options = TrainOptions {
            lr: 1e-3,
            epochs: 2,
            batch_size: 2,
            lora: None,
            max_steps,
            out_dir: Some(out.to_path_buf()),
            ..quiet()
        };
        u
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = unlearn(a.path(), None).run_on(&base, data()).unwrap();
    assert_eq!(whole.history.len(), 6);
    let t = unlearn(b.path(), None).trainer(&base, data()).unwrap();
    let units: Vec<_> = (0..2).flat_map(|e| t.units(e).unwrap()).collect();
    // 6 forget batches over 2 epochs against 2 retain batches: every retain batch is used
    // 3 times, each pass over the retain set in its own order.
    assert!(units
        .iter()
        .all(|u| u.retain.as_ref().is_some_and(|r| r.len() == 2)));
    let mut seen: Vec<usize> = units
        .iter()
        .take(2)
        .flat_map(|u| u.retain.clone().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    drop(t);
    unlearn(b.path(), Some(3)).run_on(&base, data()).unwrap();
    let resumed = unlearn(b.path(), None).run_on(&base, data()).unwrap();
    for ((na, va), (_, vb)) in weights(&whole.model.llava)
        .iter()
        .zip(&weights(&resumed.model.llava))
    {
        assert!(
            va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{na} differs"
        );
    }
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let base = base();
    let out = tempfile::tempdir().unwrap();
    let run = Finetune {
        set: "ft".into(),
        options: options(out.path()),
    };
    let mut trainer = run.trainer(&base, ft_data()).unwrap();
    trainer.inject_nan_at_step(3);
    let err = trainer.run().unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, mllmu::Error::NonFiniteLoss { step: 3, .. }),
        "{msg}"
    );
    assert!(
        msg.starts_with("loss became NaN at step 3; last good checkpoint: "),
        "{msg}"
    );
    assert!(msg.ends_with("step-00000002"), "{msg}");

    let ckpt = Checkpoint::latest(out.path()).unwrap().unwrap();
    assert_eq!(ckpt.state.step, 2);
    for f in [
        "adapter_model.safetensors",
        "adapter_config.json",
        "train_state.json",
        "run.json",
    ] {
        assert!(ckpt.dir.join(f).is_file(), "missing {f}");
    }
    let log: serde_json::Value = mllmu::io::read_json(&out.path().join("train_log.json")).unwrap();
    assert_eq!(log["status"], "non_finite_loss");
    assert_eq!(log["steps"], 2);

    // The checkpoint is the model after 2 good steps: the same as a run stopped there.
    let good = ckpt.load_model(&base).unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut two = Finetune {
        set: "ft".into(),
        options: options(other.path()),
    };
    two.options.max_steps = Some(2);
    let two = two.run_on(&base, ft_data()).unwrap();
    let ids = Tensor::new(&[[1u32, 1401, 353, 29, 7]], &Device::Cpu).unwrap();
    let la = good.llava.forward(&ids, None, None).unwrap();
    let lb = two.model.llava.forward(&ids, None, None).unwrap();
    let d = (la - lb)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap();
    assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
}
