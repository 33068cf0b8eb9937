//! [`Evaluate::run`]: plan the questions, generate what the cache lacks (batched, with the
//! few-shot prefix's KV cache computed once per set × task × modality), score, write the
//! reference's files and `report.json`.

use crate::bench::{Bench, Split};
use crate::eval::cache::{generation_key, CachedGeneration, GenerationCache};
use crate::eval::extract::{cloze_correct, open_response, score_choice, Extraction};
use crate::eval::fewshot::ModelFamily;
use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::metrics::score_text;
use crate::eval::options::{Evaluate, CACHE_FILE};
use crate::eval::plan::{self, ImageRef, Planned, Target};
use crate::eval::prompts::OPTION_KEYS;
use crate::eval::report::{
    DatasetFingerprint, Manifest, QuestionResult, Report, RunStats, SetTiming,
};
use crate::model::{device, GenerationConfig, LlavaTokenizer, Model};
use crate::{Error, Result};
use candle_core::Tensor;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// One question ready for generation.
struct Prepared {
    ids: Vec<u32>,
    key: String,
}

/// The token ids of `" A"` … `" D"` right after `ASSISTANT:` (what the model would generate
/// as its first token); `None` when a letter is not one token there.
pub(crate) fn option_token_ids(tok: &LlavaTokenizer) -> Result<Option<[u32; 4]>> {
    let base = tok.encode_unexpanded("USER:\nQ\nASSISTANT:")?;
    let mut out = [0u32; 4];
    for (slot, letter) in out.iter_mut().zip(OPTION_KEYS) {
        let with = tok.encode_unexpanded(&format!("USER:\nQ\nASSISTANT: {letter}"))?;
        if with.len() != base.len() + 1 || with[..base.len()] != base[..] {
            return Ok(None);
        }
        *slot = with[base.len()];
    }
    Ok(Some(out))
}

/// Log-softmax (in f64) of one logits row at the given ids. Non-finite values (an
/// underflow) become -1e300 so the report stays valid JSON.
fn logprobs_at(row: &[f32], ids: &[u32; 4]) -> [f64; 4] {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let lse = max
        + row
            .iter()
            .map(|&x| (x as f64 - max).exp())
            .sum::<f64>()
            .ln();
    ids.map(|i| {
        let v = row.get(i as usize).map(|&x| x as f64 - lse);
        v.filter(|v| v.is_finite()).unwrap_or(-1e300)
    })
}

/// Length of the prompt prefix shared by every row: the longest common token prefix, cut
/// before the first image that is not the same image in every row, never inside an image's
/// tokens, and leaving every row at least one token of its own.
pub(crate) fn shared_prefix(
    rows: &[(&[u32], &[ImageRef])],
    image_token: u32,
    image_len: usize,
) -> usize {
    let Some((first, first_imgs)) = rows.first() else {
        return 0;
    };
    let mut p = rows
        .iter()
        .map(|r| r.0.len())
        .min()
        .unwrap_or(0)
        .saturating_sub(1);
    for (ids, _) in &rows[1..] {
        p = p.min(first.iter().zip(*ids).take_while(|(a, b)| a == b).count());
    }
    let mut seen = 0usize;
    let mut start = 0usize;
    for (j, &t) in first.iter().enumerate().take(p) {
        if t != image_token {
            continue;
        }
        if seen.is_multiple_of(image_len.max(1)) {
            start = j;
            let r = seen / image_len.max(1);
            let same = rows.iter().all(|(_, imgs)| {
                imgs.get(r).map(|i| &i.sha256) == first_imgs.get(r).map(|i| &i.sha256)
            });
            if !same || first_imgs.get(r).is_none() {
                return j;
            }
        }
        seen += 1;
    }
    if !seen.is_multiple_of(image_len.max(1)) {
        return start;
    }
    p
}

fn fingerprint(bench: &Bench) -> Result<DatasetFingerprint> {
    let root = bench.root();
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let files: Vec<&std::path::PathBuf> = bench
        .eval_sets()
        .flat_map(|s| s.files.iter())
        .chain(bench.train_sets().flat_map(|s| s.files.iter()))
        .collect();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let size = std::fs::metadata(f)
            .map_err(|e| Error::io("stat", f.as_path(), e))?
            .len();
        parts.push(rel.into_bytes());
        parts.push(size.to_le_bytes().to_vec());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(DatasetFingerprint {
        root: root.display().to_string(),
        fingerprint: crate::io::hash_parts(&refs),
        files: files.len(),
    })
}

/// Preprocessed images, memoised by content hash (few-shot images recur in every prompt).
struct Pixels<'a> {
    model: &'a Model,
    memo: HashMap<String, Tensor>,
}

impl Pixels<'_> {
    fn get(&mut self, images: &[(ImageRef, crate::bench::Portrait)]) -> Result<Option<Tensor>> {
        if images.is_empty() {
            return Ok(None);
        }
        if self.memo.len() > 256 {
            self.memo.clear();
        }
        let mut ts = Vec::with_capacity(images.len());
        for (r, portrait) in images {
            if let Some(t) = self.memo.get(&r.sha256) {
                ts.push(t.clone());
                continue;
            }
            let rgb = portrait.decode()?;
            let data = self.model.processor.preprocess(&rgb)?;
            let (w, h) = self.model.processor.output_size(rgb.width(), rgb.height());
            let shape = (1, 3, h as usize, w as usize);
            let t = Tensor::from_vec(data, shape, self.model.llava.device())?;
            self.memo.insert(r.sha256.clone(), t.clone());
            ts.push(t);
        }
        Ok(Some(Tensor::cat(&ts, 0)?))
    }
}

/// Scores one generation.
fn score(
    q: &Planned,
    prompt_ids: &[u32],
    gen: &CachedGeneration,
    tok: &LlavaTokenizer,
    extraction: Extraction,
) -> Result<QuestionResult> {
    let raw_output = tok.decode(&gen.new_ids, true)?;
    let text = match extraction {
        Extraction::Reference => tok.eval_style_decode(&[prompt_ids, &gen.new_ids].concat())?,
        Extraction::NewTokens => raw_output.clone(),
    };
    let mut r = QuestionResult {
        set: q.set,
        task: q.task,
        modality: q.modality,
        profile: q.profile.clone(),
        index: q.index,
        question: String::new(),
        question_type: q.modality.as_str().into(),
        options: None,
        ground_truth: String::new(),
        prompt: q.prompt.clone(),
        prompt_tokens: prompt_ids.len(),
        images: q.images.iter().map(|(r, _)| r.clone()).collect(),
        raw_output,
        new_tokens: gen.new_ids.len(),
        stopped_on_eos: gen.stopped_on_eos,
        answer: String::new(),
        predicted: None,
        correct: None,
        format_failure: None,
        text_scores: None,
        option_logprobs: None,
        likelihood_choice: None,
        likelihood_correct: None,
        score: 0.0,
    };
    match &q.target {
        Target::Choice(c) => {
            let correct = c.correct.to_string();
            let o = score_choice(&text, &correct, extraction);
            r.question = c.question.clone();
            r.options = Some(c.options.clone());
            r.ground_truth = correct.clone();
            r.format_failure = Some(o.format_failure());
            r.answer = o.response;
            r.predicted = o.predicted;
            r.correct = Some(o.correct);
            r.score = if o.correct { 100.0 } else { 0.0 };
            if let Some(lp) = gen.option_logprobs {
                let best = (0..4).fold(0, |b, k| if lp[k] > lp[b] { k } else { b });
                let letter = OPTION_KEYS[best];
                r.option_logprobs = Some(lp);
                r.likelihood_choice = letter.chars().next();
                r.likelihood_correct = Some(letter == correct);
            }
        }
        Target::Open(o) => {
            let resp = open_response(&text, extraction).to_string();
            r.question = o.question.clone();
            r.question_type = o.kind.clone();
            r.ground_truth = o.ground_truth.clone();
            if q.task == Task::Cloze {
                let ok = cloze_correct(&o.ground_truth, &resp);
                r.correct = Some(ok);
                r.score = if ok { 100.0 } else { 0.0 };
            } else {
                let s = score_text(&o.ground_truth, &resp);
                r.score = s.rouge_l;
                r.text_scores = Some(s);
            }
            r.answer = resp;
        }
    }
    Ok(r)
}

impl Evaluate {
    fn check(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::param("--batch-size", 0, "must be at least 1"));
        }
        if self.sets.is_empty() {
            return Err(Error::param(
                "--sets",
                "[]",
                "choose at least one of forget, test, retain_shared, retain_celebrity",
            ));
        }
        if self.max_profiles == Some(0) {
            return Err(Error::param(
                "--max-profiles",
                0,
                "must be at least 1 (or unset for all profiles)",
            ));
        }
        if self.max_new_tokens == Some(0) {
            return Err(Error::param("--max-new-tokens", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// Evaluates `model` on the sets of `split`, writing into `out_dir`: the reference's
    /// `{set}_generation_results.json` and `{name}_final_evaluation_results.json`,
    /// `report.json`, and (by default) the generation cache `generation_cache.jsonl`.
    ///
    /// Generations already in the cache are not recomputed, so a killed run resumes and a
    /// rerun with nothing changed only rescores.
    ///
    /// ```
    /// use mllmu::{bench::Bench, eval::{Evaluate, items::EvalMode}, model::Model};
    /// let model = Model::load_with("tests/fixtures/tiny-llava", &candle_core::Device::Cpu, candle_core::DType::F32)?;
    /// let bench = Bench::open("tests/fixtures/mllmu-sample")?;
    /// let split = bench.split(5)?;
    /// let out = tempfile::tempdir().unwrap();
    /// let eval = Evaluate::paper().with_sets(&[EvalMode::Forget]).with_max_new_tokens(3).with_progress(false);
    /// let report = eval.run(&model, &bench, &split, out.path())?;
    /// assert_eq!(report.questions.len(), 4); // profile 005's generation questions
    /// assert!(out.path().join("forget_generation_results.json").is_file());
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn run(
        &self,
        model: &Model,
        bench: &Bench,
        split: &Split,
        out_dir: impl AsRef<Path>,
    ) -> Result<Report> {
        let out_dir = out_dir.as_ref();
        self.check()?;
        let started = Instant::now();
        let family = self
            .family
            .map_or_else(|| ModelFamily::from_config(&model.dir), Ok)?;
        let tok = &model.tokenizer;
        let weights_hash = model.weights_hash()?;
        let plan = plan::plan(bench, split, self, family)?;
        let option_ids = self.option_likelihood.then(|| option_token_ids(tok));
        let option_ids = option_ids.transpose()?.flatten();
        let eos = GenerationConfig::greedy_for(&model.llava, 1).eos_token_ids;
        let decoding = |n: usize| format!("greedy;max_new_tokens={n};eos={eos:?}");

        let mut prepared = Vec::with_capacity(plan.questions.len());
        for q in &plan.questions {
            let shown = tok.count_images(&q.prompt);
            if shown != q.images.len() {
                return Err(Error::BadData {
                    file: plan::folder_of(q.set, split.ratio()),
                    profile: q.profile.clone(),
                    message: format!(
                        "{} question {} shows {} images but its prompt has {shown} `{}` placeholders (does the question text contain one?)",
                        q.task.as_str(),
                        q.index,
                        q.images.len(),
                        tok.image_token()
                    ),
                });
            }
            let ids = tok.encode(&q.prompt)?;
            let hashes: Vec<&str> = q.images.iter().map(|(r, _)| r.sha256.as_str()).collect();
            let key = generation_key(&weights_hash, &ids, &hashes, &decoding(q.max_new_tokens));
            prepared.push(Prepared { ids, key });
        }

        let cache_path = self
            .cache_path
            .clone()
            .unwrap_or_else(|| out_dir.join(CACHE_FILE));
        let mut cache = if self.use_cache {
            GenerationCache::open(&cache_path)?
        } else {
            GenerationCache::in_memory()
        };
        let mut stats = RunStats {
            cache_lines_skipped: cache.skipped_lines(),
            cache_path: cache.path().map(|p| p.display().to_string()),
            setup_seconds: started.elapsed().as_secs_f64(),
            ..Default::default()
        };

        // Groups share a prompt prefix: same set, task and modality, in the order of their
        // first question, each group's questions in plan order.
        let mut groups: Vec<((EvalMode, Task, Modality), Vec<usize>)> = Vec::new();
        for (i, q) in plan.questions.iter().enumerate() {
            let g = (q.set, q.task, q.modality);
            match groups.iter_mut().find(|(k, _)| *k == g) {
                Some((_, v)) => v.push(i),
                None => groups.push((g, vec![i])),
            }
        }
        let mut pending = HashSet::new();
        let misses: usize = prepared
            .iter()
            .filter(|p| cache.get(&p.key).is_none() && pending.insert(p.key.clone()))
            .count();
        let bar =
            crate::progress::Progress::new(self.progress, "eval", "generations", misses as u64);
        let mut pixels = Pixels {
            model,
            memo: HashMap::new(),
        };
        let mut set_seconds: Vec<SetTiming> = Vec::new();
        let mut queued: HashSet<String> = HashSet::new();
        for ((set, task, modality), members) in &groups {
            let t0 = Instant::now();
            let todo: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| {
                    cache.get(&prepared[i].key).is_none() && queued.insert(prepared[i].key.clone())
                })
                .collect();
            if !todo.is_empty() {
                bar.set_message(format!("{set} {} {modality}", task.as_str()));
                self.generate_group(
                    model,
                    &plan,
                    &prepared,
                    members,
                    &todo,
                    &mut pixels,
                    &mut cache,
                    &mut stats,
                    option_ids,
                    &bar,
                )?;
            }
            match set_seconds.iter_mut().find(|s| s.set == *set) {
                Some(s) => s.seconds += t0.elapsed().as_secs_f64(),
                None => set_seconds.push(SetTiming {
                    set: *set,
                    seconds: t0.elapsed().as_secs_f64(),
                }),
            }
        }
        bar.finish();
        stats.sets = set_seconds;
        stats.cached_generations = plan.questions.len() - stats.new_generations;

        let mut questions = Vec::with_capacity(plan.questions.len());
        for (q, p) in plan.questions.iter().zip(&prepared) {
            let gen = cache.get(&p.key).ok_or_else(|| Error::Cache {
                path: cache.path().unwrap_or(Path::new("<in memory>")).into(),
                message: format!("the entry {} vanished during the run", p.key),
            })?;
            questions.push(score(q, &p.ids, gen, tok, self.extraction)?);
        }
        let manifest = Manifest {
            mllmu_version: env!("CARGO_PKG_VERSION").into(),
            options: self.clone(),
            corrections: self.corrections(),
            family,
            model_dir: model.dir.display().to_string(),
            processor_dir: model.processor_dir.display().to_string(),
            weights_hash,
            dtype: format!("{:?}", model.llava.dtype()).to_lowercase(),
            device: device::describe(model.llava.device()),
            dataset: fingerprint(bench)?,
            forget_ratio: split.ratio(),
            sets: EvalMode::ALL
                .into_iter()
                .filter(|m| self.sets.contains(m))
                .collect(),
            fewshot_draws: plan.draws,
            test_images: plan.test_images,
            option_token_ids: option_ids,
            eos_token_ids: eos.clone(),
        };
        stats.total_seconds = started.elapsed().as_secs_f64();
        let report = Report::build(manifest, questions, plan.skipped, stats)?;
        report.write(out_dir)?;
        Ok(report)
    }

    /// Generates the `todo` questions of one group in batches, reusing the prefix shared by
    /// all `members`.
    #[allow(clippy::too_many_arguments)]
    fn generate_group(
        &self,
        model: &Model,
        plan: &plan::Plan,
        prepared: &[Prepared],
        members: &[usize],
        todo: &[usize],
        pixels: &mut Pixels,
        cache: &mut GenerationCache,
        stats: &mut RunStats,
        option_ids: Option<[u32; 4]>,
        bar: &crate::progress::Progress,
    ) -> Result<()> {
        let tok = &model.tokenizer;
        let first = &plan.questions[todo[0]];
        let cfg = GenerationConfig::greedy_for(&model.llava, first.max_new_tokens);
        let refs: Vec<Vec<ImageRef>> = members
            .iter()
            .map(|&i| {
                plan.questions[i]
                    .images
                    .iter()
                    .map(|(r, _)| r.clone())
                    .collect()
            })
            .collect();
        let rows: Vec<(&[u32], &[ImageRef])> = members
            .iter()
            .zip(&refs)
            .map(|(&i, r)| (prepared[i].ids.as_slice(), r.as_slice()))
            .collect();
        let p = if self.reuse_prefix {
            shared_prefix(&rows, tok.image_token_id(), tok.image_seq_len())
        } else {
            0
        };
        let n_prefix_images = prepared[todo[0]].ids[..p]
            .iter()
            .filter(|&&t| t == tok.image_token_id())
            .count()
            / tok.image_seq_len().max(1);
        let prefix = (p >= 2).then(|| -> Result<_> {
            let pv = pixels.get(&first.images[..n_prefix_images])?;
            let ids = &prepared[todo[0]].ids[..p];
            model.llava.prefix_cache(ids, pv.as_ref())
        });
        let prefix = prefix.transpose()?;
        let (cut, skip_images) = match prefix {
            Some(_) => (p, n_prefix_images),
            None => (0, 0),
        };
        let want_ll = first.task == Task::Classification;
        let mut rest = todo;
        while !rest.is_empty() {
            let mut take = self.batch_size.min(rest.len());
            if let Some(budget) = self.max_new_generations {
                let left = budget.saturating_sub(stats.new_generations);
                if left == 0 {
                    // As asked: the generations so far are in the cache; a rerun resumes.
                    return Err(Error::Stopped {
                        step: stats.new_generations,
                        checkpoint: cache.path().map_or_else(
                            || "nothing (the generation cache is in memory)".into(),
                            |p| p.display().to_string(),
                        ),
                    });
                }
                take = take.min(left);
            }
            let (batch, tail) = rest.split_at(take);
            rest = tail;
            let suffixes: Vec<Vec<u32>> = batch
                .iter()
                .map(|&i| prepared[i].ids[cut..].to_vec())
                .collect();
            let imgs: Vec<_> = (batch.iter())
                .flat_map(|&i| plan.questions[i].images[skip_images..].iter().cloned())
                .collect();
            let pv = pixels.get(&imgs)?;
            let out = match &prefix {
                Some(pc) => model
                    .llava
                    .generate_with_prefix(pc, &suffixes, pv.as_ref(), &cfg)?,
                None => model.llava.generate(&suffixes, pv.as_ref(), &cfg)?,
            };
            stats.batches += 1;
            for (row, &i) in batch.iter().enumerate() {
                let option_logprobs = match (want_ll, option_ids) {
                    (true, Some(ids)) => Some(logprobs_at(
                        &out.first_logits.get(row)?.to_vec1::<f32>()?,
                        &ids,
                    )),
                    _ => None,
                };
                stats.new_tokens += out.new_ids[row].len();
                cache.insert(CachedGeneration {
                    key: prepared[i].key.clone(),
                    new_ids: out.new_ids[row].clone(),
                    stopped_on_eos: out.stopped_on_eos[row],
                    option_logprobs,
                })?;
                stats.new_generations += 1;
                bar.inc(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(h: &str) -> ImageRef {
        ImageRef {
            set: "s".into(),
            profile: "p".into(),
            column: "image".into(),
            index: 0,
            sha256: h.into(),
        }
    }

    #[test]
    fn prefix_stops_before_a_differing_image_and_never_splits_one() {
        // image token 9, two tokens per image
        let a = [1, 5, 9, 9, 6, 9, 9, 7, 8];
        let b = [1, 5, 9, 9, 6, 9, 9, 7, 3, 4];
        let shots = [img("s"), img("q1")];
        let other = [img("s"), img("q2")];
        // Same first image, different second: cut at the second image's first token.
        assert_eq!(shared_prefix(&[(&a, &shots), (&b, &other)], 9, 2), 5);
        // Same images: the whole common text prefix.
        assert_eq!(shared_prefix(&[(&a, &shots), (&b, &shots)], 9, 2), 8);
        // A common prefix ending inside an image backs off to the image start.
        let c = [1, 5, 9, 9, 6, 9, 9];
        assert_eq!(shared_prefix(&[(&c, &shots), (&a, &shots)], 9, 2), 5);
        // One row: everything but its last token.
        assert_eq!(shared_prefix(&[(&b, &shots)], 9, 2), 9);
        let t = [1, 2, 3];
        assert_eq!(shared_prefix(&[(&t, &[]), (&[1, 2, 4], &[])], 9, 2), 2);
    }

    #[test]
    fn logprobs_are_a_log_softmax() {
        let row = [0.0f32, 1.0, 2.0, 3.0, -1.0];
        let lp = logprobs_at(&row, &[3, 2, 1, 0]);
        let z: f64 = row.iter().map(|&x| (x as f64).exp()).sum();
        for (k, id) in [3usize, 2, 1, 0].iter().enumerate() {
            assert!((lp[k] - ((row[*id] as f64).exp() / z).ln()).abs() < 1e-12);
        }
        assert_eq!(logprobs_at(&row, &[99, 0, 0, 0])[0], -1e300);
    }

    #[test]
    fn option_letters_are_single_tokens_in_the_tiny_tokenizer() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llava");
        let tok = LlavaTokenizer::from_dir(dir).unwrap();
        let ids = option_token_ids(&tok)
            .unwrap()
            .expect("single-token letters");
        for (id, l) in ids.iter().zip(OPTION_KEYS) {
            assert_eq!(tok.decode(&[*id], true).unwrap().trim(), l);
        }
    }
}
