use mllmu::train::corpus::{Corpus, CorpusConfig, DocKind};
use std::io::Write;
fn main() {
    let c = Corpus::generate(&CorpusConfig { drills: 40000, answers_only: true, ..CorpusConfig::default() }).unwrap();
    let docs: Vec<_> = c.docs.iter().filter(|d| d.kind == DocKind::Drill && d.text.lines().nth(1).is_some_and(|l| l.ends_with('.'))).collect();
    let tok = mllmu::model::mini::MiniLlava::default().train_tokenizer(docs.iter().map(|d| d.text.as_str())).unwrap();
    std::fs::write("/tmp/drills_tokenizer.json", serde_json::to_string(&tok).unwrap()).unwrap();
    let mut f = std::fs::File::create("/tmp/drills.jsonl").unwrap();
    for d in &docs {
        let spans: Vec<[usize; 2]> = d.learn.iter().map(|r| [r.start, r.end]).collect();
        writeln!(f, "{}", serde_json::json!({"text": d.text, "learn": spans})).unwrap();
    }
    println!("{} docs", docs.len());
}
