//! `mini`: a deterministic synthetic MLLMU-Bench, generated from a seed and written in the
//! very same folder layout and parquet schema as the hub dataset, so the same loader reads
//! both.
//!
//! Every invented person has one consistent set of facts (name, birth year, birthplace, job,
//! employer, education, hobby, family, appearance) and a procedurally drawn portrait that
//! matches the appearance fact. Per profile: 5 + 5 classification questions (4 options,
//! distractors from other values of the same fact), 2 + 2 generation and 2 + 2 cloze
//! questions, 17 fine-tuning pairs; `Test_Set` paraphrases every question (same answers, same
//! order) and holds 3 transformed portraits (mirror, crop, colour shift).
//!
//! ```
//! use mllmu::bench::{mini, Bench, MiniConfig};
//! let cfg = MiniConfig { seed: 7, profiles: 12, celebrities: 2 };
//! let data = mini::generate(&cfg).unwrap();
//! assert_eq!(data.full.len(), 12);
//! assert_eq!(data.full[0].classification.image_textual.len(), 5);
//! let dir = tempfile::tempdir().unwrap();
//! let bench = Bench::open(mini::write(dir.path(), &cfg).unwrap()).unwrap();
//! assert_eq!(bench.full_set().unwrap().profiles[3].id, data.full[3].id);
//! ```

pub(crate) mod facts;
pub(crate) mod portrait;
pub(crate) mod questions;
mod write;

pub use facts::Facts;
pub use write::write;

use crate::bench::{Bench, FtRow, Portrait, Profile, ProfileId, FORGET_RATIOS};
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashSet};

/// Bumped whenever the generator's output changes (part of the [`Bench::mini`] cache path).
pub const GENERATOR_VERSION: u32 = 2;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MiniConfig {
    /// RNG seed: the same seed gives byte-identical files.
    pub seed: u64,
    /// Fictitious profiles (2..=5000).
    pub profiles: usize,
    /// Invented celebrities in `Retain_Set` (1..=999).
    pub celebrities: usize,
}

impl Default for MiniConfig {
    fn default() -> Self {
        MiniConfig {
            seed: 42,
            profiles: 40,
            celebrities: 10,
        }
    }
}

impl MiniConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(2..=5000).contains(&self.profiles) {
            return Err(Error::param(
                "profiles",
                self.profiles,
                "the mini benchmark needs 2 to 5000 profiles",
            ));
        }
        if !(1..=999).contains(&self.celebrities) {
            return Err(Error::param(
                "celebrities",
                self.celebrities,
                "the mini benchmark needs 1 to 999 celebrities",
            ));
        }
        Ok(())
    }
}

/// The generated benchmark, in memory (what [`write`] puts on disk).
#[derive(Debug, Clone)]
pub struct MiniBench {
    /// The configuration.
    pub config: MiniConfig,
    /// Facts of each fictitious person, in `Full_Set` order.
    pub facts: Vec<Facts>,
    /// Facts of each celebrity, in `Retain_Set` order.
    pub celebrity_facts: Vec<Facts>,
    /// `Full_Set` rows.
    pub full: Vec<Profile>,
    /// `Test_Set` rows (paraphrased questions, 3 transformed portraits each).
    pub test: Vec<Profile>,
    /// `Retain_Set` rows.
    pub celebrities: Vec<Profile>,
    /// `ft_Data` rows.
    pub ft: Vec<FtRow>,
    /// Forget IDs per ratio (5, 10, 15), in `forget_N` row order.
    pub forget: BTreeMap<u8, Vec<ProfileId>>,
}

impl MiniBench {
    /// `retain_{100-r}` IDs: the complement of the forget IDs, in `Full_Set` order.
    pub fn retain_ids(&self, ratio: u8) -> Vec<ProfileId> {
        let forget: HashSet<&ProfileId> = self
            .forget
            .get(&ratio)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        self.full
            .iter()
            .map(|p| p.id.clone())
            .filter(|id| !forget.contains(id))
            .collect()
    }
}

fn id_width(n: usize, min: usize) -> usize {
    n.to_string().len().max(min)
}

/// One person: portrait, facts and questions in both wordings.
struct Person {
    facts: Facts,
    full: Profile,
    test: Profile,
}

fn person(
    rng: &mut ChaCha8Rng,
    id: &str,
    celebrity: bool,
    taken: &mut HashSet<String>,
) -> Result<Person> {
    let look = portrait::Look::random(rng);
    let facts = facts::draw(rng, &look, celebrity, taken);
    let plan = questions::plan(rng, &facts);
    let base = look.draw();
    let image_path = (!celebrity).then(|| format!("{id}.png"));
    let image = Portrait::from_bytes(portrait::png(&base)?, image_path).with_profile(id);
    let transformed = [
        portrait::mirror(&base),
        portrait::crop(&base, rng),
        portrait::colour_shift(&base, rng),
    ];
    let images = transformed
        .iter()
        .enumerate()
        .map(|(k, img)| {
            Ok(Portrait::from_bytes(
                portrait::png(img)?,
                Some(format!("{id}_pose{}_gen1.png", k + 1)),
            )
            .with_profile(id))
        })
        .collect::<Result<Vec<_>>>()?;
    let kind = if celebrity { "celebrity" } else { "fictitious" };
    let directory = format!("{kind}_profiles/{id}");
    let make = |variant: usize, image: Option<Portrait>, images: Vec<Portrait>| {
        let (classification, generation, cloze) = questions::tasks(&facts, &plan, variant);
        let (q, a) = questions::description(&facts, variant);
        Profile {
            id: ProfileId(id.to_string()),
            image,
            images,
            directory: Some(directory.clone()),
            biography: Some(facts.biography()),
            question: Some(q),
            answer: Some(a),
            classification,
            generation,
            cloze,
        }
    };
    let full = make(0, Some(image.clone()), vec![image]);
    let test = make(1, None, images);
    Ok(Person { facts, full, test })
}

/// Generates the benchmark in memory.
pub fn generate(cfg: &MiniConfig) -> Result<MiniBench> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut taken = HashSet::new();
    let (mut facts, mut full, mut test, mut ft) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let width = id_width(cfg.profiles, 3);
    for i in 1..=cfg.profiles {
        let id = format!("{i:0width$}");
        let p = person(&mut rng, &id, false, &mut taken)?;
        let image = p.full.image.clone().ok_or_else(|| {
            let message = "internal: the generated profile has no portrait";
            Error::bad_data("mini Full_Set", &id, message)
        })?;
        ft.push(FtRow {
            id: Some(p.full.id.clone()),
            image,
            pairs: questions::ft_pairs(&p.facts),
            skipped_pairs: 0,
        });
        facts.push(p.facts);
        full.push(p.full);
        test.push(p.test);
    }
    let (mut celebrity_facts, mut celebrities) = (Vec::new(), Vec::new());
    let cw = id_width(cfg.celebrities, 2);
    for i in 1..=cfg.celebrities {
        let p = person(&mut rng, &format!("celeb_{i:0cw$}"), true, &mut taken)?;
        celebrity_facts.push(p.facts);
        celebrities.push(p.full);
    }
    let mut forget = BTreeMap::new();
    for ratio in FORGET_RATIOS {
        let mut split_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        split_rng.set_stream(u64::from(ratio));
        let mut ids: Vec<ProfileId> = full.iter().map(|p| p.id.clone()).collect();
        ids.shuffle(&mut split_rng);
        let n = (cfg.profiles * usize::from(ratio) / 100).max(1);
        ids.truncate(n);
        forget.insert(ratio, ids);
    }
    Ok(MiniBench {
        config: cfg.clone(),
        facts,
        celebrity_facts,
        full,
        test,
        celebrities,
        ft,
        forget,
    })
}

impl Bench {
    /// Generates (once per configuration, cached under the system temp folder) and opens a
    /// mini benchmark.
    ///
    /// ```
    /// use mllmu::bench::{Bench, MiniConfig};
    /// let bench = Bench::mini(&MiniConfig { seed: 1, profiles: 10, celebrities: 2 }).unwrap();
    /// assert_eq!(bench.split(5).unwrap().forget().len(), 1);
    /// ```
    pub fn mini(cfg: &MiniConfig) -> Result<Bench> {
        cfg.validate()?;
        let dir = std::env::temp_dir().join("mllmu-mini").join(format!(
            "v{GENERATOR_VERSION}-seed{}-p{}-c{}",
            cfg.seed, cfg.profiles, cfg.celebrities
        ));
        // The card is written last: its presence means every parquet file is complete.
        if !dir.join("README.md").is_file() {
            write(&dir, cfg)?;
        }
        Bench::open(&dir)
    }
}
