//! Batched generation with a key/value cache, as transformers' `generate` (greedy or
//! sampling, one beam): prompts left-padded, position ids `cumsum(mask) − 1` (1 on padding),
//! per-row stop on an end-of-sequence id, and a reusable cache of a shared prompt prefix.

use super::llama::KvCache;
use super::llava::{Llava, RunInputs};
use crate::{Error, Result};
use candle_core::{DType, Tensor, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The most likely token (`do_sample=False`).
    Greedy,
    /// A draw from the softmax of `logits / temperature`, optionally restricted to the `top_k`
    /// most likely tokens and to the smallest set whose probability reaches `top_p`.
    Sample {
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Nucleus threshold in (0, 1].
        top_p: Option<f64>,
        /// Keep only this many tokens.
        top_k: Option<usize>,
        /// Seed of the draws.
        seed: u64,
    },
}

/// Decoding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most tokens generated per row.
    pub max_new_tokens: usize,
    /// Greedy or sampling.
    pub sampling: Sampling,
    /// A row stops after producing one of these ids.
    pub eos_token_ids: Vec<u32>,
    /// Padding id for left padding (`None`: the model's `pad_token_id`).
    pub pad_token_id: Option<u32>,
}

impl Default for GenerationConfig {
    /// Greedy, 50 new tokens (the benchmark's setting), stop on `</s>` (id 2).
    fn default() -> Self {
        GenerationConfig {
            max_new_tokens: 50,
            sampling: Sampling::Greedy,
            eos_token_ids: vec![2],
            pad_token_id: None,
        }
    }
}

impl GenerationConfig {
    /// Greedy decoding of `max_new_tokens` with the model folder's end-of-sequence ids
    /// (`generation_config.json`, else `</s>` = 2).
    pub fn greedy_for(model: &Llava, max_new_tokens: usize) -> GenerationConfig {
        let path = model.source_dir().map(|d| d.join("generation_config.json"));
        let file = path.and_then(|p| crate::io::read_json::<serde_json::Value>(&p).ok());
        let eos = match file.as_ref().and_then(|v| v.get("eos_token_id")) {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|e| vec![e as u32]),
            Some(serde_json::Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|e| e.as_u64().map(|e| e as u32))
                    .collect(),
            ),
            _ => None,
        };
        GenerationConfig {
            max_new_tokens,
            eos_token_ids: eos.unwrap_or_else(|| vec![2]),
            ..Default::default()
        }
    }
}

/// The result of a generation.
#[derive(Debug, Clone)]
pub struct Generation {
    /// New ids per row (prompt excluded), ending with the end-of-sequence id when one was
    /// produced.
    pub new_ids: Vec<Vec<u32>>,
    /// Whether each row stopped on an end-of-sequence id.
    pub stopped_on_eos: Vec<bool>,
    /// Float32 logits `[B, vocab]` that chose the first new token of each row.
    pub first_logits: Tensor,
}

/// The key/value cache of a prompt prefix shared by many prompts, computed once by
/// [`Llava::prefix_cache`] and extended by [`Llava::generate_with_prefix`].
#[derive(Debug, Clone)]
pub struct PrefixCache {
    cache: KvCache,
    len: usize,
}

impl PrefixCache {
    /// Number of prefix tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the prefix is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn check(cfg: &GenerationConfig) -> Result<()> {
    if let Sampling::Sample {
        temperature,
        top_p,
        top_k,
        ..
    } = &cfg.sampling
    {
        if temperature.is_nan() || *temperature <= 0.0 {
            return Err(Error::param(
                "temperature",
                temperature,
                "must be positive (use greedy decoding for 0)",
            ));
        }
        if let Some(p) = top_p.filter(|p| p.is_nan() || *p <= 0.0 || *p > 1.0) {
            return Err(Error::param("top_p", p, "must be in (0, 1]"));
        }
        if *top_k == Some(0) {
            return Err(Error::param("top_k", 0, "must be at least 1"));
        }
    }
    Ok(())
}

/// An error on `what` (`reason`) when one of `rows` holds no token.
fn none_empty<T: AsRef<[u32]>>(rows: &[T], what: &str, reason: &str) -> Result<()> {
    match rows.iter().any(|r| r.as_ref().is_empty()) {
        true => Err(Error::param(what, "empty", reason)),
        false => Ok(()),
    }
}

/// Draws one id from `logits` (float32) with temperature, top-k and top-p filtering.
fn sample(
    logits: &[f32],
    temperature: f64,
    top_p: Option<f64>,
    top_k: Option<usize>,
    rng: &mut ChaCha8Rng,
) -> u32 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if let Some(k) = top_k {
        order.truncate(k.max(1));
    }
    let max = logits[order[0]] as f64;
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i] as f64 - max) / temperature).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(p) = top_p {
        let mut acc = 0.0;
        let keep = (probs.iter().position(|q| {
            acc += q;
            acc >= p
        }))
        .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (i, q) in probs.iter().enumerate() {
        if u < *q {
            return order[i] as u32;
        }
        u -= q;
    }
    order[order.len() - 1] as u32
}

impl Llava {
    /// Generates a continuation for each prompt (token ids without padding; `<image>` already
    /// expanded). `pixel_values` hold the images of all prompts in order. Rows are
    /// left-padded together and decoded in one batch.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        pixel_values: Option<&Tensor>,
        cfg: &GenerationConfig,
    ) -> Result<Generation> {
        none_empty(prompts, "prompts", "every prompt needs at least one token")?;
        self.decode(KvCache::new(), 0, prompts, pixel_values, cfg)
    }

    /// Computes the cache of `prefix` (with the images it contains) once.
    pub fn prefix_cache(
        &self,
        prefix: &[u32],
        pixel_values: Option<&Tensor>,
    ) -> Result<PrefixCache> {
        none_empty(&[prefix], "prefix", "a prefix needs at least one token")?;
        let ids = Tensor::from_vec(prefix.to_vec(), (1, prefix.len()), self.device())?;
        let mut cache = KvCache::new();
        let inputs = RunInputs {
            pixel_values,
            cache: Some(&mut cache),
            ..RunInputs::default()
        };
        self.run(&ids, inputs)?;
        Ok(PrefixCache {
            cache,
            len: prefix.len(),
        })
    }

    /// Generates for prompts `prefix + suffix` reusing the prefix's cache: the same result
    /// as [`Llava::generate`] on the concatenated prompts. `pixel_values` hold the images of
    /// the suffixes only, in order.
    pub fn generate_with_prefix(
        &self,
        prefix: &PrefixCache,
        suffixes: &[Vec<u32>],
        pixel_values: Option<&Tensor>,
        cfg: &GenerationConfig,
    ) -> Result<Generation> {
        none_empty(
            suffixes,
            "suffixes",
            "every suffix needs at least one token",
        )?;
        let longest = suffixes.iter().map(Vec::len).max().unwrap_or(0);
        let cache = prefix
            .cache
            .expand_rows(suffixes.len(), longest + cfg.max_new_tokens)?;
        self.decode(cache, prefix.len, suffixes, pixel_values, cfg)
    }

    fn decode(
        &self,
        cache: KvCache,
        prefix: usize,
        rows: &[Vec<u32>],
        pixel_values: Option<&Tensor>,
        cfg: &GenerationConfig,
    ) -> Result<Generation> {
        super::device::on_pool(self.device(), || {
            self.decode_here(cache, prefix, rows, pixel_values, cfg)
        })
    }

    fn decode_here(
        &self,
        mut cache: KvCache,
        prefix: usize,
        rows: &[Vec<u32>],
        pixel_values: Option<&Tensor>,
        cfg: &GenerationConfig,
    ) -> Result<Generation> {
        check(cfg)?;
        let b = rows.len();
        if b == 0 {
            return Err(Error::param("prompts", "[]", "give at least one prompt"));
        }
        let pad = cfg.pad_token_id.unwrap_or(self.config.pad_token_id);
        let l = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(b);
        let mut ids = Vec::with_capacity(b * l);
        let mut pos = Vec::with_capacity(b * l);
        for r in rows {
            let mut k = vec![1u8; prefix];
            k.extend(std::iter::repeat_n(0u8, l - r.len()));
            k.extend(std::iter::repeat_n(1u8, r.len()));
            ids.extend(std::iter::repeat_n(pad, l - r.len()));
            ids.extend_from_slice(r);
            // padding at position 1, the tokens counted on from the prefix
            pos.extend(std::iter::repeat_n(1.0, l - r.len()));
            pos.extend((prefix..prefix + r.len()).map(|p| p as f32));
            keys.push(k);
        }
        cache.reserve(l + cfg.max_new_tokens)?;
        let dev = self.device().clone();
        let ids_t = Tensor::from_vec(ids, (b, l), &dev)?;
        let pos_t = Tensor::from_vec(pos, (b, l), &dev)?;
        let inputs = RunInputs {
            pixel_values,
            key_mask: Some(&keys),
            positions: Some(&pos_t),
            cache: Some(&mut cache),
            ..RunInputs::default()
        };
        let h = self.run(&ids_t, inputs)?;
        let mut logits = self.last_logits(&h)?;
        let first_logits = logits.clone();
        let mut next_pos: Vec<u32> = keys
            .iter()
            .map(|k| k.iter().map(|&m| m as u32).sum())
            .collect();
        // the draws' generator and settings when sampling
        let mut sampler = match &cfg.sampling {
            Sampling::Sample {
                temperature,
                top_p,
                top_k,
                seed,
            } => Some((
                ChaCha8Rng::seed_from_u64(*seed),
                *temperature,
                *top_p,
                *top_k,
            )),
            Sampling::Greedy => None,
        };
        let mut out = vec![Vec::new(); b];
        let mut done = vec![false; b];
        let mut stopped = vec![false; b];
        for step in 0..cfg.max_new_tokens {
            let chosen: Vec<u32> = match sampler.as_mut() {
                Some((rng, t, p, k)) => (logits.to_vec2::<f32>()?.iter())
                    .map(|r| sample(r, *t, *p, *k, rng))
                    .collect(),
                None => logits.argmax(D::Minus1)?.to_vec1::<u32>()?,
            };
            let mut feed = Vec::with_capacity(b);
            for (i, &t) in chosen.iter().enumerate() {
                if done[i] {
                    feed.push(pad);
                    continue;
                }
                out[i].push(t);
                feed.push(t);
                if cfg.eos_token_ids.contains(&t) {
                    done[i] = true;
                    stopped[i] = true;
                }
            }
            if step + 1 == cfg.max_new_tokens || done.iter().all(|&d| d) {
                break;
            }
            let pos: Vec<f32> = next_pos.iter().map(|&p| p as f32).collect();
            for (k, p) in keys.iter_mut().zip(next_pos.iter_mut()) {
                k.push(1);
                *p += 1;
            }
            let ids_t = Tensor::from_vec(feed, (b, 1), &dev)?;
            let pos_t = Tensor::from_vec(pos, (b, 1), &dev)?;
            let inputs = RunInputs {
                key_mask: Some(&keys),
                positions: Some(&pos_t),
                cache: Some(&mut cache),
                generated: true,
                ..RunInputs::default()
            };
            let h = self.run(&ids_t, inputs)?;
            logits = self.last_logits(&h)?;
        }
        Ok(Generation {
            new_ids: out,
            stopped_on_eos: stopped,
            first_logits,
        })
    }

    /// Float32 logits `[B, vocab]` of the last position of `h` (`[B, L, hidden]`).
    fn last_logits(&self, h: &Tensor) -> Result<Tensor> {
        let l = h.dim(1)?;
        let last = h.narrow(1, l - 1, 1)?.squeeze(1)?;
        let logits = candle_nn::Module::forward(&self.language_model.lm_head, &last)?;
        Ok(logits.to_dtype(DType::F32)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_filters() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let logits = [0f32, 5.0, 4.9, -3.0];
        for _ in 0..50 {
            assert_eq!(sample(&logits, 1.0, None, Some(1), &mut rng), 1);
            let t = sample(&logits, 1.0, Some(0.9), None, &mut rng);
            assert!(t == 1 || t == 2, "{t}");
        }
        let mut seen = [0usize; 4];
        for _ in 0..2000 {
            seen[sample(&logits, 100.0, None, None, &mut rng) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 300), "{seen:?}"); // high temperature: near uniform
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let cfg = GenerationConfig {
            sampling: Sampling::Sample {
                temperature: 0.0,
                top_p: None,
                top_k: None,
                seed: 0,
            },
            ..Default::default()
        };
        assert!(check(&cfg).unwrap_err().to_string().contains("temperature"));
        let cfg = GenerationConfig {
            sampling: Sampling::Sample {
                temperature: 1.0,
                top_p: Some(1.5),
                top_k: None,
                seed: 0,
            },
            ..Default::default()
        };
        assert!(check(&cfg).unwrap_err().to_string().contains("top_p"));
    }
}
