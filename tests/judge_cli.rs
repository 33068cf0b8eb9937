#![cfg(feature = "judge")]
//! `mllmu judge` end to end: the binary reads the reference's generation files, talks to a
//! loopback server, writes the reference's `*_factuality_score.json`, the report and the
//! cache, prints `--json`, and never lets the API key out (stdout, stderr, files).

mod judge_server;

use judge_server::{Reply, Server};
use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "sk-mllmu-CLI-4b1d9e77-DO-NOT-PRINT";

fn write_inputs(dir: &Path) {
    let gen = serde_json::json!({"Generation_Questions": [
        {"image_id": "11", "question type": "Image_Textual", "question": "What is his job?",
         "generated_answer": "He is a chef.", "ground_truth": "He works as a chef."},
        {"image_id": "12", "question type": "Pure_Text", "question": "Where was she born?",
         "generated_answer": "In Oslo.", "ground_truth": "She was born in Bergen."},
        {"image_id": "13", "question type": "Pure_Text", "question": "What does she play?",
         "generated_answer": "Chess.", "ground_truth": "She plays chess."}
    ]});
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("forget_generation_results.json"), gen.to_string()).unwrap();
    // Files the judge must not treat as input.
    std::fs::write(
        dir.join("forget_generation_results_factuality_score.json"),
        "[]",
    )
    .unwrap();
}

fn judge(input: &Path, out: &Path, url: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["judge", "--generations"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args([
            "--base-url",
            url,
            "--backoff-ms",
            "5",
            "--max-retries",
            "2",
            "--timeout",
            "5",
        ])
        .args(extra)
        .env("OPENAI_API_KEY", KEY)
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap()
}

/// Every file under `dir`, as text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(all_files(&p));
        } else {
            v.push((
                p.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
    v
}

fn assert_no_key(out: &Output, dir: &Path) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(KEY), "key on stdout:\n{stdout}");
    assert!(!stderr.contains(KEY), "key on stderr:\n{stderr}");
    for (path, text) in all_files(dir) {
        assert!(!text.contains(KEY), "key in {path}");
    }
}

#[test]
fn cli_writes_reference_outputs_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("eval_result");
    let out = dir.path().join("judged");
    write_inputs(&input);
    // First request: a 500 that echoes the key; profile 12 gets prose (no score).
    let server = Server::start(|r| {
        if r.index == 0 {
            return Reply::status(500, &format!("internal error for key {KEY}"));
        }
        match r.profile_id().as_str() {
            "11" => Reply::content("Factuality Score: 9\nJustification: Same job, same meaning."),
            "12" => Reply::content("I think the answer is wrong about the city."),
            _ => Reply::score(8),
        }
    });
    let o = judge(&input, &out, &server.url, &["--json", "--concurrency", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stderr:\n{stderr}");
    assert_no_key(&o, dir.path());
    // The key did reach the endpoint, in the Authorization header only.
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}"))));

    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (k, v) in [
        ("items", 3),
        ("scored", 2),
        ("failed", 1),
        ("requests", 4),
        ("cache_hits", 0),
    ] {
        assert_eq!(summary[k], v, "{k} in {summary}");
    }
    assert_eq!(summary["mean_score"], 8.5);
    assert_eq!(
        (
            summary["prompt_tokens"].as_u64(),
            summary["completion_tokens"].as_u64()
        ),
        (Some(300), Some(60))
    );

    let raw = std::fs::read_to_string(out.join("forget_generation_results_factuality_score.json"))
        .unwrap();
    // The reference's key order within an item (serde_json's Value would sort them).
    let first = &raw[..raw.find('}').unwrap()];
    let at: Vec<usize> = [
        "\"Task Type\"",
        "\"Image_ID\"",
        "\"Question\"",
        "\"Factuality Score\"",
        "\"Justification\"",
    ]
    .iter()
    .map(|k| {
        first
            .find(k)
            .unwrap_or_else(|| panic!("{k} missing in {first}"))
    })
    .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "keys out of order: {first}"
    );
    assert!(
        raw.starts_with("[\n    {\n        \"Task Type\""),
        "not indent=4: {raw}"
    );
    let scores: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let rows = scores.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["Task Type"], "Generation");
    assert_eq!(rows[0]["Image_ID"], "11");
    assert_eq!(rows[0]["Factuality Score"], 9);
    assert_eq!(rows[0]["Justification"], "Same job, same meaning.");
    assert!(rows[1]["Factuality Score"].is_null() && rows[1]["Justification"].is_null());
    assert_eq!(rows[3]["Average Generation Factuality Score"], 8.5);
    assert_eq!(rows[3]["Average Description Factuality Score"], 0.0);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("judge_report.json")).unwrap())
            .unwrap();
    assert!(report["judgements"][1]["failure"]
        .as_str()
        .unwrap()
        .starts_with("reply has no score"));
    assert_eq!(
        report["judgements"][1]["item"]["question_type"],
        "Pure_Text"
    );

    // Rerun: the two scored items come from the cache; only the failed one is sent.
    let rerun = Server::start(|_| Reply::score(3));
    let o = judge(&input, &out, &rerun.url, &["--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_no_key(&o, dir.path());
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (summary["requests"].as_u64(), summary["cache_hits"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(rerun.count(), 1);
    assert_eq!(rerun.requests()[0].profile_id(), "12");

    // The text table names the counts.
    let o = judge(&input, &out, &rerun.url, &[]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("cache hits") && text.contains("forget"),
        "{text}"
    );
    assert_eq!(rerun.count(), 1);
}

#[test]
fn cli_rejected_key_exits_1_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let out = dir.path().join("out");
    write_inputs(&input);
    let server = Server::start(|_| {
        Reply::status(
            401,
            &format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}."}}}}"#),
        )
    });
    let o = judge(
        &input.join("forget_generation_results.json"),
        &out,
        &server.url,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("mllmu: judge: HTTP 401"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_no_key(&o, dir.path());
}

#[test]
fn cli_reports_a_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = judge(
        &dir.path().join("nothing"),
        &dir.path().join("out"),
        "http://127.0.0.1:9/v1",
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("missing file") && stderr.contains("nothing"),
        "{stderr}"
    );
}
