//! Sending one item to the endpoint: the retry policy, timeouts, reply-format fallback.

use super::item::JudgeItem;
use super::options::{redact, JudgeOptions, ReplyFormat};
use super::parse::{parse_reply, short};
use super::rubric::build_request;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What happened to one item.
#[derive(Debug)]
pub(crate) enum Outcome {
    Scored {
        score: u8,
        justification: Option<String>,
    },
    Failed(String),
}

/// One item's outcome with what it cost.
#[derive(Debug)]
pub(crate) struct Attempted {
    pub outcome: Outcome,
    pub requests: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The endpoint shared by all tasks of a run.
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: String,
    opts: JudgeOptions,
    format: AtomicU8,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Set once a run-level error happened: no further request is sent.
    pub stop: AtomicBool,
    pub fatal: Mutex<Option<String>>,
}

/// The part of a chat-completions reply the judge reads. Read leniently (every field
/// optional) rather than through async-openai's response type, which requires fields such
/// as `id`, `created` and an OpenAI `finish_reason` that OpenAI-compatible servers do not
/// all send.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// The reply formats by their code in [`Endpoint::format`] (`ReplyFormat as u8`).
const FORMATS: [ReplyFormat; 3] = [
    ReplyFormat::JsonSchema,
    ReplyFormat::JsonObject,
    ReplyFormat::Text,
];

/// A failure worth retrying: its reason and the server's `Retry-After`, if any.
struct Transient {
    reason: String,
    retry_after: Option<Duration>,
}

impl Endpoint {
    /// A client for one run (built per run: pooled connections belong to the runtime that
    /// opened them, and the blocking API runs each call on a fresh runtime).
    pub fn new(opts: &JudgeOptions) -> crate::Result<Self> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| crate::Error::Judge(redact(&error_text(&e), opts.api_key.as_ref())))?;
        Ok(Endpoint {
            client,
            url: opts.endpoint(),
            opts: opts.clone(),
            format: AtomicU8::new(opts.reply_format as u8),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            fatal: Mutex::new(None),
        })
    }

    fn scrub(&self, s: &str) -> String {
        redact(s, self.opts.api_key.as_ref())
    }

    /// Records a run-level error (the first one wins) and stops further requests.
    pub fn set_fatal(&self, reason: String) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Grades one item: sends, retries transient failures, parses the reply. A run-level
    /// problem (rejected key, unknown endpoint or model, exhausted quota) is recorded with
    /// [`Endpoint::set_fatal`] and the item fails with that reason.
    pub async fn judge_one(&self, item: &JudgeItem) -> Attempted {
        let mut done = Attempted {
            outcome: Outcome::Failed(String::new()),
            requests: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
        };
        let mut retries_used = 0u32;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                done.outcome =
                    Outcome::Failed("not sent: the run was stopped by an earlier error".into());
                return done;
            }
            let format = FORMATS[usize::from(self.format.load(Ordering::SeqCst)).min(2)];
            let transient = match self.send(item, format, &mut done).await {
                Ok(()) => return done,
                Err(t) => t,
            };
            let Some(t) = transient else { continue }; // reply format downgraded: resend
            if retries_used >= self.opts.max_retries {
                done.outcome = Outcome::Failed(self.scrub(&format!(
                    "{} (gave up after {} requests)",
                    t.reason, done.requests
                )));
                return done;
            }
            let wait = match t.retry_after {
                Some(d) => d.min(self.opts.max_retry_after),
                None => backoff(&self.opts, retries_used),
            };
            retries_used += 1;
            self.retries.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(wait).await;
        }
    }

    /// One request. `Ok(())`: `done.outcome` is final. `Err(Some(_))`: retry.
    /// `Err(None)`: the reply format was downgraded; resend at once.
    async fn send(
        &self,
        item: &JudgeItem,
        format: ReplyFormat,
        done: &mut Attempted,
    ) -> Result<(), Option<Transient>> {
        let body = match serde_json::to_vec(&build_request(item, &self.opts, format)) {
            Ok(b) => b,
            Err(e) => {
                done.outcome = Outcome::Failed(format!("cannot serialise the request: {e}"));
                return Ok(());
            }
        };
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.opts.request_timeout)
            .body(body);
        if let Some(key) = &self.opts.api_key {
            match reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req = req.header(reqwest::header::AUTHORIZATION, v);
                }
                Err(_) => {
                    self.set_fatal(
                        "the API key contains characters not allowed in an HTTP header".into(),
                    );
                    done.outcome =
                        Outcome::Failed("the API key is not a valid header value".into());
                    return Ok(());
                }
            }
        }
        done.requests += 1;
        self.requests.fetch_add(1, Ordering::SeqCst);
        let resp = req.send().await.map_err(|e| Some(self.transport(&e)))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| Some(self.transport(&e)))?;
        let text = String::from_utf8_lossy(&bytes);
        let code = status.as_u16();
        if status.is_success() {
            done.outcome = self.read_completion(&bytes, done);
            return Ok(());
        }
        let snippet = self.scrub(&short(&text, 300).replace('\n', " "));
        if code == 429 && text.contains("insufficient_quota") {
            let reason =
                format!("HTTP 429 insufficient_quota: the account has no credit left: {snippet}");
            self.set_fatal(reason.clone());
            done.outcome = Outcome::Failed(reason);
            return Ok(());
        }
        if code == 429 || code == 408 || status.is_server_error() {
            return Err(Some(Transient {
                reason: format!("HTTP {code}: {snippet}"),
                retry_after,
            }));
        }
        if code == 400 && (text.contains("response_format") || text.contains("json_schema")) {
            if let Some(weaker) = format.weaker() {
                let _ = self.format.compare_exchange(
                    format as u8,
                    weaker as u8,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                return Err(None);
            }
        }
        let reason = match code {
            401 | 403 => format!("HTTP {code}: the endpoint rejected the API key: {snippet}\nhint: set OPENAI_API_KEY (or the variable given to --api-key-env)"),
            404 => format!(
                "HTTP 404 from {}: unknown endpoint or model `{}`: {snippet}\nhint: the base URL must end with the API root, e.g. /v1",
                self.scrub(&self.url),
                self.opts.model
            ),
            _ => format!("HTTP {code}: {snippet}"),
        };
        if matches!(code, 401 | 403 | 404) {
            self.set_fatal(reason.clone());
        }
        done.outcome = Outcome::Failed(reason);
        Ok(())
    }

    fn read_completion(&self, bytes: &[u8], done: &mut Attempted) -> Outcome {
        let c: Completion = match serde_json::from_slice(bytes) {
            Ok(c) => c,
            Err(e) => {
                let text = String::from_utf8_lossy(bytes);
                return Outcome::Failed(self.scrub(&format!(
                    "the endpoint's reply is not a chat completion ({e}): {}",
                    short(&text, 200)
                )));
            }
        };
        if let Some(u) = &c.usage {
            done.prompt_tokens += u.prompt_tokens.unwrap_or(0);
            done.completion_tokens += u.completion_tokens.unwrap_or(0);
        }
        let msg = c.choices.into_iter().next().and_then(|ch| ch.message);
        let content = msg
            .as_ref()
            .and_then(|m| m.content.clone())
            .unwrap_or_default();
        if content.trim().is_empty() {
            if let Some(r) = msg.and_then(|m| m.refusal) {
                return Outcome::Failed(
                    self.scrub(&format!("the judge refused: {}", short(&r, 200))),
                );
            }
            return Outcome::Failed("reply has no content".into());
        }
        match parse_reply(&content) {
            Ok(p) => Outcome::Scored {
                score: p.score,
                justification: p.justification.map(|j| self.scrub(&j)),
            },
            Err(reason) => Outcome::Failed(self.scrub(&reason)),
        }
    }

    fn transport(&self, e: &reqwest::Error) -> Transient {
        let reason = if e.is_timeout() {
            format!("timed out after {:?}", self.opts.request_timeout)
        } else if e.is_connect() {
            format!("cannot connect to {}: {}", self.url, error_text(e))
        } else {
            format!("connection failed: {}", error_text(e))
        };
        Transient {
            reason: self.scrub(&reason),
            retry_after: None,
        }
    }
}

/// An error with its chain of causes, `a: b: c`.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// `retry-after-ms` (milliseconds, sent by OpenAI) or `Retry-After` in seconds. An
/// HTTP-date `Retry-After` is not read (the exponential backoff applies instead).
pub(crate) fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let num = |name: &str| -> Option<f64> {
        h.get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    num("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| num("retry-after").map(Duration::from_secs_f64))
}

/// `initial * 2^n`, capped at `max_backoff`, times a random factor in `[0.5, 1]` so that
/// concurrent requests throttled together do not retry together.
pub(crate) fn backoff(opts: &JudgeOptions, retries_used: u32) -> Duration {
    use rand::Rng;
    let base = opts
        .initial_backoff
        .saturating_mul(1u32 << retries_used.min(20))
        .min(opts.max_backoff);
    base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let o = JudgeOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..Default::default()
        };
        for (n, full) in [(0u32, 100u64), (1, 200), (2, 400), (3, 700), (30, 700)] {
            let d = backoff(&o, n).as_millis() as u64;
            assert!(
                d >= full / 2 && d <= full,
                "retry {n}: {d} ms not in [{}, {full}]",
                full / 2
            );
        }
    }
}
