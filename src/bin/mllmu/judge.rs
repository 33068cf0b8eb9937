//! `mllmu judge` (owner: judge): grade generation results with an LLM judge.
//!
//! Unlike the reference, which skips an input whose output file exists, every input is
//! graded again: items already scored come from the cache without a request, and items
//! that failed before are retried.

use mllmu::judge::{
    discover_inputs, key_from_env, read_generation_file, write_factuality_scores, Judge,
    JudgeOptions, Prices, ReplyFormat, Sampling, DEFAULT_MODEL,
};
use std::path::PathBuf;
use std::time::Duration;

/// How to ask for a JSON reply.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// Ask for a JSON schema (structured output)
    Schema,
    /// Ask in JSON mode
    Json,
    /// Send no response_format (the prompt asks for JSON)
    Text,
}

/// Arguments of `mllmu judge`.
#[derive(clap::Args)]
pub struct JudgeArgs {
    /// Read this *_generation_results.json file, or every one in this folder (or its sub-folders)
    #[arg(long, value_name = "FILE_OR_DIR")]
    generations: PathBuf,
    /// Write the *_factuality_score.json files, judge_report.json and the cache here
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Send requests to this API root [default: $OPENAI_BASE_URL, else https://api.openai.com/v1]
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Grade with this model
    #[arg(long, value_name = "NAME", default_value = DEFAULT_MODEL)]
    model: String,
    /// Read the API key from this environment variable (never from the command line)
    #[arg(long, value_name = "VAR", default_value = "OPENAI_API_KEY")]
    api_key_env: String,
    /// Keep at most this many requests in flight
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: usize,
    /// Retry a request at most this many times (429, 5xx, timeouts, dropped connections)
    #[arg(long, value_name = "N", default_value_t = 6)]
    max_retries: u32,
    /// Give up on one request after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    timeout: f64,
    /// Wait this long before the first retry (doubling after each)
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    backoff_ms: u64,
    /// Send no temperature (the API default, as the reference) instead of 0
    #[arg(long)]
    reference_sampling: bool,
    /// Ask for the reply as a JSON schema, in JSON mode, or as text
    #[arg(long, value_enum, default_value = "schema")]
    reply_format: FormatArg,
    /// Keep the cache in this file [default: DIR/judge_cache.jsonl]
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
    /// Send every item even if it was scored before
    #[arg(long)]
    no_cache: bool,
    /// Price a million prompt tokens at this many dollars, for the cost estimate
    #[arg(long, value_name = "USD", default_value_t = Prices::default().prompt_per_million)]
    prompt_price: f64,
    /// Price a million completion tokens at this many dollars, for the cost estimate
    #[arg(long, value_name = "USD", default_value_t = Prices::default().completion_per_million)]
    completion_price: f64,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

impl JudgeArgs {
    fn options(&self) -> mllmu::Result<JudgeOptions> {
        if !self.timeout.is_finite() || self.timeout <= 0.0 {
            return Err(mllmu::Error::param(
                "--timeout",
                self.timeout,
                "must be a positive number of seconds",
            ));
        }
        let mut o = JudgeOptions::from_env()
            .with_model(&self.model)
            .with_concurrency(self.concurrency);
        o.base_url = self.base_url.clone().unwrap_or(o.base_url);
        o.api_key = key_from_env(&self.api_key_env);
        o.max_retries = self.max_retries;
        o.request_timeout = Duration::from_secs_f64(self.timeout);
        o.initial_backoff = Duration::from_millis(self.backoff_ms);
        o.sampling = if self.reference_sampling {
            Sampling::ReferenceDefault
        } else {
            Sampling::Deterministic
        };
        o.reply_format = match self.reply_format {
            FormatArg::Schema => ReplyFormat::JsonSchema,
            FormatArg::Json => ReplyFormat::JsonObject,
            FormatArg::Text => ReplyFormat::Text,
        };
        o.prices = Prices {
            prompt_per_million: self.prompt_price,
            completion_per_million: self.completion_price,
        };
        o.progress = true;
        let cache = || {
            self.cache
                .clone()
                .unwrap_or_else(|| self.out.join("judge_cache.jsonl"))
        };
        o.cache_path = (!self.no_cache).then(cache);
        Ok(o)
    }
}

/// Runs `mllmu judge`.
pub fn run(a: JudgeArgs) -> mllmu::Result<()> {
    let opts = a.options()?;
    let judge = Judge::new(opts)?;
    let mut items = Vec::new();
    let mut files = Vec::new();
    for f in discover_inputs(&a.generations)? {
        match read_generation_file(&f.path, &f.label)? {
            Some(v) => {
                files.push((f, items.len()..items.len() + v.len()));
                items.extend(v);
            }
            None => eprintln!(
                "skipped {}: no Generation_Questions or Description_Questions",
                f.path.display()
            ),
        }
    }
    if files.is_empty() {
        return Err(mllmu::Error::MissingFile {
            path: a.generations.clone(),
            hint: "no generation results found: pass a *_generation_results.json file or the folder holding them".into(),
        });
    }
    eprintln!(
        "judging {} items from {} files with {} at {}",
        items.len(),
        files.len(),
        judge.options().model,
        mllmu::judge::redact(&judge.options().base_url, judge.options().api_key.as_ref())
    );
    let report = judge.run_blocking(items)?;
    for (f, range) in &files {
        let path = f.output_path(&a.out);
        write_factuality_scores(&path, &report.judgements[range.clone()])?;
        eprintln!("wrote {}", path.display());
    }
    let report_path = a.out.join("judge_report.json");
    mllmu::io::write_json(&report_path, &report)?;
    eprintln!("wrote {}", report_path.display());
    if a.json {
        println!("{}", mllmu::io::to_json_indent4(&report.summary)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
