//! Fine-tuning end to end on the tiny model and a mini benchmark: the loss falls, the
//! output folder is a complete checkpoint that loads back with identical logits, and the
//! run log records what happened.

mod train_run_common;

use candle_core::{Device, Tensor};
use mllmu::model::Model;
use mllmu::train::{
    Checkpoint, Finetune, RunStatus, SampleSet, SampleSource, TrainData, TrainOptions,
};
use train_run_common::*;

fn probe(m: &Model) -> Tensor {
    let ids = m
        .tokenizer
        .encode("USER: <image>\nWhere was she born?\nASSISTANT:")
        .unwrap();
    let ids = Tensor::from_vec(ids.clone(), (1, ids.len()), &Device::Cpu).unwrap();
    let img = image::RgbImage::from_fn(50, 40, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, 90])
    });
    let pv = m.processor.preprocess_batch(&[img], &Device::Cpu).unwrap();
    m.llava.forward(&ids, Some(&pv), None).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn finetuning_halves_the_loss_and_saves_a_complete_checkpoint() {
    let base = base();
    let bench = mini();
    let ft = SampleSet::from_bench(&bench, "ft").unwrap();
    assert_eq!(ft.source, SampleSource::FtRows);
    let out = tempfile::tempdir().unwrap();
    let run = Finetune {
        set: "ft_Data".into(),
        options: TrainOptions {
            lr: 1e-2,
            epochs: 6,
            lora: None,
            out_dir: Some(out.path().to_path_buf()),
            ..quiet()
        },
    };
    let trained = run
        .run_on(
            &base,
            TrainData {
                primary: first(&ft, 12),
                retain: None,
            },
        )
        .unwrap();

    // 12 samples, batch 4: 3 steps per epoch, 18 in all, linear decay to 0 per batch.
    let h = &trained.history;
    assert_eq!(h.len(), 18);
    assert_eq!(h.records[0].lr, 1e-2);
    assert!((h.records[17].lr - 1e-2 / 18.0).abs() < 1e-12);
    let first_loss = h.records[0].loss;
    let last_epoch = h.epoch_means().last().unwrap().1;
    assert!(
        last_epoch <= 0.5 * first_loss,
        "{first_loss} -> {last_epoch}\n{h}"
    );
    assert!(trained.is_complete());

    // The output folder has what transformers needs, and loads back identically.
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "preprocessor_config.json",
        "processor_config.json",
        "generation_config.json",
        "train_log.json",
    ] {
        assert!(out.path().join(f).is_file(), "missing {f}");
    }
    let reloaded = Model::load_with(out.path(), &Device::Cpu, candle_core::DType::F32).unwrap();
    let (a, b) = (probe(&trained.model), probe(&reloaded));
    assert_eq!(max_diff(&a, &b), 0.0);
    assert!(
        max_diff(&a, &probe(&base)) > 1e-3,
        "training changed nothing"
    );

    // The final checkpoint is the last step and gives the same model.
    let ckpt = Checkpoint::latest(out.path()).unwrap().unwrap();
    assert_eq!(ckpt.state.step, 18);
    assert_eq!(ckpt.state.epoch, 6);
    assert!(!ckpt.is_lora());
    assert_eq!(max_diff(&probe(&ckpt.load_model(&base).unwrap()), &a), 0.0);

    // train_log.json
    let log: serde_json::Value = mllmu::io::read_json(&out.path().join("train_log.json")).unwrap();
    assert_eq!(log["status"], "complete");
    assert_eq!(log["steps"], 18);
    assert_eq!(log["objective"]["objective"], "finetune");
    assert_eq!(log["options"]["lr"], 1e-2);
    assert_eq!(log["mode"], "full");
    assert_eq!(log["data"][0]["samples"], 12);
    assert_eq!(log["history"]["records"].as_array().unwrap().len(), 18);
    assert_eq!(log["loss_first"].as_f64().unwrap(), first_loss);
    assert!(log["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(trained.log.status, RunStatus::Complete);
    let summary = trained.summary_json();
    assert_eq!(summary["steps"], 18);
    assert_eq!(summary["out"], out.path().display().to_string());
    let shown = trained.to_string();
    assert!(
        shown.contains("18 / 18") && shown.contains("full"),
        "{shown}"
    );
}

#[test]
fn lora_finetuning_trains_only_adapters_and_merges_them() {
    let base = base();
    let bench = mllmu::bench::Bench::open(fixture("mllmu-sample")).unwrap();
    let ft = SampleSet::from_bench(&bench, "ft").unwrap();
    let mut run = Finetune::paper();
    run.options = TrainOptions {
        lr: 1e-3,
        epochs: 1,
        ..quiet()
    };
    let data = TrainData {
        primary: first(&ft, 8),
        retain: None,
    };
    let mut trainer = mllmu::train::Trainer::new(
        &base,
        mllmu::train::ObjectiveSpec::Finetune(Default::default()),
        data,
        run.options.clone(),
        None,
    )
    .unwrap();
    // 3 layers x 7 projections x (A, B), r 16 on width 96 / 200.
    assert_eq!(trainer.trainable_names().len(), 42);
    assert!(trainer
        .trainable_names()
        .iter()
        .all(|n| n.contains(".lora_")));
    let per_layer = 4 * (16 * 96 + 96 * 16) + 2 * (16 * 96 + 200 * 16) + (16 * 200 + 96 * 16);
    assert_eq!(trainer.trainable_parameters(), 3 * per_layer);
    assert!(trainer.run().unwrap());
    let trained = trainer.finish().unwrap();
    assert_eq!(trained.log.mode, "lora");
    assert_eq!(trained.history.len(), 2);
    // The returned model has no adapters left, and differs from the base.
    assert!(trained.model.llava.lora_config().is_none());
    assert!(max_diff(&probe(&trained.model), &probe(&base)) > 0.0);
    // The base was not modified.
    assert_eq!(
        max_diff(&probe(&base), &probe(&train_run_common::base())),
        0.0
    );
}

#[test]
fn lora_trains_in_float32_over_a_bfloat16_base() {
    let base = Model::load_with(
        fixture("tiny-llava"),
        &Device::Cpu,
        candle_core::DType::BF16,
    )
    .unwrap();
    let bench = mllmu::bench::Bench::open(fixture("mllmu-sample")).unwrap();
    let ft = SampleSet::from_bench(&bench, "ft").unwrap();
    let options = TrainOptions {
        lr: 1e-3,
        epochs: 1,
        ..quiet()
    };
    let mut trainer = mllmu::train::Trainer::new(
        &base,
        mllmu::train::ObjectiveSpec::Finetune(Default::default()),
        TrainData {
            primary: first(&ft, 4),
            retain: None,
        },
        options,
        None,
    )
    .unwrap();
    for lin in trainer.model().linears() {
        assert_eq!(lin.weight.dtype(), candle_core::DType::BF16, "{}", lin.name);
        if let Some(ad) = &lin.lora {
            assert_eq!(
                (ad.a.dtype(), ad.b.dtype()),
                (candle_core::DType::F32, candle_core::DType::F32)
            );
        }
    }
    assert!(trainer.run().unwrap());
    let trained = trainer.finish().unwrap();
    let loss = trained.history.records[0].loss;
    assert!(loss.is_finite() && (loss - 7.7).abs() < 0.5, "{loss}");
    assert_eq!(trained.model.llava.dtype(), candle_core::DType::BF16);
    let html = trained.to_html();
    assert!(
        html.contains("<table") && html.contains("loss history"),
        "{html}"
    );
}
