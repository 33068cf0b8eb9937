//! The recipe that makes `mini-llava`: the pretraining corpus, the tokenizer trained on it,
//! a seeded initialisation, and pretraining; the result is a Hugging Face LLaVA-1.5 folder
//! with its training log and `SHA256SUMS`.
//!
//! ```no_run
//! let recipe = mllmu::train::mini_llava::MiniRecipe::default();
//! let log = recipe.run("assets/mini-llava".as_ref())?;
//! println!("{} steps, probe accuracy {:?}", log.steps, log.final_probe_accuracy);
//! # Ok::<(), mllmu::Error>(())
//! ```

use crate::model::mini::MiniLlava;
use crate::train::corpus::{Corpus, CorpusConfig};
use crate::train::pretrain::{self, PretrainLog, PretrainOptions};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything that decides the model: corpus, sizes, training, seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiniRecipe {
    /// The pretraining corpus.
    pub corpus: CorpusConfig,
    /// The sizes.
    pub model: MiniLlava,
    /// The training run.
    pub pretrain: PretrainOptions,
    /// Seed of the initial weights.
    pub init_seed: u64,
    /// Distinct question-plan draws cycled over the epochs (1: every epoch sees the same
    /// documents).
    #[serde(default = "one")]
    pub fresh_plans_per_run: usize,
}

fn one() -> usize {
    1
}

impl Default for MiniRecipe {
    fn default() -> Self {
        MiniRecipe {
            corpus: CorpusConfig::default(),
            model: MiniLlava::default(),
            pretrain: PretrainOptions::default(),
            init_seed: 1,
            fresh_plans_per_run: 6,
        }
    }
}

impl MiniRecipe {
    /// The recipe with every seed derived from `seed`.
    pub fn seeded(seed: u64) -> Self {
        let mut r = MiniRecipe::default();
        r.corpus.seed = seed.wrapping_add(9_000_000);
        r.init_seed = seed.wrapping_add(1);
        r.pretrain.seed = seed;
        r
    }

    /// Makes the model in `out` (the untrained base goes to `out/base` and is removed at
    /// the end); writes `pretrain_log.json` (with the recipe) and `SHA256SUMS`.
    pub fn run(&self, out: &Path) -> Result<PretrainLog> {
        let corpus = Corpus::generate(&self.corpus)?;
        let base = out.join("base");
        self.model
            .write_base(&base, corpus.texts(), self.init_seed)?;
        // Every epoch asks the same people with fresh plans and option orders.
        let mut epoch_docs = vec![corpus.docs.clone()];
        for e in 1..self.pretrain.epochs.min(self.fresh_plans_per_run) {
            let cfg = CorpusConfig {
                plan_seed: Some(self.corpus.seed.wrapping_mul(31).wrapping_add(e as u64)),
                ..self.corpus.clone()
            };
            epoch_docs.push(Corpus::generate(&cfg)?.docs);
        }
        let log = pretrain::pretrain(&base, out, &epoch_docs, &corpus, &self.pretrain)?;
        std::fs::remove_dir_all(&base).map_err(|e| Error::io("remove", &base, e))?;
        let record = serde_json::json!({"recipe": self, "log": log});
        let text = serde_json::to_string_pretty(&record)
            .map_err(|e| Error::json("pretrain_log.json", e))?;
        crate::io::write_atomic(&pretrain::log_path(out), text.as_bytes())?;
        write_sums(out)?;
        Ok(log)
    }
}

/// `SHA256SUMS` of every file in `dir` but the log (whose timings vary), sorted, in
/// `sha256sum` format: the identity of the model.
pub fn write_sums(dir: &Path) -> Result<()> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("read", dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS" && n != "pretrain_log.json")
        .collect();
    names.sort();
    let mut out = String::new();
    for n in names {
        let path = dir.join(&n);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        out.push_str(&format!("{}  {n}\n", hex::encode(Sha256::digest(&bytes))));
    }
    crate::io::write_atomic(&dir.join("SHA256SUMS"), out.as_bytes())
}
