//! What a judge run needs: endpoint, model, key, sampling, limits, prices, cache path.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The reference's judge model (SPEC §6).
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// OpenAI's public endpoint, used when neither an argument nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The reference's `max_tokens` for one judge reply.
pub const DEFAULT_MAX_TOKENS: u32 = 700;

/// An API key that never shows itself: `Debug` prints `ApiKey(<redacted>)`, there is no
/// `Display` and no `Serialize`, so it cannot reach a log line, a file or a notebook output
/// by accident.
///
/// ```
/// let k = mllmu::judge::ApiKey::new("sk-very-secret");
/// assert!(!format!("{k:?}").contains("very-secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key. Surrounding whitespace (a trailing newline from a file) is trimmed.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into().trim().to_string())
    }

    /// The key itself, only for the `Authorization` header and for scrubbing error text.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Replaces every occurrence of `key` in `text` by `<redacted>`.
///
/// Every error or failure reason the judge returns passes through this, because a server
/// may echo the key (or a user may have put it into the base URL).
///
/// ```
/// use mllmu::judge::{redact, ApiKey};
/// let k = ApiKey::new("sk-abc123");
/// assert_eq!(redact("bad key sk-abc123", Some(&k)), "bad key <redacted>");
/// ```
pub fn redact(text: &str, key: Option<&ApiKey>) -> String {
    match key {
        Some(k) if !k.expose().is_empty() => text.replace(k.expose(), "<redacted>"),
        _ => text.to_string(),
    }
}

/// How the judge samples its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sampling {
    /// `temperature: 0`: repeatable scores (the default).
    Deterministic,
    /// No temperature sent, as the reference does (the API default, 1.0: scores vary).
    ReferenceDefault,
}

impl Sampling {
    /// A short tag, part of the cache key.
    pub fn tag(self) -> &'static str {
        match self {
            Sampling::Deterministic => "t0",
            Sampling::ReferenceDefault => "api-default",
        }
    }
}

/// How the judge asks for a JSON reply. Servers that reject a format (HTTP 400 naming
/// `response_format`) are retried once with the next weaker one, for the rest of the run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ReplyFormat {
    /// `response_format: {type: json_schema, ...}` (OpenAI structured output, vLLM, recent
    /// Ollama and llama.cpp).
    JsonSchema,
    /// `response_format: {type: json_object}` (JSON mode).
    JsonObject,
    /// No `response_format`: the prompt alone asks for JSON.
    Text,
}

impl ReplyFormat {
    /// The next weaker format, if any.
    pub fn weaker(self) -> Option<ReplyFormat> {
        match self {
            ReplyFormat::JsonSchema => Some(ReplyFormat::JsonObject),
            ReplyFormat::JsonObject => Some(ReplyFormat::Text),
            ReplyFormat::Text => None,
        }
    }
}

/// Token prices in US dollars per million tokens, for the cost estimate.
///
/// ```
/// let p = mllmu::judge::Prices::default();
/// assert!((p.cost(1_000_000, 0) - 0.15).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prices {
    /// Dollars per million prompt (input) tokens.
    pub prompt_per_million: f64,
    /// Dollars per million completion (output) tokens.
    pub completion_per_million: f64,
}

impl Default for Prices {
    /// gpt-4o-mini's list prices: $0.15 per million input and $0.60 per million output tokens.
    fn default() -> Self {
        Prices {
            prompt_per_million: 0.15,
            completion_per_million: 0.60,
        }
    }
}

impl Prices {
    /// The estimated cost in dollars of some token counts.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.prompt_per_million
            + completion_tokens as f64 * self.completion_per_million)
            / 1e6
    }
}

/// Everything a judge run is configured by. `Debug` redacts the key.
///
/// ```
/// use mllmu::judge::{JudgeOptions, ApiKey};
/// let o = JudgeOptions::default()
///     .with_base_url("http://127.0.0.1:8000/v1")
///     .with_model("qwen2.5-7b")
///     .with_api_key(ApiKey::new("sk-hidden"));
/// assert_eq!(o.endpoint(), "http://127.0.0.1:8000/v1/chat/completions");
/// assert!(!format!("{o:?}").contains("sk-hidden"));
/// ```
#[derive(Debug, Clone)]
pub struct JudgeOptions {
    /// The API root, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`;
    /// `/chat/completions` is appended.
    pub base_url: String,
    /// The judge model name as the endpoint knows it.
    pub model: String,
    /// The bearer key; `None` sends no `Authorization` header (local servers).
    pub api_key: Option<ApiKey>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Retries after the first attempt on 429, 5xx, timeouts and dropped connections.
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry (with jitter in `[0.5, 1]`).
    pub initial_backoff: Duration,
    /// The backoff never exceeds this.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is cut to it.
    pub max_retry_after: Duration,
    /// The whole request (connect, send, wait, read) must finish within this.
    pub request_timeout: Duration,
    /// Temperature 0 or the API default.
    pub sampling: Sampling,
    /// The strongest JSON request to try first.
    pub reply_format: ReplyFormat,
    /// `max_tokens` of a reply.
    pub max_tokens: u32,
    /// Prices for the cost estimate.
    pub prices: Prices,
    /// The JSONL cache file; `None` disables caching.
    pub cache_path: Option<PathBuf>,
    /// Show a progress bar on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
}

impl Default for JudgeOptions {
    /// OpenAI's endpoint, gpt-4o-mini, no key, 8 concurrent requests, 6 retries from 1 s up
    /// to 60 s, 120 s per request, temperature 0, JSON schema, no cache, no progress bar.
    /// Reads no
    /// environment: see [`JudgeOptions::from_env`].
    fn default() -> Self {
        JudgeOptions {
            base_url: DEFAULT_BASE_URL.to_string(),
            model: DEFAULT_MODEL.to_string(),
            api_key: None,
            concurrency: 8,
            max_retries: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(120),
            sampling: Sampling::Deterministic,
            reply_format: ReplyFormat::JsonSchema,
            max_tokens: DEFAULT_MAX_TOKENS,
            prices: Prices::default(),
            cache_path: None,
            progress: false,
        }
    }
}

impl JudgeOptions {
    /// The defaults, with the base URL from `OPENAI_BASE_URL` and the key from
    /// `OPENAI_API_KEY` when they are set and not empty.
    pub fn from_env() -> Self {
        JudgeOptions {
            base_url: env_value("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            api_key: key_from_env("OPENAI_API_KEY"),
            ..JudgeOptions::default()
        }
    }

    /// Sets the base URL.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets the model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sets the key.
    pub fn with_api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Sets the concurrency limit.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Sets the cache file.
    pub fn with_cache(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_path = Some(path.into());
        self
    }

    /// The chat-completions URL.
    pub fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.base_url.trim().trim_end_matches('/')
        )
    }

    /// Rejects values that cannot work, naming the parameter.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::param(
                "base_url",
                redact(url, self.api_key.as_ref()),
                "must start with http:// or https://\nhint: e.g. https://api.openai.com/v1 or http://localhost:11434/v1",
            ));
        }
        if self.model.trim().is_empty() {
            return Err(Error::param("model", "\"\"", "must not be empty"));
        }
        if self.concurrency == 0 {
            return Err(Error::param("concurrency", 0, "must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::param("request_timeout", "0s", "must be positive"));
        }
        if self.max_tokens == 0 {
            return Err(Error::param("max_tokens", 0, "must be at least 1"));
        }
        for (name, v) in [
            ("prompt_per_million", self.prices.prompt_per_million),
            ("completion_per_million", self.prices.completion_per_million),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::param(name, v, "must be a finite price >= 0"));
            }
        }
        Ok(())
    }
}

/// Reads a key from an environment variable (`None` when unset or blank).
pub fn key_from_env(var: &str) -> Option<ApiKey> {
    env_value(var).map(ApiKey::new)
}

/// An environment variable, trimmed (`None` when unset or blank).
fn env_value(var: &str) -> Option<String> {
    let v = std::env::var(var).ok()?;
    Some(v.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let o = JudgeOptions::default().with_api_key(ApiKey::new("sk-DISTINCT-42"));
        let d = format!("{o:?} {:?}", o.api_key);
        assert!(!d.contains("DISTINCT"), "{d}");
        assert!(d.contains("<redacted>"));
    }

    #[test]
    fn bad_base_url_error_is_scrubbed() {
        let o = JudgeOptions::default()
            .with_base_url("ftp://host/?key=sk-DISTINCT-42")
            .with_api_key(ApiKey::new("sk-DISTINCT-42"));
        let e = o.validate().unwrap_err().to_string();
        assert!(e.contains("base_url") && !e.contains("DISTINCT"), "{e}");
    }

    #[test]
    fn endpoint_joins_without_double_slash() {
        let o = JudgeOptions::default().with_base_url("http://h:1/v1/");
        assert_eq!(o.endpoint(), "http://h:1/v1/chat/completions");
    }

    #[test]
    fn cost_uses_both_prices() {
        let p = Prices {
            prompt_per_million: 2.0,
            completion_per_million: 10.0,
        };
        assert!((p.cost(500_000, 100_000) - 2.0).abs() < 1e-12);
    }
}
