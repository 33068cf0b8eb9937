#![cfg(feature = "judge")]
//! The judge's disk cache against a real loopback server: a rerun sends nothing for scored
//! items, an interrupted (partly failed) run resumes, failures are not cached, and a
//! different model or answer misses the cache.

mod judge_server;

use judge_server::{Reply, Server};
use mllmu::judge::{Judge, JudgeItem, JudgeOptions};
use std::time::Duration;

fn opts(url: &str, cache: &std::path::Path) -> JudgeOptions {
    let mut o = JudgeOptions::default()
        .with_base_url(url)
        .with_model("judge-test")
        .with_cache(cache);
    o.initial_backoff = Duration::from_millis(5);
    o.max_backoff = Duration::from_millis(20);
    o.max_retries = 0;
    o
}

fn items() -> Vec<JudgeItem> {
    (1..=4)
        .map(|i| {
            JudgeItem::generation(
                "test",
                i.to_string(),
                format!("q{i}"),
                format!("a{i}"),
                format!("g{i}"),
            )
        })
        .collect()
}

fn score_by_profile(r: &judge_server::Request) -> Reply {
    Reply::score(r.profile_id().parse().unwrap_or(0))
}

#[test]
fn a_rerun_is_served_entirely_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("judge_cache.jsonl");
    let first = Server::start(score_by_profile);
    let a = Judge::new(opts(&first.url, &cache))
        .unwrap()
        .run_blocking(items())
        .unwrap();
    assert_eq!((a.summary.requests, a.summary.cache_hits), (4, 0));
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 4);

    let second = Server::start(|_| Reply::score(1));
    let b = Judge::new(opts(&second.url, &cache))
        .unwrap()
        .run_blocking(items())
        .unwrap();
    assert_eq!(second.count(), 0, "the rerun sent requests");
    assert_eq!(
        (b.summary.requests, b.summary.cache_hits, b.summary.scored),
        (0, 4, 4)
    );
    let scores =
        |r: &mllmu::judge::JudgeReport| r.judgements.iter().map(|j| j.score).collect::<Vec<_>>();
    assert_eq!(scores(&a), scores(&b));
    assert_eq!(b.judgements[2].justification.as_deref(), Some("graded 3"));
    assert!(b.judgements.iter().all(|j| j.cached));
    assert_eq!((b.summary.prompt_tokens, b.summary.cost_usd), (0, 0.0));

    // Another model, or a changed answer, is a different request: not served from cache.
    let third = Server::start(|_| Reply::score(2));
    let mut changed = items();
    changed[0].answer = "a different answer".into();
    let c = Judge::new(opts(&third.url, &cache))
        .unwrap()
        .run_blocking(changed)
        .unwrap();
    assert_eq!((c.summary.requests, c.summary.cache_hits), (1, 3));
    let d = Judge::new(opts(&third.url, &cache).with_model("other"))
        .unwrap()
        .run_blocking(items())
        .unwrap();
    assert_eq!((d.summary.requests, d.summary.cache_hits), (4, 0));
}

#[test]
fn an_interrupted_run_resumes_and_failures_are_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("sub").join("cache.jsonl");
    // Items 2 and 4 fail in the first run (as if the run died before them).
    let flaky = Server::start(|r| match r.profile_id().as_str() {
        "2" | "4" => Reply::status(500, "down"),
        _ => score_by_profile(r),
    });
    let a = Judge::new(opts(&flaky.url, &cache))
        .unwrap()
        .run_blocking(items())
        .unwrap();
    assert_eq!((a.summary.scored, a.summary.failed), (2, 2));
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 2);

    let good = Server::start(score_by_profile);
    let b = Judge::new(opts(&good.url, &cache))
        .unwrap()
        .run_blocking(items())
        .unwrap();
    let mut sent: Vec<String> = good.requests().iter().map(|r| r.profile_id()).collect();
    sent.sort();
    assert_eq!(sent, ["2", "4"]);
    assert_eq!(
        (b.summary.scored, b.summary.cache_hits, b.summary.requests),
        (4, 2, 2)
    );
    assert_eq!(
        b.judgements.iter().map(|j| j.score).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3), Some(4)]
    );
}

#[test]
fn duplicate_items_are_sent_once() {
    let server = Server::start(|_| Reply::score(6));
    let mut it = items();
    let mut dup = it[0].clone();
    dup.label = "forget".into(); // another set, same request
    it.push(dup);
    let dir = tempfile::tempdir().unwrap();
    let r = Judge::new(opts(&server.url, &dir.path().join("c.jsonl")))
        .unwrap()
        .run_blocking(it)
        .unwrap();
    assert_eq!(
        (server.count(), r.summary.items, r.summary.scored),
        (4, 5, 5)
    );
    assert_eq!(r.judgements[4].score, Some(6));
    assert_eq!(r.judgements[4].item.label, "forget");
}
