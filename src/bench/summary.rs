//! Counts per folder: rows, profiles, images and questions per task and modality.

use crate::bench::{Bench, EvalSet, Modality, TrainSet};
use crate::display::{html_block, print_evcxr, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Questions of one task, per modality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModalityCounts {
    /// `Image_Textual` questions.
    pub image_textual: usize,
    /// `Pure_Text` questions (generation: every type other than `Image_Textual`).
    pub pure_text: usize,
    /// Questions whose `Type` is neither known value (generation counts them as pure text
    /// too; cloze skips them). Always 0 for classification.
    pub other: usize,
}

impl ModalityCounts {
    /// The count for one modality.
    pub fn get(&self, m: Modality) -> usize {
        match m {
            Modality::ImageTextual => self.image_textual,
            Modality::PureText => self.pure_text,
        }
    }
}

/// Counts of one evaluation-format folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalCounts {
    /// Rows.
    pub rows: usize,
    /// Distinct profile IDs.
    pub profiles: usize,
    /// Images (a `Test_Set` row holds several).
    pub images: usize,
    /// Multiple-choice questions.
    pub classification: ModalityCounts,
    /// Generation questions.
    pub generation: ModalityCounts,
    /// Fill-in-the-blank questions.
    pub cloze: ModalityCounts,
}

/// Counts of one training-format folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainCounts {
    /// Rows.
    pub rows: usize,
    /// Images (one per row).
    pub images: usize,
    /// Usable QA pairs.
    pub qa_pairs: usize,
    /// Pairs skipped for an empty question or answer.
    pub skipped_pairs: usize,
}

/// The counts of one folder, by format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FolderCounts {
    /// Evaluation format.
    Eval(EvalCounts),
    /// Training format.
    Train(TrainCounts),
}

/// Counts per folder of a [`Bench`]; serialises as `{"folders": {"<folder>": {...}}}`.
///
/// ```
/// use mllmu::bench::{Bench, MiniConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let cfg = MiniConfig { profiles: 20, celebrities: 3, ..MiniConfig::default() };
/// let s = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg).unwrap()).unwrap().summary();
/// let full = s.eval("Full_Set").unwrap();
/// assert_eq!(full.classification.image_textual, 20 * 5);
/// assert!(s.to_string().contains("Full_Set"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The folder it was computed from.
    #[serde(skip)]
    pub root: String,
    /// Counts per folder name (a sorted map in JSON; [`Summary::order`] keeps hub order).
    pub folders: BTreeMap<String, FolderCounts>,
    /// Folder names in the hub's order.
    #[serde(skip)]
    pub order: Vec<String>,
}

fn count_eval(set: &EvalSet) -> EvalCounts {
    let mut c = EvalCounts {
        rows: set.len(),
        ..EvalCounts::default()
    };
    let ids: std::collections::HashSet<&str> = set.profiles.iter().map(|p| p.id.as_str()).collect();
    c.profiles = ids.len();
    for p in &set.profiles {
        c.images += p.images.len();
        c.classification.image_textual += p.classification.image_textual.len();
        c.classification.pure_text += p.classification.pure_text.len();
        for q in &p.generation {
            match q.generation_modality() {
                Modality::ImageTextual => c.generation.image_textual += 1,
                Modality::PureText => c.generation.pure_text += 1,
            }
            c.generation.other += usize::from(q.modality().is_none());
        }
        for q in &p.cloze {
            match q.cloze_modality() {
                Some(Modality::ImageTextual) => c.cloze.image_textual += 1,
                Some(Modality::PureText) => c.cloze.pure_text += 1,
                None => c.cloze.other += 1,
            }
        }
    }
    c
}

fn count_train(set: &TrainSet) -> TrainCounts {
    TrainCounts {
        rows: set.rows.len(),
        images: set.rows.len(),
        qa_pairs: set.rows.iter().map(|r| r.pairs.len()).sum(),
        skipped_pairs: set.rows.iter().map(|r| r.skipped_pairs).sum(),
    }
}

impl Bench {
    /// Counts per folder (no image is read or decoded).
    pub fn summary(&self) -> Summary {
        let eval = self
            .eval_sets()
            .map(|s| (s.name.clone(), FolderCounts::Eval(count_eval(s))));
        let train = self
            .train_sets()
            .map(|s| (s.name.clone(), FolderCounts::Train(count_train(s))));
        Summary {
            root: self.root().display().to_string(),
            folders: eval.chain(train).collect(),
            order: self.folder_names().into_iter().map(String::from).collect(),
        }
    }

    /// The summary as HTML (see [`Summary::to_html`]).
    pub fn to_html(&self) -> String {
        self.summary().to_html()
    }

    /// Shows the summary table in a notebook cell (one `text/html` block).
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.summary().fmt(f)
    }
}

impl Summary {
    /// Counts of an evaluation-format folder.
    pub fn eval(&self, folder: &str) -> Option<&EvalCounts> {
        match self.folders.get(folder) {
            Some(FolderCounts::Eval(c)) => Some(c),
            _ => None,
        }
    }

    /// Counts of a training-format folder.
    pub fn train(&self, folder: &str) -> Option<&TrainCounts> {
        match self.folders.get(folder) {
            Some(FolderCounts::Train(c)) => Some(c),
            _ => None,
        }
    }

    /// Folder names in hub order (falls back to the map's order).
    fn names(&self) -> Vec<&str> {
        if self.order.len() == self.folders.len() {
            self.order.iter().map(String::as_str).collect()
        } else {
            self.folders.keys().map(String::as_str).collect()
        }
    }

    /// The text tables: evaluation folders, then training folders.
    pub fn tables(&self) -> Vec<Table> {
        let mut eval = Table::new(
            format!("MLLMU-Bench {}: evaluation folders", self.root),
            [
                "folder",
                "rows",
                "profiles",
                "images",
                "cls img",
                "cls text",
                "gen img",
                "gen text",
                "cloze img",
                "cloze text",
            ],
        );
        let mut train = Table::new(
            "training folders",
            ["folder", "rows", "images", "qa pairs", "skipped pairs"],
        );
        for name in self.names() {
            match self.folders.get(name) {
                Some(FolderCounts::Eval(c)) => eval.push([
                    name.to_string(),
                    c.rows.to_string(),
                    c.profiles.to_string(),
                    c.images.to_string(),
                    c.classification.image_textual.to_string(),
                    c.classification.pure_text.to_string(),
                    c.generation.image_textual.to_string(),
                    c.generation.pure_text.to_string(),
                    c.cloze.image_textual.to_string(),
                    c.cloze.pure_text.to_string(),
                ]),
                Some(FolderCounts::Train(c)) => train.push([
                    name.to_string(),
                    c.rows.to_string(),
                    c.images.to_string(),
                    c.qa_pairs.to_string(),
                    c.skipped_pairs.to_string(),
                ]),
                None => {}
            }
        }
        [eval, train]
            .into_iter()
            .filter(|t| !t.rows.is_empty())
            .collect()
    }

    /// One HTML block with the tables.
    pub fn to_html(&self) -> String {
        html_block(&self.tables().iter().map(Table::to_html).collect::<Vec<_>>())
    }

    /// Shows the tables in a notebook cell (one `text/html` block).
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables: Vec<String> = self.tables().iter().map(Table::to_string).collect();
        write!(f, "{}", tables.join("\n"))
    }
}
