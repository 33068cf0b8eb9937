//! ROUGE-1/2/L (F, precision, recall) and BLEU against rouge_score 0.1.2 and nltk 3.9.1 on
//! the 106 fixture pairs (`tests/fixtures/metrics`), within 1e-9, plus the `score-text`
//! command on the same file.

use mllmu::eval::metrics::{bleu::bleu, rouge::rouge};
use mllmu::eval::pytext::py_split;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

const TOL: f64 = 1e-9;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name)
}

fn jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every number of a JSON line by its dotted key path (serde_json's `float_roundtrip` parses
/// them correctly rounded, so a 1-ulp parsing error cannot hide whether results are
/// bit-exact).
fn raw_numbers(line: &str) -> HashMap<String, f64> {
    fn walk(v: &Value, prefix: &str, out: &mut HashMap<String, f64>) {
        match v {
            Value::Object(map) => {
                for (key, v) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(v, &path, out);
                }
            }
            Value::String(_) => {}
            other => {
                out.insert(prefix.to_string(), other.as_f64().unwrap());
            }
        }
    }
    let mut out = HashMap::new();
    walk(&serde_json::from_str(line).unwrap(), "", &mut out);
    out
}

fn raw_lines(text: &str) -> Vec<HashMap<String, f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(raw_numbers)
        .collect()
}

fn num(v: &HashMap<String, f64>, path: &str) -> f64 {
    *v.get(path).unwrap_or_else(|| panic!("{path} missing"))
}

#[derive(Default)]
struct MaxErr {
    worst: f64,
    at: String,
}

impl MaxErr {
    fn track(&mut self, what: String, got: f64, want: f64) {
        let e = (got - want).abs();
        assert!(
            e <= TOL,
            "{what}: got {got:?}, reference {want:?} (error {e:e})"
        );
        if e > self.worst || self.at.is_empty() {
            self.worst = self.worst.max(e);
            self.at = what;
        }
    }
}

#[test]
fn rouge_and_bleu_match_the_python_reference_on_all_pairs() {
    let pairs = jsonl("pairs.jsonl");
    let refs = raw_lines(&std::fs::read_to_string(fixture("reference.jsonl")).unwrap());
    let ref_ids: Vec<Value> = jsonl("reference.jsonl");
    assert_eq!(pairs.len(), 106);
    assert_eq!(refs.len(), pairs.len());
    let names = ["rouge1", "rouge2", "rougeL"];
    let mut errs: Vec<MaxErr> = (0..4).map(|_| MaxErr::default()).collect();
    let mut detail_err = MaxErr::default();
    for ((p, r), rid) in pairs.iter().zip(&refs).zip(&ref_ids) {
        let id = p["id"].as_str().unwrap();
        assert_eq!(rid["id"].as_str(), Some(id));
        let gt = p["ground_truth"].as_str().unwrap();
        let pred = p["prediction"].as_str().unwrap();
        let s = rouge(gt, pred);
        for (k, (name, got)) in names
            .iter()
            .zip([s.rouge1, s.rouge2, s.rouge_l])
            .enumerate()
        {
            errs[k].track(format!("{id} {name}"), got.fmeasure, num(r, name));
            for (field, value) in [
                ("precision", got.precision),
                ("recall", got.recall),
                ("fmeasure", got.fmeasure),
            ] {
                detail_err.track(
                    format!("{id} {name}.{field}"),
                    value,
                    num(r, &format!("detail.{name}.{field}")),
                );
            }
        }
        errs[3].track(format!("{id} bleu"), bleu(gt, pred), num(r, "bleu"));
        assert_eq!(
            py_split(gt).len() as f64,
            num(r, "detail.n_ref_tokens_split"),
            "{id} ref split"
        );
        assert_eq!(
            py_split(pred).len() as f64,
            num(r, "detail.n_hyp_tokens_split"),
            "{id} hyp split"
        );
    }
    for (name, e) in ["rouge1", "rouge2", "rougeL", "bleu"].iter().zip(&errs) {
        println!("max abs error {name}: {:e} ({})", e.worst, e.at);
    }
    println!(
        "max abs error ROUGE details: {:e} ({})",
        detail_err.worst, detail_err.at
    );
}

#[test]
fn score_text_command_prints_the_reference_values() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["score-text", "--input"])
        .arg(fixture("pairs.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let refs = raw_lines(&std::fs::read_to_string(fixture("reference.jsonl")).unwrap());
    assert_eq!(lines.len(), refs.len());
    let mut worst = 0.0f64;
    for (line, r) in lines.iter().zip(&refs) {
        let keys: Vec<&str> = line
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|kv| kv.split(':').next().unwrap().trim_matches('"'))
            .collect();
        assert_eq!(keys, ["rouge1", "rouge2", "rougeL", "bleu"], "{line}");
        let v = raw_numbers(line);
        for k in ["rouge1", "rouge2", "rougeL", "bleu"] {
            let (got, want) = (num(&v, k), num(r, k));
            assert!((got - want).abs() <= TOL, "{line} {k}: {got} vs {want}");
            worst = worst.max((got - want).abs());
        }
    }
    println!("score-text max abs error: {worst:e}");
}

#[test]
fn score_text_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pairs.jsonl");
    std::fs::write(
        &p,
        "{\"ground_truth\": \"a\", \"prediction\": \"a\"}\n\n{\"ground_truth\": \"a\"}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["score-text", "--input"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("mllmu: "), "{err}");
    assert!(
        err.contains("line 3") && err.contains("prediction"),
        "{err}"
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(["score-text", "--input"])
        .arg(dir.path().join("absent.jsonl"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.jsonl"));
}
