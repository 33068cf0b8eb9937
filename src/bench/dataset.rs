//! [`Bench`]: one MLLMU-Bench folder opened from disk.

use crate::bench::load::{self, FolderKind};
use crate::bench::parquet::{self, display_name};
use crate::bench::{FtRow, Profile, ProfileId};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The folders `Bench::open` looks for, in the order the hub lists them.
pub const FOLDERS: [&str; 10] = [
    "Full_Set",
    "Test_Set",
    "Retain_Set",
    "forget_5",
    "forget_10",
    "forget_15",
    "retain_95",
    "retain_90",
    "retain_85",
    "ft_Data",
];

/// The forget ratios (percent) the benchmark ships.
pub const FORGET_RATIOS: [u8; 3] = [5, 10, 15];

/// The hub dataset of the benchmark.
pub const DEFAULT_REPO: &str = "MLLMMU/MLLMU-Bench";

const DOWNLOAD_HINT: &str = "download it with `mllmu bench download` (or `Bench::download`), \
or write a synthetic one with `mllmu bench mini DIR`";

/// One evaluation-format folder: its files and profiles in file order.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// Folder name (`Full_Set`, `forget_5`, ...).
    pub name: String,
    /// Its parquet files, in read (sorted) order.
    pub files: Vec<PathBuf>,
    /// The rows, in file order.
    pub profiles: Vec<Profile>,
    index: HashMap<ProfileId, usize>,
}

impl EvalSet {
    fn new(name: &str, files: Vec<PathBuf>, profiles: Vec<Profile>) -> Self {
        let index = profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        EvalSet {
            name: name.to_string(),
            files,
            profiles,
            index,
        }
    }

    /// The profile with this ID.
    pub fn get(&self, id: &str) -> Option<&Profile> {
        self.index.get(id).map(|&i| &self.profiles[i])
    }

    /// The IDs, in row order.
    pub fn ids(&self) -> Vec<ProfileId> {
        self.profiles.iter().map(|p| p.id.clone()).collect()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether the folder has no rows.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

/// One training-format folder (`ft_Data`, or `baseline_train_split`'s `forget_N`/`retain_N`).
#[derive(Debug, Clone)]
pub struct TrainSet {
    /// Folder name.
    pub name: String,
    /// Its parquet files, in read order.
    pub files: Vec<PathBuf>,
    /// The rows, in file order.
    pub rows: Vec<FtRow>,
}

impl TrainSet {
    /// Rows whose ID is in `ids`, in row order (rows without an ID never match).
    pub fn rows_for(&self, ids: &[ProfileId]) -> Vec<FtRow> {
        let wanted: std::collections::HashSet<&str> = ids.iter().map(ProfileId::as_str).collect();
        self.rows
            .iter()
            .filter(|r| r.id.as_ref().is_some_and(|id| wanted.contains(id.as_str())))
            .cloned()
            .collect()
    }
}

/// An opened MLLMU-Bench folder (the hub layout, a `baseline_train_split` folder, or a mini).
///
/// Text columns of every folder are read at open; portraits are read from parquet on first
/// use (see [`Portrait`](crate::bench::Portrait)).
///
/// ```
/// use mllmu::bench::{Bench, MiniConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let cfg = MiniConfig { profiles: 20, celebrities: 4, ..MiniConfig::default() };
/// let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg).unwrap()).unwrap();
/// assert_eq!(bench.full_set().unwrap().len(), 20);
/// assert_eq!(bench.celebrities().unwrap().len(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct Bench {
    root: PathBuf,
    eval: BTreeMap<String, EvalSet>,
    train: BTreeMap<String, TrainSet>,
}

impl Bench {
    /// Opens every known folder present under `dir` (see [`FOLDERS`]); each folder's kind
    /// (evaluation or training format) is told by its columns.
    ///
    /// Errors: the folder or, when any evaluation folder exists, `Full_Set` is missing; a
    /// folder without parquet files; missing columns or wrong types (named with dotted
    /// paths); duplicate IDs; a correct answer outside A-D; malformed `metadata`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Bench> {
        let root = dir.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(Error::MissingFolder {
                path: root,
                hint: DOWNLOAD_HINT.into(),
            });
        }
        let mut bench = Bench {
            root: root.clone(),
            eval: BTreeMap::new(),
            train: BTreeMap::new(),
        };
        for name in FOLDERS {
            let folder = root.join(name);
            if !folder.is_dir() {
                continue;
            }
            let files = parquet::parquet_files(&folder)?;
            let schema = parquet::read_schema(&files[0])?;
            match load::kind_of(&schema, &display_name(&files[0]))? {
                FolderKind::Eval => {
                    let profiles = load::load_eval(name, &files)?;
                    let set = EvalSet::new(name, files, profiles);
                    bench.eval.insert(name.to_string(), set);
                }
                FolderKind::Training => {
                    let rows = load::load_training(name, &files)?;
                    let name = name.to_string();
                    bench
                        .train
                        .insert(name.clone(), TrainSet { name, files, rows });
                }
            }
        }
        if bench.eval.is_empty() && bench.train.is_empty() {
            return Err(Error::MissingFolder {
                path: root.join("Full_Set"),
                hint: format!(
                    "{} holds none of the MLLMU-Bench folders; {DOWNLOAD_HINT}",
                    root.display()
                ),
            });
        }
        if !bench.eval.is_empty() && !bench.eval.contains_key("Full_Set") {
            return Err(Error::MissingFolder {
                path: root.join("Full_Set"),
                hint: DOWNLOAD_HINT.into(),
            });
        }
        Ok(bench)
    }

    /// Downloads a benchmark dataset repository (e.g. [`DEFAULT_REPO`]) into the HF cache and
    /// opens it (feature `hub`; see [`crate::hub`]). Offline, or when the hub is unreachable,
    /// a complete cached snapshot is used. Works inside an async runtime (evcxr) too.
    ///
    /// ```no_run
    /// let bench = mllmu::bench::Bench::download(mllmu::bench::DEFAULT_REPO).unwrap();
    /// println!("{bench}");
    /// ```
    #[cfg(feature = "hub")]
    pub fn download(repo_id: &str) -> Result<Bench> {
        use crate::hub::{snapshot, Fetch, RepoKind};
        Bench::open(snapshot(RepoKind::Dataset, repo_id, Fetch::Download)?)
    }

    /// The folder this was opened from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names of the folders found, in [`FOLDERS`] order.
    pub fn folder_names(&self) -> Vec<&str> {
        FOLDERS
            .iter()
            .copied()
            .filter(|n| self.eval.contains_key(*n) || self.train.contains_key(*n))
            .collect()
    }

    /// An evaluation-format folder by name.
    pub fn set(&self, name: &str) -> Result<&EvalSet> {
        self.eval.get(name).ok_or_else(|| self.missing(name))
    }

    /// A training-format folder by name (`ft_Data`, or `forget_5` in `baseline_train_split`).
    pub fn train_set(&self, name: &str) -> Result<&TrainSet> {
        self.train.get(name).ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> Error {
        let path = self.root.join(name);
        let hint = if self.eval.contains_key(name) {
            format!("{name} is in evaluation format here; training needs `baseline_train_split` or ft_Data")
        } else if self.train.contains_key(name) {
            format!("{name} is in training format here (image + metadata); evaluation needs the MLLMU-Bench folder")
        } else {
            DOWNLOAD_HINT.to_string()
        };
        Error::MissingFolder { path, hint }
    }

    /// `Full_Set`: all fictitious profiles (and the few-shot source).
    pub fn full_set(&self) -> Result<&EvalSet> {
        self.set("Full_Set")
    }

    /// `Test_Set`: the same profiles with paraphrased questions and transformed images.
    pub fn test_set(&self) -> Result<&EvalSet> {
        self.set("Test_Set")
    }

    /// `Retain_Set`: the real (or, in the sample and mini, invented) celebrities.
    pub fn celebrities(&self) -> Result<&EvalSet> {
        self.set("Retain_Set")
    }

    /// `ft_Data`: the fine-tuning rows of the vanilla model.
    pub fn ft_data(&self) -> Result<&TrainSet> {
        self.train_set("ft_Data")
    }

    /// Evaluation folders, by name.
    pub fn eval_sets(&self) -> impl Iterator<Item = &EvalSet> {
        FOLDERS.iter().filter_map(|n| self.eval.get(*n))
    }

    /// Training-format folders, by name.
    pub fn train_sets(&self) -> impl Iterator<Item = &TrainSet> {
        FOLDERS.iter().filter_map(|n| self.train.get(*n))
    }
}
