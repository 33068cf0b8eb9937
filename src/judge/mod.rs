//! The factuality judge (SPEC §6, quirk Q26 fixed): grades generated answers against their
//! ground truth with an LLM behind any OpenAI-compatible chat-completions endpoint (OpenAI,
//! vLLM, Ollama, llama.cpp server, ...).
//!
//! # Design
//!
//! - **Endpoint.** Base URL, model and key come from [`JudgeOptions`] (arguments) or the
//!   environment ([`JudgeOptions::from_env`]: `OPENAI_BASE_URL`, `OPENAI_API_KEY`); the
//!   model defaults to the reference's `gpt-4o-mini`.
//! - **Prompt.** The project's own rubric ([`rubric`]) carries the reference's content: the
//!   1-10 scale with five bands, extra detail never raises the score, irrelevant detail
//!   lowers it; inputs task type, profile ID, question, answer, ground truth. Temperature
//!   0 by default ([`Sampling::ReferenceDefault`] sends none, as the reference). The reply
//!   is requested as a JSON schema, falling back to JSON mode and then to plain text when
//!   the server answers 400 naming `response_format`. [`parse_reply`] accepts JSON and the
//!   reference's `Factuality Score: N` lines; no integer in 1..=10 means failure.
//! - **HTTP.** async-openai supplies the request type only; requests go through the
//!   judge's own `reqwest` client. async-openai's client retries 429/5xx itself (3 times,
//!   100 ms doubling), which would hide requests from the count, stack a second backoff
//!   on ours and ignore our per-request timeout; sending ourselves gives one policy that
//!   tests can observe: every HTTP request is counted, each has a timeout
//!   ([`JudgeOptions::request_timeout`]), and 429, 408, 5xx, timeouts, refused and
//!   dropped connections are retried up to [`JudgeOptions::max_retries`] times with
//!   exponential backoff and jitter, or after the server's `Retry-After` /
//!   `retry-after-ms` when given. Replies are read leniently (servers differ in the
//!   fields they send).
//! - **Failures.** An item that still fails, or whose reply has no valid score, is recorded
//!   with its reason and never given a score; means cover scored items only and come with
//!   their counts. Problems no retry can fix (401/403 key rejected, 404 unknown endpoint or
//!   model, 429 `insufficient_quota`) stop the run with [`crate::Error::Judge`].
//! - **Cache.** An append-only JSONL file ([`JudgeCache`]) keyed by [`cache_key`]; each
//!   score is flushed as it arrives, so a rerun sends nothing for scored items and an
//!   interrupted run resumes. Failures are not cached.
//! - **Secrets.** [`ApiKey`] never prints itself; every error and failure text passes
//!   through [`redact`]; the `Authorization` header is marked sensitive.
//! - **Notebooks.** [`Judge::run_blocking`] is safe inside evcxr's tokio runtime.
//!
//! ```no_run
//! use mllmu::judge::{discover_inputs, read_generation_file, Judge, JudgeOptions};
//! let mut items = Vec::new();
//! for f in discover_inputs("eval_result".as_ref())? {
//!     items.extend(read_generation_file(&f.path, &f.label)?.unwrap_or_default());
//! }
//! let report = Judge::new(JudgeOptions::from_env().with_cache("out/judge_cache.jsonl"))?
//!     .run_blocking(items)?;
//! report.evcxr_display();
//! # Ok::<(), mllmu::Error>(())
//! ```

pub mod cache;
#[cfg(feature = "judge")]
mod client;
pub mod files;
pub mod item;
pub mod options;
pub mod parse;
pub mod report;
pub mod rubric;
mod run;

pub use cache::{cache_key, CacheEntry, JudgeCache};
pub use files::{
    discover_inputs, read_generation_file, reference_output, write_factuality_scores,
    FactualityEntry, InputFile,
};
pub use item::{ItemKey, JudgeItem, Judgement, TaskType};
pub use options::{
    key_from_env, redact, ApiKey, JudgeOptions, Prices, ReplyFormat, Sampling, DEFAULT_BASE_URL,
    DEFAULT_MAX_TOKENS, DEFAULT_MODEL,
};
pub use parse::{parse_reply, ParsedReply};
pub use report::{GroupScore, JudgeReport, JudgeSummary};
#[cfg(feature = "judge")]
pub use rubric::build_request;
pub use rubric::{user_prompt, RUBRIC_VERSION};
pub use run::Judge;
