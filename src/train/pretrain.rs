//! Pretraining from scratch on free-form documents: every weight trains, every token of a
//! document (but image tokens and padding) is learnt, followed by `</s>`. Documents may
//! hold several images (few-shot prompts), which the sample-based [`Trainer`] does not.
//!
//! The run is a function of its inputs and seed: the batch order comes from a seeded RNG,
//! the optimizer walks the tensors in name order, and nothing reads the clock to decide
//! anything (timing is only logged).
//!
//! [`Trainer`]: crate::train::Trainer

use crate::model::fused;
use crate::model::weights::Weights;
use crate::model::{Config, GenerationConfig, ImageProcessor, Llava, LlavaTokenizer, SaveOptions};
use crate::train::corpus::{Corpus, Doc, Probe};
use crate::train::grad_clip::clip_grad_norm;
use crate::train::loss::{sequence_nll, token_mean_nll, Pass};
use crate::train::optim::{AdamW, AdamWParams};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Settings of a pretraining run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainOptions {
    /// Peak learning rate (cosine decay to a tenth after a linear warm-up, unless
    /// `constant_lr`).
    pub lr: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Passes over the documents.
    pub epochs: usize,
    /// Documents per step.
    pub batch_size: usize,
    /// Stop after this many steps (`None`: all epochs).
    pub max_steps: Option<usize>,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clipping.
    pub max_grad_norm: f64,
    /// Seed of the batch order.
    pub seed: u64,
    /// Log the mean loss every this many steps.
    pub log_every: usize,
    /// Score the probes every this many steps (and at the end); 0: only at the end.
    pub probe_every: usize,
    /// Average the loss per document (each document's mean over its learnt tokens, then
    /// the mean over the batch) instead of over all the batch's tokens: a short answer
    /// weighs as much as a long biography.
    #[serde(default)]
    pub document_mean: bool,
    /// Keep the peak rate after the warm-up instead of decaying it: the multiple-choice skill
    /// appears only after thousands of steps at chance (benches/mini-model), and a decaying
    /// rate slows it down.
    #[serde(default)]
    pub constant_lr: bool,
}

impl Default for PretrainOptions {
    fn default() -> Self {
        PretrainOptions {
            lr: 3e-3,
            warmup_steps: 50,
            epochs: 6,
            batch_size: 16,
            max_steps: None,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            seed: 0,
            log_every: 20,
            probe_every: 0,
            document_mean: false,
            constant_lr: false,
        }
    }
}

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainRecord {
    /// Optimizer step (from 1).
    pub step: usize,
    /// Epoch (from 1).
    pub epoch: usize,
    /// Mean loss over the steps since the last record.
    pub loss: f64,
    /// Learning rate of the step.
    pub lr: f64,
    /// Seconds since the start (not part of the result's identity).
    pub seconds: f64,
    /// Probe accuracy in percent, when scored at this step.
    pub probe_accuracy: Option<f64>,
    /// Accuracy on the drilled people's probes (their own option orders), when scored.
    #[serde(default)]
    pub drilled_probe_accuracy: Option<f64>,
    /// Accuracy on the reading probes (the fact stated in the prompt), when scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading_probe_accuracy: Option<f64>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PretrainLog {
    /// Settings.
    pub options: PretrainOptions,
    /// Documents and their tokens.
    pub documents: usize,
    /// Tokens per epoch (padding excluded).
    pub tokens_per_epoch: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Steps done.
    pub steps: usize,
    /// The loss curve.
    pub records: Vec<PretrainRecord>,
    /// Final probe accuracy (percent).
    pub final_probe_accuracy: Option<f64>,
    /// Final accuracy on the drilled people's probes (percent).
    #[serde(default)]
    pub final_drilled_probe_accuracy: Option<f64>,
    /// Final accuracy on the reading probes (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_reading_probe_accuracy: Option<f64>,
    /// Wall time.
    pub seconds: f64,
}

/// Trains every weight of the checkpoint in `base` on the documents and saves the result
/// (with the base folder's tokenizer and processor files) in `out`. Returns the log.
///
/// `epoch_docs` holds one document list per epoch, used in turn (epoch `e` trains on
/// `epoch_docs[(e - 1) % len]`): the same people asked with fresh question plans and option
/// orders each epoch, so that answering multiple choice cannot be learnt by remembering
/// which letter a document had. `corpus` gives the images the documents index and the
/// multiple-choice probes scored during the run: [`Corpus::probes`] (held out),
/// [`Corpus::drilled_probes`] and [`Corpus::reading_probes`].
pub fn pretrain(
    base: &Path,
    out: &Path,
    epoch_docs: &[Vec<Doc>],
    corpus: &Corpus,
    opts: &PretrainOptions,
) -> Result<PretrainLog> {
    if opts.batch_size == 0 || opts.epochs == 0 || opts.log_every == 0 || epoch_docs.is_empty() {
        return Err(Error::param(
            "batch_size/epochs/log_every",
            0,
            "must be at least 1",
        ));
    }
    let start = Instant::now();
    let device = Device::Cpu;
    let config = Config::load(base)?;
    let (w, varmap) =
        Weights::load(base, &Llava::expected(&config)?, &device, DType::F32)?.into_vars()?;
    // The weights remember `base`, so the saved model gets its tokenizer and processor files.
    let model = Llava::from_weights(config, &w)?;
    let tokenizer = LlavaTokenizer::from_dir(base)?;
    let processor = ImageProcessor::from_dir(base)?;
    let vars: Vec<Var> = {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::param("varmap", "poisoned", "a previous panic left it locked"))?;
        let mut named: Vec<(&String, &Var)> = data.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        named.into_iter().map(|(_, v)| v.clone()).collect()
    };
    let parameters = vars.iter().map(|v| v.elem_count()).sum();
    let pixels = corpus
        .images
        .iter()
        .map(|img| {
            let v = processor.preprocess(img)?;
            let (width, height) = processor.output_size(img.width(), img.height());
            Ok(Tensor::from_vec(
                v,
                (3, height as usize, width as usize),
                &device,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let image_id = tokenizer.image_token_id();
    let eos = tokenizer.eos_id();
    let encoded_epochs = epoch_docs
        .iter()
        .map(|docs| {
            docs.iter()
                .map(|d| encode_doc(&tokenizer, d, eos))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let tokens_per_epoch = encoded_epochs[0].iter().map(|d| d.ids.len()).sum();
    let mut opt = AdamW::new(
        vars.clone(),
        AdamWParams {
            lr: opts.lr,
            weight_decay: opts.weight_decay,
            beta2: 0.98,
            eps: 1e-8,
            ..AdamWParams::default()
        },
    )?;
    let all_steps: usize = (0..opts.epochs)
        .map(|e| {
            epoch_docs[e % epoch_docs.len()]
                .len()
                .div_ceil(opts.batch_size)
        })
        .sum();
    let total = opts.max_steps.unwrap_or(usize::MAX).min(all_steps);
    let mut log = PretrainLog {
        options: opts.clone(),
        documents: epoch_docs[0].len(),
        tokens_per_epoch,
        parameters,
        ..PretrainLog::default()
    };
    let score = |set: &[Probe], now: bool| {
        (now && !set.is_empty())
            .then(|| score_probes(&model, &tokenizer, &pixels, set))
            .transpose()
    };
    let sets = [
        &corpus.probes,
        &corpus.drilled_probes,
        &corpus.reading_probes,
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (mut sum, mut n) = (0.0, 0usize);
    'epochs: for epoch in 1..=opts.epochs {
        let docs = &epoch_docs[(epoch - 1) % epoch_docs.len()];
        let encoded = &encoded_epochs[(epoch - 1) % epoch_docs.len()];
        for batch in batches(encoded, opts.batch_size, &mut rng) {
            if log.steps >= total {
                break 'epochs;
            }
            let step = log.steps + 1;
            let lr = lr_at(opts, step, total);
            opt.set_lr(lr);
            let rows: Vec<&Encoded> = batch.iter().map(|&i| &encoded[i]).collect();
            let imgs: Vec<Tensor> = batch
                .iter()
                .flat_map(|&i| docs[i].images.iter().map(|&k| pixels[k].clone()))
                .collect();
            let (ids, mask, labels) = collate(&rows, tokenizer.pad_id(), image_id, &device)?;
            let pv = (!imgs.is_empty())
                .then(|| Tensor::stack(&imgs, 0))
                .transpose()?;
            let logits = model.forward(&ids, pv.as_ref(), Some(&mask))?;
            let pass = Pass::new(&logits, &labels, Some(&mask));
            let loss = if opts.document_mean {
                document_mean_nll(&pass)?
            } else {
                token_mean_nll(&pass)?
            };
            let value = f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
            if !value.is_finite() {
                return Err(Error::param(
                    "lr",
                    opts.lr,
                    format!("the loss became {value} at step {step}"),
                ));
            }
            let mut grads = fused::backward(&loss)?;
            clip_grad_norm(&mut grads, &vars, opts.max_grad_norm)?;
            opt.step(&grads)?;
            log.steps = step;
            sum += value;
            n += 1;
            let probe_now = opts.probe_every > 0 && step.is_multiple_of(opts.probe_every);
            if step.is_multiple_of(opts.log_every) || probe_now || step == total {
                let accuracies: Vec<Option<f64>> = sets
                    .iter()
                    .map(|set| score(set, probe_now))
                    .collect::<Result<_>>()?;
                let rec = PretrainRecord {
                    step,
                    epoch,
                    loss: sum / n.max(1) as f64,
                    lr,
                    seconds: start.elapsed().as_secs_f64(),
                    probe_accuracy: accuracies[0],
                    drilled_probe_accuracy: accuracies[1],
                    reading_probe_accuracy: accuracies[2],
                };
                let shown: String = [" probe", " drilled", " reading"]
                    .iter()
                    .zip(&accuracies)
                    .filter_map(|(what, a)| a.map(|a| format!("{what} {a:.1}%")))
                    .collect();
                eprintln!(
                    "step {step}/{total} epoch {epoch} loss {:.4} lr {lr:.2e} {:.0}s{}",
                    rec.loss, rec.seconds, shown
                );
                log.records.push(rec);
                (sum, n) = (0.0, 0);
            }
        }
    }
    let slots = [
        &mut log.final_probe_accuracy,
        &mut log.final_drilled_probe_accuracy,
        &mut log.final_reading_probe_accuracy,
    ];
    let names = ["probe", "drilled-probe", "reading-probe"];
    for ((slot, set), what) in slots.into_iter().zip(sets).zip(names) {
        *slot = score(set, true)?;
        if let Some(acc) = slot {
            eprintln!("final {what} accuracy {acc:.1}%");
        }
    }
    model.save(out, &SaveOptions::default())?;
    log.seconds = start.elapsed().as_secs_f64();
    Ok(log)
}

/// Linear warm-up, then cosine decay to a tenth of the peak (or the peak with `constant_lr`).
fn lr_at(o: &PretrainOptions, step: usize, total: usize) -> f64 {
    if step <= o.warmup_steps {
        return o.lr * step as f64 / o.warmup_steps.max(1) as f64;
    }
    if o.constant_lr {
        return o.lr;
    }
    let span = total.saturating_sub(o.warmup_steps).max(1) as f64;
    let t = (step - o.warmup_steps) as f64 / span;
    o.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
}

/// A document's token ids (BOS, text, EOS) and which of them are learnt.
struct Encoded {
    ids: Vec<u32>,
    learnt: Vec<bool>,
}

/// Tokenizes a document as [`LlavaTokenizer::encode`] does and marks the tokens that
/// overlap its learnt byte ranges (every token when there are none); the appended EOS is
/// always learnt.
fn encode_doc(tokenizer: &LlavaTokenizer, d: &Doc, eos: u32) -> Result<Encoded> {
    let mut ids = tokenizer.encode(&d.text)?;
    let mut learnt = vec![d.learn.is_empty(); ids.len()];
    if !d.learn.is_empty() {
        // Offsets refer to the text with every `<image>` expanded; shift the ranges alike.
        let image = tokenizer.image_token();
        let extra = image.len() * (tokenizer.image_seq_len() - 1);
        let shift = |at: usize| at + extra * d.text[..at].matches(image).count();
        let expanded = d
            .text
            .replace(image, &image.repeat(tokenizer.image_seq_len()));
        let enc = tokenizer
            .inner()
            .encode(expanded.as_str(), true)
            .map_err(|e| Error::tokenizer("tokenizer.json", e))?;
        if enc.get_ids() != ids.as_slice() {
            return Err(Error::param(
                "document",
                &d.text[..d.text.len().min(60)],
                "its offsets tokenize differently from the model's encoding",
            ));
        }
        let spans: Vec<(usize, usize)> = d
            .learn
            .iter()
            .map(|r| (shift(r.start), shift(r.end)))
            .collect();
        for (flag, &(s, e)) in learnt.iter_mut().zip(enc.get_offsets()) {
            *flag = e > s && spans.iter().any(|&(a, b)| s < b && e > a);
        }
    }
    ids.push(eos);
    learnt.push(true);
    Ok(Encoded { ids, learnt })
}

/// Each row's mean NLL over its learnt tokens ([`sequence_nll`] over its token count),
/// averaged over the rows.
fn document_mean_nll(pass: &Pass) -> Result<Tensor> {
    let (nll, tokens) = sequence_nll(pass)?;
    let inv: Vec<f32> = tokens.iter().map(|&n| 1.0 / n as f32).collect();
    let inv = Tensor::from_vec(inv, tokens.len(), nll.device())?;
    Ok((nll * inv)?.mean_all()?)
}

/// One epoch's batches: a seeded shuffle, then documents of similar length grouped
/// together (within windows of 32 batches) to waste little on padding, batches shuffled.
fn batches(encoded: &[Encoded], size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.shuffle(rng);
    let mut out = Vec::new();
    for window in order.chunks(size * 32) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| (encoded[i].ids.len(), i));
        out.extend(w.chunks(size).map(<[usize]>::to_vec));
    }
    out.shuffle(rng);
    out
}

/// Right-padded ids, mask and labels (image tokens and padding unlearnt).
fn collate(
    rows: &[&Encoded],
    pad: u32,
    image_id: u32,
    device: &Device,
) -> Result<(Tensor, Tensor, Tensor)> {
    let width = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
    let (mut ids, mut mask, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        for k in 0..width {
            let (t, m, l) = match r.ids.get(k) {
                Some(&t) if t == image_id || !r.learnt[k] => (t, 1u32, -100),
                Some(&t) => (t, 1, i64::from(t)),
                None => (pad, 0, -100),
            };
            ids.push(t);
            mask.push(m);
            labels.push(l);
        }
    }
    let shape = (rows.len(), width);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
        Tensor::from_vec(labels, shape, device)?,
    ))
}

/// Greedy multiple-choice accuracy (percent): the first character of the answer must be
/// the correct letter, as the benchmark's extraction reads it.
pub fn score_probes(
    model: &Llava,
    tokenizer: &LlavaTokenizer,
    pixels: &[Tensor],
    probes: &[Probe],
) -> Result<f64> {
    let cfg = GenerationConfig::greedy_for(model, 2);
    let mut right = 0usize;
    for p in probes {
        let ids = tokenizer.encode(&p.prompt)?;
        let imgs: Vec<Tensor> = p.images.iter().map(|&k| pixels[k].clone()).collect();
        let pv = (!imgs.is_empty())
            .then(|| Tensor::stack(&imgs, 0))
            .transpose()?;
        let g = model.generate(&[ids], pv.as_ref(), &cfg)?;
        let text = tokenizer.decode(&g.new_ids[0], true)?;
        if text
            .trim_start()
            .chars()
            .next()
            .map(|c| c.to_ascii_uppercase())
            == Some(p.correct)
        {
            right += 1;
        }
    }
    Ok(100.0 * right as f64 / probes.len().max(1) as f64)
}

/// Where [`pretrain`] writes its log beside the model.
pub fn log_path(out: &Path) -> PathBuf {
    out.join("pretrain_log.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::corpus::{answer_spans, DocKind};

    fn tokenizer() -> LlavaTokenizer {
        LlavaTokenizer::from_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny-llava"
        ))
        .unwrap()
    }

    #[test]
    fn only_the_answers_are_learnt_and_images_shift_the_ranges() {
        let tok = tokenizer();
        let text = "USER:<image>\nQuestion: Who?\nA: x\nB: y\nCorrect Answer: B\nUSER: <image>\nQ2\nASSISTANT: Tartu, Estonia";
        let d = Doc {
            text: text.into(),
            images: vec![0, 0],
            kind: DocKind::Reading,
            learn: answer_spans(text),
        };
        let eos = tok.eos_id();
        let e = encode_doc(&tok, &d, eos).unwrap();
        assert_eq!(e.ids.len(), e.learnt.len());
        assert_eq!(e.ids[..e.ids.len() - 1], tok.encode(text).unwrap());
        let learnt: Vec<u32> = e
            .ids
            .iter()
            .zip(&e.learnt)
            .filter(|(_, &l)| l)
            .map(|(&t, _)| t)
            .collect();
        assert_eq!(*learnt.last().unwrap(), eos);
        let words = tok.decode(&learnt[..learnt.len() - 1], true).unwrap();
        assert_eq!(
            words.split_whitespace().collect::<Vec<_>>(),
            ["B", "Tartu,", "Estonia"]
        );
        // Without ranges every token is learnt.
        let all = encode_doc(&tok, &Doc { learn: vec![], ..d }, eos).unwrap();
        assert!(all.learnt.iter().all(|&l| l));
    }

    #[test]
    fn the_rate_warms_up_then_decays_or_stays() {
        let o = PretrainOptions {
            lr: 1e-3,
            warmup_steps: 10,
            ..PretrainOptions::default()
        };
        assert!((lr_at(&o, 5, 100) - 5e-4).abs() < 1e-12);
        assert!((lr_at(&o, 10, 100) - 1e-3).abs() < 1e-12);
        assert!(
            (lr_at(&o, 100, 100) - 1e-4).abs() < 1e-12,
            "a tenth at the end"
        );
        let c = PretrainOptions {
            constant_lr: true,
            ..o
        };
        assert!((lr_at(&c, 5, 100) - 5e-4).abs() < 1e-12, "same warm-up");
        assert_eq!(lr_at(&c, 60, 100), 1e-3);
        assert_eq!(lr_at(&c, 100, 100), 1e-3);
    }

    #[test]
    fn the_document_mean_weighs_each_row_alike() {
        let dev = Device::Cpu;
        // Row 0: one kept token with log-likelihood log(1/4); row 1: three with log(1/2).
        let logits = Tensor::from_vec(
            vec![
                0f32, 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., //
                0., -1e9, 0., -1e9, 0., -1e9, 0., -1e9, 0., -1e9, 0., -1e9, 0., 0., 0., 0.,
            ],
            (2, 4, 4),
            &dev,
        )
        .unwrap();
        let labels = Tensor::new(&[[-100i64, -100, -100, 1], [-100, 0, 0, 2]], &dev).unwrap();
        let pass = Pass::new(&logits, &labels, None);
        let doc = document_mean_nll(&pass)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let tok = token_mean_nll(&pass).unwrap().to_scalar::<f32>().unwrap();
        let (l4, l2) = (4f32.ln(), 2f32.ln());
        assert!((doc - (l4 + l2) / 2.0).abs() < 1e-5, "{doc}");
        assert!((tok - (l4 + 3.0 * l2) / 4.0).abs() < 1e-5, "{tok}");
    }
}
