//! A judge run: cache look-ups, bounded concurrency, collection of results, and the
//! blocking entry point for notebooks.

use super::item::JudgeItem;
use super::options::JudgeOptions;
use super::report::JudgeReport;
use crate::{Error, Result};
#[cfg(feature = "judge")]
use {
    super::cache::{cache_key, CacheEntry, JudgeCache},
    super::client::{Endpoint, Outcome},
    super::item::Judgement,
    super::options::redact,
    super::report::JudgeSummary,
    super::rubric::RUBRIC_VERSION,
    std::collections::HashMap,
    std::sync::atomic::Ordering,
    std::sync::{Arc, Mutex},
    std::time::Instant,
};

/// The factuality judge: options checked once, then any number of runs.
///
/// ```no_run
/// use mllmu::judge::{Judge, JudgeItem, JudgeOptions};
/// let opts = JudgeOptions::from_env().with_cache("judge_cache.jsonl");
/// let judge = Judge::new(opts)?;
/// let items = vec![JudgeItem::generation("forget", "3", "Where does he live?", "Paris", "Lyon")];
/// let report = judge.run_blocking(items)?; // safe inside evcxr's runtime too
/// println!("{report}");
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Judge {
    opts: JudgeOptions,
}

impl Judge {
    /// Validates the options.
    pub fn new(opts: JudgeOptions) -> Result<Self> {
        opts.validate()?;
        Ok(Judge { opts })
    }

    /// The options in use.
    pub fn options(&self) -> &JudgeOptions {
        &self.opts
    }

    /// Grades every item. Items already in the cache are not sent; the others are sent
    /// with at most `concurrency` requests in flight, and each score is appended to the
    /// cache as soon as it arrives. A failed item is recorded with its reason. Only
    /// run-level problems return `Err`: the cache cannot be opened or written, or the
    /// endpoint rejects the key, the model or the URL, or the quota is exhausted (scores
    /// received before stay in the cache).
    #[cfg(feature = "judge")]
    pub async fn run(&self, items: Vec<JudgeItem>) -> Result<JudgeReport> {
        let started = Instant::now();
        let key = self.opts.api_key.as_ref();
        let cache = self
            .opts
            .cache_path
            .as_deref()
            .map(JudgeCache::open)
            .transpose()?;
        let endpoint = Arc::new(Endpoint::new(&self.opts)?);
        let mut results: Vec<Option<Judgement>> = vec![None; items.len()];
        // Identical requests are sent once; every item sharing a key gets the result.
        let mut pending: HashMap<String, Vec<usize>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let k = cache_key(&self.opts, item);
            if let Some(hit) = cache.as_ref().and_then(|c| c.get(&k)) {
                results[i] = Some(Judgement {
                    item: item.clone(),
                    score: Some(hit.score),
                    justification: hit.justification.clone(),
                    failure: None,
                    cached: true,
                    requests: 0,
                    prompt_tokens: 0,
                    completion_tokens: 0,
                });
                continue;
            }
            let slots = pending.entry(k.clone()).or_default();
            if slots.is_empty() {
                order.push(k);
            }
            slots.push(i);
        }
        let cache = Arc::new(Mutex::new(cache));
        let permits = Arc::new(tokio::sync::Semaphore::new(self.opts.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for k in order {
            let first = pending[&k][0];
            let item = items[first].clone();
            let (endpoint, cache, permits, model) = (
                endpoint.clone(),
                cache.clone(),
                permits.clone(),
                self.opts.model.clone(),
            );
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let done = endpoint.judge_one(&item).await;
                if let Outcome::Scored {
                    score,
                    justification,
                } = &done.outcome
                {
                    let entry = CacheEntry {
                        key: k.clone(),
                        score: *score,
                        justification: justification.clone(),
                        model,
                        rubric: RUBRIC_VERSION.to_string(),
                    };
                    let written = match cache.lock() {
                        Ok(mut c) => c.as_mut().map(|c| c.insert(entry)).unwrap_or(Ok(())),
                        Err(_) => Err(Error::Judge("the cache lock was poisoned".into())),
                    };
                    if let Err(e) = written {
                        endpoint.set_fatal(format!("cannot write the judge cache: {e}"));
                    }
                }
                (k, done)
            });
        }
        let bar = crate::progress::Progress::new(
            self.opts.progress,
            "judge",
            "items",
            tasks.len() as u64,
        );
        while let Some(joined) = tasks.join_next().await {
            bar.inc(1);
            let (k, done) =
                joined.map_err(|e| Error::Judge(format!("a judge task failed: {e}")))?;
            let (score, justification, failure) = match done.outcome {
                Outcome::Scored {
                    score,
                    justification,
                } => (Some(score), justification, None),
                Outcome::Failed(reason) => (None, None, Some(redact(&reason, key))),
            };
            for (n, &i) in pending[&k].iter().enumerate() {
                // The request is counted once, on the first item that shares it.
                let own = n == 0;
                results[i] = Some(Judgement {
                    item: items[i].clone(),
                    score,
                    justification: justification.clone(),
                    failure: failure.clone(),
                    cached: false,
                    requests: if own { done.requests } else { 0 },
                    prompt_tokens: if own { done.prompt_tokens } else { 0 },
                    completion_tokens: if own { done.completion_tokens } else { 0 },
                });
            }
        }
        bar.finish();
        if let Some(reason) = endpoint.fatal.lock().ok().and_then(|f| f.clone()) {
            return Err(Error::Judge(redact(&reason, key)));
        }
        let judgements: Vec<Judgement> = results.into_iter().flatten().collect();
        let summary = JudgeSummary::new(
            &self.opts,
            &judgements,
            endpoint.requests.load(Ordering::SeqCst),
            endpoint.retries.load(Ordering::SeqCst),
            started.elapsed().as_secs_f64(),
        );
        Ok(JudgeReport {
            summary,
            judgements,
        })
    }

    /// [`Judge::run`] for synchronous code. Inside a tokio runtime (evcxr wraps cells in
    /// one once any cell used `.await`) it runs on a separate thread with its own runtime,
    /// so it never panics with "Cannot start a runtime from within a runtime".
    ///
    /// Without the `judge` feature (a lean notebook build) this returns an error that says
    /// how to enable it; everything else of this module (reading generation files, caches,
    /// reports, the histogram) works in every build.
    #[cfg(feature = "judge")]
    pub fn run_blocking(&self, items: Vec<JudgeItem>) -> Result<JudgeReport> {
        let work = move || -> Result<JudgeReport> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| Error::Judge(format!("cannot start a tokio runtime: {e}")))?;
            rt.block_on(self.run(items))
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(work)
                    .join()
                    .unwrap_or_else(|_| Err(Error::Judge("the judge thread panicked".into())))
            })
        } else {
            work()
        }
    }

    /// [`Judge::run`] for synchronous code: this build has no HTTP client (the `judge`
    /// feature is off), so it returns an error that says how to turn it on.
    #[cfg(not(feature = "judge"))]
    pub fn run_blocking(&self, items: Vec<JudgeItem>) -> Result<JudgeReport> {
        Err(Error::Judge(format!(
            "cannot grade {} items: mllmu was built without the `judge` feature\nhint: in a notebook, `:dep mllmu = {{ path = \"..\", features = [\"judge\"] }}`; on the command line, `cargo build --features judge`",
            items.len()
        )))
    }
}

#[cfg(all(test, not(feature = "judge")))]
mod tests {
    use super::*;

    #[test]
    fn a_lean_build_says_how_to_turn_the_judge_on() {
        let judge = Judge::new(JudgeOptions::default()).unwrap();
        let items = vec![JudgeItem::generation("forget", "1", "Q?", "A.", "A.")];
        let err = judge.run_blocking(items).unwrap_err().to_string();
        assert!(err.contains("cannot grade 1 items"), "{err}");
        assert!(err.contains("features = [\"judge\"]"), "{err}");
    }
}
