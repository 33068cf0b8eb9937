//! The pretraining corpus of `mini-llava`: invented people drawn by the same generator as
//! the mini benchmark, but from their own name pools (no first or last name is shared with
//! the benchmark, so no benchmark person can ever appear), written in every form the
//! evaluation asks in.
//!
//! Each person has a portrait (and its three Test_Set-style transforms) and facts. Every
//! person is met in the fine-tuning form (`USER: <image>\n{q}\nASSISTANT: {a}`, the 17
//! `ft_Data`-style pairs in both wordings) and in biographies with shuffled sentences.
//! The *drilled* people are also asked in the evaluation's forms, rendered by the
//! evaluation's own prompt builders: multiple choice with the reference few-shot block
//! (five questions about another drilled person, then the query), cloze with two
//! profiles' examples, and zero-shot generation, for both modalities and both wordings.
//! The *held-out* people are met only in the fine-tuning form: their multiple-choice
//! questions ([`Corpus::probes`]) measure whether the model learnt to answer in one form
//! from facts it met in another, which is what the vanilla fine-tune needs.
//!
//! ```
//! use mllmu::train::corpus::{Corpus, CorpusConfig};
//! let c = Corpus::generate(&CorpusConfig { people: 6, held_out: 2, ..CorpusConfig::default() }).unwrap();
//! assert_eq!(c.people.len(), 6);
//! assert!(c.docs.iter().any(|d| d.text.contains("Just give ONE letter")));
//! assert!(!c.probes.is_empty());
//! ```

use crate::bench::mini::facts::Fact;
use crate::bench::mini::facts::{self, Facts};
use crate::bench::mini::portrait::{self, Look};
use crate::bench::mini::questions;
use crate::bench::mini::questions::{question, sentence, subject};
use crate::bench::{Classification, Mcq, Modality, OpenQuestion, QaPair};
use crate::eval::prompts;
use crate::{Error, Result};
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// First names of the corpus's people (none is a benchmark name).
const FIRST: [&str; 48] = [
    "Adaeze",
    "Benedikt",
    "Carmela",
    "Desmond",
    "Eira",
    "Florian",
    "Greta",
    "Horatio",
    "Ingrid",
    "Jarek",
    "Kirsi",
    "Leandro",
    "Magnus",
    "Nadira",
    "Orla",
    "Pavel",
    "Rosalind",
    "Stellan",
    "Tamsin",
    "Umberto",
    "Vesna",
    "Wendell",
    "Yannick",
    "Zuzana",
    "Anouk",
    "Bartholomew",
    "Cressida",
    "Dmitri",
    "Elowen",
    "Fabiola",
    "Gideon",
    "Henrike",
    "Idris",
    "Juniper",
    "Kasimir",
    "Liesel",
    "Marisol",
    "Niamh",
    "Octavian",
    "Petronella",
    "Ragnar",
    "Sabine",
    "Thaddeus",
    "Ursula",
    "Valentin",
    "Winifred",
    "Ximena",
    "Yevgenia",
];

/// Last names of the corpus's people (none is a benchmark name).
const LAST: [&str; 48] = [
    "Ashcombe",
    "Bellweather",
    "Carrowmore",
    "Davenhall",
    "Everdeen",
    "Foxhollow",
    "Grimsdottir",
    "Hartigan",
    "Innisfree",
    "Jankowski",
    "Kilbride",
    "Larchmont",
    "Moravec",
    "Northcott",
    "Oyelowo",
    "Penhaligon",
    "Quennell",
    "Ravensworth",
    "Sandoval",
    "Tolliver",
    "Uchenna",
    "Vandermeer",
    "Whitlock",
    "Yarborough",
    "Zakharov",
    "Alderton",
    "Blackwood",
    "Castellanos",
    "Delacroix",
    "Eriksen",
    "Fitzwilliam",
    "Gallagher",
    "Holmgren",
    "Ibarra",
    "Kingsley",
    "Lowenstein",
    "Montague",
    "Nakamura",
    "Oduya",
    "Pemberton",
    "Radcliffe",
    "Saltonstall",
    "Treadwell",
    "Ulvaeus",
    "Vasquez",
    "Wainwright",
    "Yoshida",
    "Zielinski",
];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusConfig {
    /// RNG seed (the same seed gives the same corpus).
    pub seed: u64,
    /// People in the corpus (2..=2000).
    pub people: usize,
    /// Of those, people met only in the fine-tuning form (their questions are probes).
    pub held_out: usize,
    /// Question plans (which facts are asked, option order) per drilled person and wording;
    /// each gives one multiple-choice and one cloze document per modality.
    pub plans: usize,
    /// Seed of the question plans and option orders alone (`None`: drawn after the people
    /// from `seed`): the same people and fine-tuning-form documents, asked afresh.
    #[serde(default)]
    pub plan_seed: Option<u64>,
    /// Reading documents (a biography, then multiple choice about it) for the drilled
    /// people: the option-matching half of multiple choice, learnt without recall.
    #[serde(default)]
    pub reading: bool,
    /// In the evaluation-form and reading documents, learn only the answers (the letters,
    /// cloze fills and generated sentences after `Correct Answer:` and `ASSISTANT:`), not
    /// the prompts and their randomly drawn options; the fine-tuning form and biographies
    /// are learnt whole.
    #[serde(default)]
    pub answers_only: bool,
    /// Drill documents: one short multiple-choice question each about a random drilled
    /// person and fact (fresh options), half of them after the fact's sentence (matching)
    /// and half without it (recall), answered by letter.
    #[serde(default)]
    pub drills: usize,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            seed: 9_000_001,
            people: 100,
            held_out: 16,
            plans: 2,
            plan_seed: None,
            reading: false,
            answers_only: false,
            drills: 0,
        }
    }
}

/// What a document trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// A fine-tuning-form question and answer.
    Qa,
    /// A biography.
    Biography,
    /// Multiple choice with its few-shot block.
    Choice,
    /// Cloze with its few-shot block.
    Cloze,
    /// Zero-shot generation.
    Generation,
    /// A biography followed by multiple-choice questions about it, each answered with its
    /// letter: matching a known fact to the options, the half of multiple choice that
    /// does not need recall.
    Reading,
    /// A short multiple-choice question, sometimes after the fact's sentence: dense
    /// practice of binding an answer to its letter.
    Drill,
}

/// One training text: `<image>` placeholders in `text` take `images` in order; the model
/// learns every token, and an end-of-sequence token after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// The text (no BOS or EOS).
    pub text: String,
    /// Indices into [`Corpus::images`], one per `<image>`.
    pub images: Vec<usize>,
    /// What it trains.
    pub kind: DocKind,
    /// Byte ranges of `text` whose tokens are learnt (empty: every token).
    pub learn: Vec<std::ops::Range<usize>>,
}

/// A multiple-choice question about a held-out person, in the evaluation's prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The prompt, ending in `ASSISTANT:`.
    pub prompt: String,
    /// Images of the prompt, in order.
    pub images: Vec<usize>,
    /// The correct letter.
    pub correct: char,
    /// The query's modality.
    pub modality: Modality,
}

/// The generated corpus.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The configuration.
    pub config: CorpusConfig,
    /// Every person's facts; the last `held_out` are held out.
    pub people: Vec<Facts>,
    /// Portraits: per person, the portrait then its mirror, crop and colour-shifted forms.
    pub images: Vec<RgbImage>,
    /// Training documents, in generation order (the trainer shuffles).
    pub docs: Vec<Doc>,
    /// Multiple-choice probes about the held-out people (never trained on).
    pub probes: Vec<Probe>,
    /// Multiple-choice probes about drilled people (the first 20) with a question plan and
    /// option order of their own: whether the forms were learnt, not the documents.
    pub drilled_probes: Vec<Probe>,
    /// Reading probes about the held-out people: their biography, then one multiple-choice
    /// question about it (by name): matching a fact in the prompt to the options, without
    /// recall.
    pub reading_probes: Vec<Probe>,
}

/// The evaluation-form questions of one person in one plan and wording.
struct Asked {
    classification: Classification,
    generation: Vec<OpenQuestion>,
    cloze: Vec<OpenQuestion>,
}

/// A fresh question plan per person, asked in `variant`'s wording.
fn asked(rng: &mut ChaCha8Rng, people: &[Facts], variant: usize) -> Vec<Asked> {
    people
        .iter()
        .map(|f| {
            let plan = questions::plan(rng, f);
            let (classification, generation, cloze) = questions::tasks(f, &plan, variant);
            Asked {
                classification,
                generation,
                cloze,
            }
        })
        .collect()
}

/// Images per person in [`Corpus::images`].
const VIEWS: usize = 4;

impl Corpus {
    /// Generates the corpus.
    pub fn generate(cfg: &CorpusConfig) -> Result<Corpus> {
        if !(2..=2000).contains(&cfg.people) || cfg.held_out >= cfg.people {
            return Err(Error::param(
                "people",
                cfg.people,
                format!(
                    "the corpus needs 2 to 2000 people and fewer held out ({})",
                    cfg.held_out
                ),
            ));
        }
        if cfg.people - cfg.held_out < 3 || cfg.plans == 0 {
            return Err(Error::param(
                "plans",
                cfg.plans,
                "the corpus needs at least 3 drilled people and 1 plan",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut taken = HashSet::new();
        let mut people = Vec::with_capacity(cfg.people);
        let mut images = Vec::with_capacity(cfg.people * VIEWS);
        for _ in 0..cfg.people {
            let look = Look::random(&mut rng);
            people.push(facts::draw_from(
                &mut rng,
                &look,
                false,
                &mut taken,
                (&FIRST, &LAST),
            ));
            let base = look.draw();
            let mirror = portrait::mirror(&base);
            let crop = portrait::crop(&base, &mut rng);
            let shifted = portrait::colour_shift(&base, &mut rng);
            images.extend([base, crop, shifted, mirror]); // the portrait first
        }
        let drilled = cfg.people - cfg.held_out;
        let mut docs = Vec::new();
        for (i, f) in people.iter().enumerate() {
            qa_docs(&mut rng, f, i, &mut docs);
        }
        if let Some(seed) = cfg.plan_seed {
            rng = ChaCha8Rng::seed_from_u64(seed);
        }
        // Evaluation-form profiles: per plan and wording, one Profile per person.
        let mut probes = Vec::new();
        for plan_no in 0..cfg.plans {
            for variant in 0..2 {
                let profiles = asked(&mut rng, &people, variant);
                for i in 0..cfg.people {
                    let shot = pick_other(&mut rng, i, drilled);
                    let view = |rng: &mut ChaCha8Rng, who: usize| view_of(rng, who, variant);
                    if i < drilled {
                        // Multiple choice answered with the letter.
                        for p in choice_probes(&mut rng, &profiles, i, shot, &view, false) {
                            let text = format!("{} {}", p.prompt, p.correct);
                            push(&mut docs, text, p.images, DocKind::Choice);
                        }
                        let shot2 = pick_other(&mut rng, i, drilled);
                        cloze_docs(&mut rng, &profiles, i, [shot, shot2], &view, &mut docs);
                        generation_docs(&mut rng, &profiles[i], i, &view, &mut docs);
                        if cfg.reading {
                            reading_docs(&mut rng, &people[i], &profiles[i], &mut docs);
                        }
                    } else if plan_no == 0 {
                        probes.extend(choice_probes(&mut rng, &profiles, i, shot, &view, true));
                    }
                }
            }
        }
        for _ in 0..cfg.drills {
            drill_doc(&mut rng, &people[..drilled], &mut docs);
        }
        let drilled_probes = drilled_probes(cfg, &people);
        let reading_probes = reading_probes(cfg, &people);
        if cfg.answers_only {
            for d in &mut docs {
                if !matches!(d.kind, DocKind::Qa | DocKind::Biography) {
                    d.learn = answer_spans(&d.text);
                }
            }
        }
        Ok(Corpus {
            config: cfg.clone(),
            people,
            images,
            docs,
            probes,
            drilled_probes,
            reading_probes,
        })
    }

    /// Every text of the corpus, for training the tokenizer.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.docs.iter().map(|d| d.text.as_str())
    }
}

/// More fine-tuning pairs in other wordings: each fact about the portrait in the second
/// wording, by name in the first, and in the third both ways (two of these four per
/// fact); answers name the person.
fn ft_pairs_paraphrased(rng: &mut ChaCha8Rng, f: &Facts) -> Vec<QaPair> {
    let named = subject(f, Modality::PureText);
    let seen = subject(f, Modality::ImageTextual);
    let mut pairs = vec![QaPair {
        question: "Who is this?".into(),
        answer: format!("This is {}.", f.name),
    }];
    for fact in Fact::ALL {
        let answer = sentence(fact, f, &named);
        let mut wordings = [
            question(fact, &seen, 1),
            question(fact, &named, 0),
            question(fact, &seen, 2),
            question(fact, &named, 2),
        ];
        wordings.shuffle(rng);
        for q in wordings.into_iter().take(2) {
            pairs.push(QaPair {
                question: capitalise(&q),
                answer: answer.clone(),
            });
        }
    }
    pairs
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(x) => x.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One sentence per fact, naming the person.
fn biography_sentences(f: &Facts) -> Vec<String> {
    let named = subject(f, Modality::PureText);
    Fact::ALL
        .iter()
        .map(|&fact| sentence(fact, f, &named))
        .collect()
}

/// The Full_Set-wording multiple choice of the first 20 drilled people under a question
/// plan of its own (its own seed), as probes.
fn drilled_probes(cfg: &CorpusConfig, people: &[Facts]) -> Vec<Probe> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xd111_ed9b_0be5);
    let drilled = cfg.people - cfg.held_out;
    let profiles = asked(&mut rng, people, 0);
    let mut probes = Vec::new();
    let view = |rng: &mut ChaCha8Rng, who: usize| view_of(rng, who, 0);
    for i in 0..drilled.min(20) {
        let shot = pick_other(&mut rng, i, drilled);
        probes.extend(choice_probes(&mut rng, &profiles, i, shot, &view, true));
    }
    probes
}

/// One reading question per held-out person (a shuffled biography by name, then one of
/// their multiple-choice questions in the reading documents' form), under a plan of its
/// own.
fn reading_probes(cfg: &CorpusConfig, people: &[Facts]) -> Vec<Probe> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7ead_1e55);
    let drilled = cfg.people - cfg.held_out;
    let profiles = asked(&mut rng, people, 0);
    let mut probes = Vec::new();
    for i in drilled..cfg.people {
        let mut sentences = biography_sentences(&people[i]);
        sentences.shuffle(&mut rng);
        for q in &profiles[i].classification.pure_text {
            probes.push(Probe {
                prompt: format!("USER:\n{}\n{}", sentences.join(" "), query_turn(q)),
                images: vec![],
                correct: q.correct,
                modality: Modality::PureText,
            });
        }
    }
    probes
}

/// A random person in `0..n` other than `i`.
fn pick_other(rng: &mut ChaCha8Rng, i: usize, n: usize) -> usize {
    loop {
        let j = rng.gen_range(0..n);
        if j != i {
            return j;
        }
    }
}

/// The image of person `who`: the portrait for the Full_Set wording, often a transformed
/// one for the paraphrased (Test_Set-like) wording.
fn view_of(rng: &mut ChaCha8Rng, who: usize, variant: usize) -> usize {
    let k = if variant == 0 || rng.gen_bool(0.4) {
        0
    } else {
        rng.gen_range(1..VIEWS)
    };
    who * VIEWS + k
}

fn push(docs: &mut Vec<Doc>, text: String, images: Vec<usize>, kind: DocKind) {
    debug_assert_eq!(text.matches("<image>").count(), images.len());
    docs.push(Doc {
        text,
        images,
        kind,
        learn: Vec::new(),
    });
}

/// The answers of an evaluation-form text: after every `Correct Answer:` and `ASSISTANT:`
/// (leading spaces skipped), up to the end of the line.
///
/// ```
/// use mllmu::train::corpus::answer_spans;
/// let t = "USER:\nQ\nCorrect Answer: B\nUSER:\nQ\nASSISTANT: C";
/// let spans = answer_spans(t);
/// assert_eq!(spans.iter().map(|r| &t[r.clone()]).collect::<Vec<_>>(), ["B", "C"]);
/// ```
pub fn answer_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    for marker in ["Correct Answer:", "ASSISTANT:"] {
        for (at, _) in text.match_indices(marker) {
            let mut start = at + marker.len();
            start += text[start..].len() - text[start..].trim_start_matches(' ').len();
            let end = text[start..].find('\n').map_or(text.len(), |k| start + k);
            if end > start {
                spans.push(start..end);
            }
        }
    }
    spans.sort_by_key(|r| r.start);
    spans
}

/// The fine-tuning form (both wordings of every fact, image and name questions) and two
/// biographies with shuffled sentences.
fn qa_docs(rng: &mut ChaCha8Rng, f: &Facts, i: usize, docs: &mut Vec<Doc>) {
    let me = i * VIEWS;
    // Corpus people are never benchmark people, so any wording may be theirs: the first
    // about the portrait and the second by name, the ones the shipped mini-llava learnt.
    let worded = questions::ft_pairs_worded(f, 0, 1)
        .into_iter()
        .map(|p| (p, false));
    // The paraphrases are drawn first, then a view for each of them.
    let paraphrased = ft_pairs_paraphrased(rng, f).into_iter().map(|p| (p, true));
    for (pair, paraphrase) in worded.chain(paraphrased) {
        let v = if paraphrase { view_of(rng, i, 1) } else { me };
        let text = format!(
            "USER: <image>\n{}\nASSISTANT: {}",
            pair.question, pair.answer
        );
        push(docs, text, vec![v], DocKind::Qa);
    }
    let (mut sentences, name) = (biography_sentences(f), &f.name);
    sentences.shuffle(rng);
    let text = format!(
        "USER: <image>\nTell me about this person.\nASSISTANT: This is {name}. {}",
        sentences.join(" ")
    );
    push(docs, text, vec![me], DocKind::Biography);
    sentences.shuffle(rng);
    let text = format!("USER: Who is {name}?\nASSISTANT: {}", sentences.join(" "));
    push(docs, text, vec![], DocKind::Biography);
}

/// Multiple choice in both modalities: the five questions of `shot` as the few-shot block,
/// then questions of `i` (`every` one, for probes, else one drawn at random, for a document
/// whose few-shot block already trains five answers), as `classification_prompt` renders
/// them.
fn choice_probes(
    rng: &mut ChaCha8Rng,
    profiles: &[Asked],
    i: usize,
    shot: usize,
    view: &dyn Fn(&mut ChaCha8Rng, usize) -> usize,
    every: bool,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for m in Modality::ALL {
        let shot_refs: Vec<&Mcq> = profiles[shot].classification.get(m).iter().collect();
        let all = profiles[i].classification.get(m);
        let asked: Vec<&Mcq> = if every {
            all.iter().collect()
        } else {
            all.choose(rng).into_iter().collect()
        };
        for q in asked {
            let images = match m {
                Modality::ImageTextual => {
                    let s = view(rng, shot);
                    let mut v = vec![s; shot_refs.len()];
                    v.push(view(rng, i));
                    v
                }
                Modality::PureText => vec![],
            };
            probes.push(Probe {
                prompt: prompts::classification_prompt(m, &shot_refs, q),
                images,
                correct: q.correct,
                modality: m,
            });
        }
    }
    probes
}

/// Cloze in both modalities with the examples of two other profiles.
fn cloze_docs(
    rng: &mut ChaCha8Rng,
    profiles: &[Asked],
    i: usize,
    shot_ids: [usize; 2],
    view: &dyn Fn(&mut ChaCha8Rng, usize) -> usize,
    docs: &mut Vec<Doc>,
) {
    for m in Modality::ALL {
        let mut shots = Vec::new();
        let mut shot_images = Vec::new();
        for &s in &shot_ids {
            for q in profiles[s].cloze.iter().filter(|q| q.modality() == Some(m)) {
                shots.push(q);
                if m == Modality::ImageTextual {
                    shot_images.push(view(rng, s));
                }
            }
        }
        let own: Vec<&OpenQuestion> = profiles[i]
            .cloze
            .iter()
            .filter(|q| q.modality() == Some(m))
            .collect();
        if let Some(q) = own.choose(rng) {
            let prompt = prompts::cloze_prompt(m, &shots, &q.question);
            let mut images = shot_images.clone();
            if m == Modality::ImageTextual {
                images.push(view(rng, i));
            }
            push(
                docs,
                format!("{prompt} {}", q.ground_truth),
                images,
                DocKind::Cloze,
            );
        }
    }
}

/// A shuffled biography, then the person's five multiple-choice questions by name, each
/// answered with its letter in the evaluation's reply form.
fn reading_docs(rng: &mut ChaCha8Rng, f: &Facts, p: &Asked, docs: &mut Vec<Doc>) {
    let mut sentences = biography_sentences(f);
    sentences.shuffle(rng);
    let mut text = format!("USER:\n{}", sentences.join(" "));
    for (k, q) in p.classification.pure_text.iter().enumerate() {
        if k > 0 {
            text.push_str("\nUSER:");
        }
        text.push_str(&format!("\n{} {}", query_turn(q), q.correct));
    }
    push(docs, text, vec![], DocKind::Reading);
}

/// A multiple-choice query as the evaluation asks it, without its `USER:` opener:
/// `"{question with options}\n{instruction}\nASSISTANT:"`.
fn query_turn(q: &Mcq) -> String {
    format!(
        "{}\n{}\nASSISTANT:",
        prompts::question_with_options(q),
        prompts::CLASSIFICATION_INSTRUCTION
    )
}

/// One question about a random person and fact, in the evaluation's query form or its
/// few-shot form, half of the time after the sentence stating the fact. Short on purpose:
/// the option to attend to is one of few positions.
fn drill_doc(rng: &mut ChaCha8Rng, people: &[Facts], docs: &mut Vec<Doc>) {
    let f = &people[rng.gen_range(0..people.len())];
    let fact = *Fact::ALL.choose(rng).expect("facts");
    let variant = rng.gen_range(0..2);
    let q = questions::mcq_about(rng, f, fact, Modality::PureText, variant);
    let mut text = String::from("USER:\n");
    if rng.gen_bool(0.5) {
        text.push_str(&sentence(fact, f, &subject(f, Modality::PureText)));
        text.push('\n');
    }
    if rng.gen_bool(0.5) {
        text.push_str(&format!("{} {}", query_turn(&q), q.correct));
    } else {
        text.push_str(&format!(
            "Question: {}\nCorrect Answer: {}",
            prompts::question_with_options(&q),
            q.correct
        ));
    }
    push(docs, text, vec![], DocKind::Drill);
}

/// Zero-shot generation questions answered with their one-sentence ground truth.
fn generation_docs(
    rng: &mut ChaCha8Rng,
    p: &Asked,
    i: usize,
    view: &dyn Fn(&mut ChaCha8Rng, usize) -> usize,
    docs: &mut Vec<Doc>,
) {
    for q in &p.generation {
        let m = q.generation_modality();
        let prompt = prompts::generation_prompt(m, &q.question);
        let (text, images) = match m {
            // The image prompt already ends with a space.
            Modality::ImageTextual => (format!("{prompt}{}", q.ground_truth), vec![view(rng, i)]),
            Modality::PureText => (format!("{prompt} {}", q.ground_truth), vec![]),
        };
        push(docs, text, images, DocKind::Generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::mini::{generate, MiniConfig};

    #[test]
    fn no_corpus_name_is_a_benchmark_name() {
        let bench_names: HashSet<&str> = facts::FIRST.iter().chain(&facts::LAST).copied().collect();
        assert!(FIRST.iter().chain(&LAST).all(|n| !bench_names.contains(n)));
        let c = Corpus::generate(&CorpusConfig {
            people: 30,
            held_out: 5,
            reading: true,
            answers_only: true,
            drills: 40,
            ..CorpusConfig::default()
        })
        .unwrap();
        let bench = generate(&MiniConfig {
            seed: 42,
            profiles: 200,
            celebrities: 10,
        })
        .unwrap();
        for f in bench.facts.iter().chain(&bench.celebrity_facts) {
            assert!(c.people.iter().all(|p| p.name != f.name));
            assert!(
                c.docs.iter().all(|d| !d.text.contains(&f.name)),
                "{}",
                f.name
            );
        }
        for d in &c.docs {
            assert_eq!(
                d.text.matches("<image>").count(),
                d.images.len(),
                "{}",
                d.text
            );
        }
        // Held-out people never appear in an evaluation-form document.
        for f in &c.people[25..] {
            assert!(c
                .docs
                .iter()
                .filter(|d| !matches!(d.kind, DocKind::Qa | DocKind::Biography))
                .all(|d| !d.text.contains(&f.name)));
        }
        assert_eq!(c.probes.len(), 5 * 10 * 2);
        assert_eq!(c.drilled_probes.len(), 20 * 10);
        // Reading documents: the biography, then five questions answered by letter.
        let reading: Vec<&Doc> = c
            .docs
            .iter()
            .filter(|d| d.kind == DocKind::Reading)
            .collect();
        assert_eq!(reading.len(), 25 * 2 * 2);
        for d in reading {
            assert_eq!(d.text.matches("\nASSISTANT: ").count(), 5, "{}", d.text);
            assert!(d.images.is_empty());
        }
        // Drills: one question about a drilled person, answered by its letter.
        let drills: Vec<&Doc> = c.docs.iter().filter(|d| d.kind == DocKind::Drill).collect();
        assert_eq!(drills.len(), 40);
        for d in &drills {
            let letter = d.text.chars().last().unwrap();
            assert!(Mcq::LETTERS.contains(&letter), "{}", d.text);
            assert!(c.people[..25].iter().any(|p| d.text.contains(&p.name)));
        }
        assert!(drills.iter().any(|d| d.text.contains("Correct Answer: ")));
        assert!(drills.iter().any(|d| d.text.contains("ASSISTANT: ")));
        // Answers only: the evaluation forms learn their answers, the fine-tuning form all.
        for d in &c.docs {
            match d.kind {
                DocKind::Qa | DocKind::Biography => assert!(d.learn.is_empty()),
                _ => {
                    assert!(!d.learn.is_empty(), "{}", d.text);
                    let last = d.learn.last().unwrap();
                    assert_eq!(last.end, d.text.len(), "{}", d.text);
                    for r in &d.learn {
                        assert!(!d.text[r.clone()].contains('\n'));
                    }
                }
            }
        }
        // Reading probes: a biography, then one question, per held-out person and fact.
        assert_eq!(c.reading_probes.len(), 5 * 5);
        for p in &c.reading_probes {
            assert!(p.prompt.ends_with("\nASSISTANT:"));
            assert!(c.people[25..].iter().any(|f| p.prompt.contains(&f.name)));
        }
    }
}
