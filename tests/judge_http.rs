#![cfg(feature = "judge")]
//! The judge against a real HTTP server on loopback: success, retries (429 with
//! Retry-After, 5xx, timeouts, dropped and refused connections), unusable replies, the
//! concurrency bound, the reply-format fallback and run-level errors.

mod judge_server;

use judge_server::{refused_url, Reply, Server};
use mllmu::judge::{ApiKey, Judge, JudgeItem, JudgeOptions, ReplyFormat};
use std::time::{Duration, Instant};

const KEY: &str = "sk-mllmu-TEST-7f3a9c2e-SECRET";

fn opts(url: &str) -> JudgeOptions {
    let mut o = JudgeOptions::default()
        .with_base_url(url)
        .with_model("judge-test")
        .with_api_key(ApiKey::new(KEY));
    o.initial_backoff = Duration::from_millis(5);
    o.max_backoff = Duration::from_millis(20);
    o.request_timeout = Duration::from_secs(5);
    o.max_retries = 3;
    o
}

fn items(n: usize) -> Vec<JudgeItem> {
    (1..=n)
        .map(|i| {
            JudgeItem::generation(
                "forget",
                i.to_string(),
                format!("question {i}?"),
                format!("answer {i}"),
                "truth",
            )
        })
        .collect()
}

/// Scores each item with its profile ID (so a mix-up between items shows).
fn score_by_profile(r: &judge_server::Request) -> Reply {
    Reply::score(r.profile_id().parse().unwrap_or(0))
}

#[test]
fn success_scores_every_item_and_counts_tokens() {
    let server = Server::start(score_by_profile);
    let report = Judge::new(opts(&server.url).with_concurrency(2))
        .unwrap()
        .run_blocking(items(3))
        .unwrap();
    let scores: Vec<Option<u8>> = report.judgements.iter().map(|j| j.score).collect();
    assert_eq!(scores, [Some(1), Some(2), Some(3)]);
    assert_eq!(
        report.judgements[1].justification.as_deref(),
        Some("graded 2")
    );
    let s = &report.summary;
    assert_eq!(
        (
            s.items,
            s.scored,
            s.failed,
            s.requests,
            s.retries,
            s.cache_hits
        ),
        (3, 3, 0, 3, 0, 0)
    );
    assert_eq!(s.mean_score, Some(2.0));
    assert_eq!((s.prompt_tokens, s.completion_tokens), (300, 60));
    assert!((s.cost_usd - (300.0 * 0.15 + 60.0 * 0.60) / 1e6).abs() < 1e-15);
    // What the endpoint received.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let r = &reqs[0];
    assert!(
        r.line.starts_with("POST /v1/chat/completions "),
        "{}",
        r.line
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = r.json();
    assert_eq!(body["model"], "judge-test");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert!(r.prompt().contains("Ground truth: truth"));
}

#[test]
fn http_429_waits_for_retry_after() {
    let server = Server::start(|r| {
        if r.index == 0 {
            Reply::status(
                429,
                r#"{"error":{"message":"rate limited","code":"rate_limit_exceeded"}}"#,
            )
            .header("Retry-After", "1")
        } else {
            Reply::score(7)
        }
    });
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run_blocking(items(1))
        .unwrap();
    assert_eq!(report.judgements[0].score, Some(7));
    assert_eq!((report.summary.requests, report.summary.retries), (2, 1));
    let reqs = server.requests();
    let gap = reqs[1].at - reqs[0].at;
    // The backoff alone would wait at most 20 ms: the second second comes from Retry-After.
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[test]
fn http_500_then_success() {
    let server = Server::start(|r| {
        if r.index == 0 {
            Reply::status(500, "boom")
        } else {
            Reply::score(9)
        }
    });
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run_blocking(items(1))
        .unwrap();
    let j = &report.judgements[0];
    assert_eq!(
        (j.score, j.requests, j.failure.as_deref()),
        (Some(9), 2, None)
    );
    assert_eq!(report.summary.retries, 1);
}

#[test]
fn persistent_5xx_fails_the_item_with_its_reason() {
    let server = Server::start(|_| Reply::status(503, "overloaded"));
    let mut o = opts(&server.url);
    o.max_retries = 2;
    let report = Judge::new(o).unwrap().run_blocking(items(1)).unwrap();
    let j = &report.judgements[0];
    assert_eq!(j.score, None);
    let reason = j.failure.as_deref().unwrap();
    assert!(
        reason.contains("HTTP 503")
            && reason.contains("overloaded")
            && reason.contains("3 requests"),
        "{reason}"
    );
    assert_eq!(
        (
            report.summary.scored,
            report.summary.failed,
            report.summary.mean_score
        ),
        (0, 1, None)
    );
    assert_eq!(server.count(), 3);
}

#[test]
fn a_timeout_is_retried_then_fails_when_it_persists() {
    let server = Server::start(|r| {
        if r.index == 0 {
            Reply::score(4).delay(Duration::from_secs(3))
        } else {
            Reply::score(6)
        }
    });
    let mut o = opts(&server.url);
    o.request_timeout = Duration::from_millis(300);
    let t = Instant::now();
    let report = Judge::new(o.clone())
        .unwrap()
        .run_blocking(items(1))
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the timeout did not cut the slow request"
    );
    assert_eq!(
        (report.judgements[0].score, report.judgements[0].requests),
        (Some(6), 2)
    );

    let slow = Server::start(|_| Reply::score(4).delay(Duration::from_secs(3)));
    o.base_url = slow.url.clone();
    o.max_retries = 1;
    let report = Judge::new(o).unwrap().run_blocking(items(1)).unwrap();
    let j = &report.judgements[0];
    assert_eq!((j.score, j.requests), (None, 2));
    assert!(
        j.failure
            .as_deref()
            .unwrap()
            .contains("timed out after 300ms"),
        "{:?}",
        j.failure
    );
}

#[test]
fn a_dropped_connection_is_retried() {
    let server = Server::start(|r| {
        if r.index == 0 {
            Reply::dropped()
        } else {
            Reply::score(8)
        }
    });
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run_blocking(items(1))
        .unwrap();
    assert_eq!(
        (report.judgements[0].score, report.summary.requests),
        (Some(8), 2)
    );
}

#[test]
fn prose_without_a_score_fails_without_retry() {
    let server =
        Server::start(|_| Reply::content("The answer matches the ground truth quite well."));
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run_blocking(items(2))
        .unwrap();
    for j in &report.judgements {
        assert_eq!(j.score, None);
        assert!(
            j.failure
                .as_deref()
                .unwrap()
                .starts_with("reply has no score"),
            "{:?}",
            j.failure
        );
        assert_eq!(j.justification, None);
    }
    assert_eq!((report.summary.failed, report.summary.requests), (2, 2));
    // Tokens of a failed parse were still spent.
    assert_eq!(report.summary.prompt_tokens, 200);
}

#[test]
fn a_score_out_of_range_is_a_failure() {
    let server = Server::start(|r| {
        if r.profile_id() == "1" {
            Reply::score(11)
        } else {
            Reply::score(5)
        }
    });
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run_blocking(items(2))
        .unwrap();
    assert_eq!(report.judgements[0].score, None);
    assert!(report.judgements[0]
        .failure
        .as_deref()
        .unwrap()
        .contains("score 11 is outside 1-10"));
    // The mean covers the scored item only.
    assert_eq!(
        (
            report.summary.scored,
            report.summary.failed,
            report.summary.mean_score
        ),
        (1, 1, Some(5.0))
    );
}

#[test]
fn connection_refused_fails_after_the_retries() {
    let url = refused_url();
    let mut o = opts(&url);
    o.max_retries = 2;
    let report = Judge::new(o).unwrap().run_blocking(items(2)).unwrap();
    for j in &report.judgements {
        assert_eq!((j.score, j.requests), (None, 3));
        let reason = j.failure.as_deref().unwrap();
        assert!(
            reason.contains("cannot connect to http://127.0.0.1:"),
            "{reason}"
        );
    }
    assert_eq!(
        (
            report.summary.failed,
            report.summary.requests,
            report.summary.retries
        ),
        (2, 6, 4)
    );
}

#[test]
fn concurrency_is_bounded() {
    let server = Server::start(|_| Reply::score(5).delay(Duration::from_millis(150)));
    let report = Judge::new(opts(&server.url).with_concurrency(3))
        .unwrap()
        .run_blocking(items(12))
        .unwrap();
    assert_eq!(report.summary.scored, 12, "{report}");
    assert_eq!(
        server.max_in_flight(),
        3,
        "the limit was exceeded or never reached"
    );
}

#[test]
fn unsupported_json_schema_falls_back_to_json_mode() {
    let server = Server::start(|r| {
        if r.json()["response_format"]["type"] == "json_schema" {
            Reply::status(
                400,
                r#"{"error":{"message":"response_format json_schema is not supported"}}"#,
            )
        } else {
            score_by_profile(r)
        }
    });
    let report = Judge::new(opts(&server.url).with_concurrency(1))
        .unwrap()
        .run_blocking(items(3))
        .unwrap();
    assert_eq!(report.summary.scored, 3);
    // One rejected request, then every request in JSON mode.
    let kinds: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.json()["response_format"]["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        ["json_schema", "json_object", "json_object", "json_object"]
    );
    let mut o = opts(&server.url);
    o.reply_format = ReplyFormat::Text;
    Judge::new(o).unwrap().run_blocking(items(1)).unwrap();
    assert!(server
        .requests()
        .last()
        .unwrap()
        .json()
        .get("response_format")
        .is_none());
}

#[test]
fn a_rejected_key_stops_the_run_and_the_error_hides_the_key() {
    let server = Server::start(|_| {
        Reply::status(
            401,
            &format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#),
        )
    });
    let err = Judge::new(opts(&server.url).with_concurrency(1))
        .unwrap()
        .run_blocking(items(5))
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("HTTP 401") && text.contains("<redacted>"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
    assert_eq!(server.count(), 1, "requests continued after a rejected key");
}

#[test]
fn failure_reasons_and_justifications_hide_an_echoed_key() {
    let server = Server::start(move |r| match r.profile_id().as_str() {
        "1" => Reply::status(500, &format!("upstream saw key {KEY}")),
        _ => Reply::content(&format!(
            r#"{{"score": 6, "justification": "your key is {KEY}"}}"#
        )),
    });
    let mut o = opts(&server.url);
    o.max_retries = 0;
    let report = Judge::new(o).unwrap().run_blocking(items(2)).unwrap();
    let everything = format!(
        "{report} {report:?} {} {}",
        report.to_html(),
        serde_json::to_string(&report).unwrap()
    );
    assert!(!everything.contains(KEY));
    assert!(report.judgements[0]
        .failure
        .as_deref()
        .unwrap()
        .contains("<redacted>"));
    assert_eq!(
        report.judgements[1].justification.as_deref(),
        Some("your key is <redacted>")
    );
}

#[tokio::test]
async fn the_blocking_api_works_inside_a_tokio_runtime() {
    // As in evcxr after a cell used `.await`: a runtime is current on this thread.
    let server = Server::start(score_by_profile);
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run_blocking(items(2))
        .unwrap();
    assert_eq!(report.summary.scored, 2);
    // The async API works here too.
    let report = Judge::new(opts(&server.url))
        .unwrap()
        .run(items(1))
        .await
        .unwrap();
    assert_eq!(report.judgements[0].score, Some(1));
}
