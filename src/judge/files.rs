//! The reference's files: `*_generation_results.json` in, `*_factuality_score.json` out.

use super::item::{JudgeItem, Judgement, TaskType};
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One input file found by [`discover_inputs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The generation results file.
    pub path: PathBuf,
    /// Its sub-folder relative to the input folder (empty for a file given directly or a
    /// file directly inside the folder); outputs go to the same sub-folder of `--out`.
    pub subdir: PathBuf,
    /// The file name without `.json` (the reference's basename).
    pub stem: String,
    /// The set/mode label of its items: the stem without `_generation_results`, prefixed
    /// with the sub-folder (`"run1/forget"`).
    pub label: String,
}

impl InputFile {
    fn new(path: PathBuf, subdir: PathBuf) -> Self {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mode = stem
            .strip_suffix("_generation_results")
            .unwrap_or(&stem)
            .to_string();
        let label = if subdir.as_os_str().is_empty() {
            mode
        } else {
            format!("{}/{mode}", subdir.to_string_lossy())
        };
        InputFile {
            path,
            subdir,
            stem,
            label,
        }
    }

    /// `{out}/{subdir}/{stem}_factuality_score.json`, the reference's output name.
    pub fn output_path(&self, out: &Path) -> PathBuf {
        out.join(&self.subdir)
            .join(format!("{}_factuality_score.json", self.stem))
    }
}

const MODE_PREFIXES: [&str; 4] = ["forget", "retain_celebrity", "retain_shared", "test"];

fn is_candidate(name: &str) -> bool {
    name.ends_with(".json")
        && !name.contains("_factuality_score")
        && (name.ends_with("_generation_results.json")
            || MODE_PREFIXES.iter().any(|p| name.starts_with(p)))
}

fn candidates(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io("read", dir, e))? {
        let p = e.map_err(|e| Error::io("read", dir, e))?.path();
        if p.is_file() && is_candidate(&p.file_name().unwrap_or_default().to_string_lossy()) {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// The generation files under a path, by the reference's rule: a file is taken as is; a
/// folder that directly holds `forget*`/`retain_celebrity*`/`retain_shared*`/`test*` JSON
/// files (or `*_generation_results.json`) is processed alone, otherwise each of its
/// sub-folders is. `*_factuality_score*` files are skipped. Whether a file really holds
/// generation results is checked when it is read ([`read_generation_file`]).
pub fn discover_inputs(path: &Path) -> Result<Vec<InputFile>> {
    if path.is_file() {
        return Ok(vec![InputFile::new(path.to_path_buf(), PathBuf::new())]);
    }
    if !path.is_dir() {
        return Err(Error::MissingFile {
            path: path.to_path_buf(),
            hint: "pass a *_generation_results.json file or the folder `mllmu eval` wrote".into(),
        });
    }
    let direct = candidates(path)?;
    if !direct.is_empty() {
        return Ok(direct
            .into_iter()
            .map(|p| InputFile::new(p, PathBuf::new()))
            .collect());
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io("read", path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    let mut out = Vec::new();
    for d in subdirs {
        let rel = d.file_name().map(PathBuf::from).unwrap_or_default();
        out.extend(
            candidates(&d)?
                .into_iter()
                .map(|p| InputFile::new(p, rel.clone())),
        );
    }
    Ok(out)
}

fn field(file: &Path, row: usize, obj: &serde_json::Value, name: &str) -> Result<String> {
    let message = match obj.get(name) {
        Some(serde_json::Value::String(s)) => return Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => return Ok(n.to_string()),
        Some(serde_json::Value::Null) | None => format!("missing field `{name}`"),
        Some(other) => format!("field `{name}` is {other}, expected a string"),
    };
    Err(Error::bad_data(
        file.display().to_string(),
        format!("row {row}"),
        message,
    ))
}

/// Reads the items of one reference generation file: `Generation_Questions` (`image_id`,
/// `question type`, `question`, `generated_answer`, `ground_truth`) and the legacy
/// `Description_Questions` (`image_id`, `description_question`, `generated_description`,
/// `ground_truth_description`). `Ok(None)` when the file holds neither list.
pub fn read_generation_file(path: &Path, label: &str) -> Result<Option<Vec<JudgeItem>>> {
    let v: serde_json::Value = crate::io::read_json(path)?;
    let gen = v.get("Generation_Questions");
    let desc = v.get("Description_Questions");
    if gen.is_none() && desc.is_none() {
        return Ok(None);
    }
    let mut items = Vec::new();
    let lists = [
        (
            gen,
            TaskType::Generation,
            "Generation_Questions",
            ["question", "generated_answer", "ground_truth"],
        ),
        (
            desc,
            TaskType::Description,
            "Description_Questions",
            [
                "description_question",
                "generated_description",
                "ground_truth_description",
            ],
        ),
    ];
    for (list, task_type, list_name, [q, a, g]) in lists {
        let Some(list) = list else { continue };
        let rows = list.as_array().ok_or_else(|| Error::Json {
            file: path.display().to_string(),
            reason: format!("`{list_name}` is not a list"),
            source: None,
        })?;
        for (row, obj) in rows.iter().enumerate() {
            let question_type = obj
                .get("question type")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            items.push(JudgeItem {
                task_type,
                profile_id: match obj.get("image_id") {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(_) => field(path, row, obj, "image_id")?,
                },
                question_type,
                question: field(path, row, obj, q)?,
                answer: field(path, row, obj, a)?,
                ground_truth: field(path, row, obj, g)?,
                label: label.to_string(),
            });
        }
    }
    Ok(Some(items))
}

/// One element of the reference's `*_factuality_score.json` list: an item, or the final
/// averages object. Serialised with the reference's keys, in the reference's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FactualityEntry {
    /// One graded item.
    Item {
        /// `"Generation"` or `"Description"`.
        #[serde(rename = "Task Type")]
        task_type: String,
        /// The profile (image) ID.
        #[serde(rename = "Image_ID")]
        image_id: String,
        /// The question.
        #[serde(rename = "Question")]
        question: String,
        /// The score, `null` when the item failed.
        #[serde(rename = "Factuality Score")]
        score: Option<u8>,
        /// The justification, `null` when the item failed.
        #[serde(rename = "Justification")]
        justification: Option<String>,
    },
    /// The last element: means over the scored items of each task type (0 when none).
    Averages {
        /// Mean generation score.
        #[serde(rename = "Average Generation Factuality Score")]
        generation: f64,
        /// Mean description score.
        #[serde(rename = "Average Description Factuality Score")]
        description: f64,
    },
}

/// The reference's output: one entry per item, then the averages (over scored items
/// only, 0 when none).
///
/// ```
/// use mllmu::judge::{reference_output, FactualityEntry, JudgeItem, Judgement};
/// let j = Judgement { item: JudgeItem::generation("forget", "5", "Q", "A", "G"), score: Some(7),
///     justification: Some("ok".into()), failure: None, cached: false, requests: 1,
///     prompt_tokens: 0, completion_tokens: 0 };
/// let v = reference_output(&[j]);
/// assert!(matches!(v[0], FactualityEntry::Item { score: Some(7), .. }));
/// assert_eq!(v[1], FactualityEntry::Averages { generation: 7.0, description: 0.0 });
/// ```
pub fn reference_output(judgements: &[Judgement]) -> Vec<FactualityEntry> {
    let mut rows: Vec<FactualityEntry> = judgements
        .iter()
        .map(|j| FactualityEntry::Item {
            task_type: j.item.task_type.title().to_string(),
            image_id: j.item.profile_id.clone(),
            question: j.item.question.clone(),
            score: j.score,
            justification: j.score.and(j.justification.clone()),
        })
        .collect();
    let avg = |t: TaskType| {
        let s: Vec<u8> = judgements
            .iter()
            .filter(|j| j.item.task_type == t)
            .filter_map(|j| j.score)
            .collect();
        super::report::mean(&s).unwrap_or(0.0)
    };
    rows.push(FactualityEntry::Averages {
        generation: avg(TaskType::Generation),
        description: avg(TaskType::Description),
    });
    rows
}

/// Writes [`reference_output`] atomically (4-space indent, keys in the reference's order).
pub fn write_factuality_scores(path: &Path, judgements: &[Judgement]) -> Result<()> {
    crate::io::write_json(path, &reference_output(judgements))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_lists_and_names_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("forget_generation_results.json");
        std::fs::write(
            &p,
            r#"{"Generation_Questions": [{"image_id": "3", "question type": "Pure_Text",
            "question": "Q", "generated_answer": "A", "ground_truth": "G"}],
            "Description_Questions": [{"image_id": 4, "description_question": "D",
            "generated_description": "GD", "ground_truth_description": "TD"}]}"#,
        )
        .unwrap();
        let items = read_generation_file(&p, "forget").unwrap().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].question_type.as_deref(), Some("Pure_Text"));
        assert_eq!(
            (
                items[1].task_type,
                items[1].profile_id.as_str(),
                items[1].answer.as_str()
            ),
            (TaskType::Description, "4", "GD")
        );
        std::fs::write(
            &p,
            r#"{"Generation_Questions": [{"image_id": "3", "question": "Q", "ground_truth": "G"}]}"#,
        )
        .unwrap();
        let e = read_generation_file(&p, "forget").unwrap_err().to_string();
        assert!(e.contains("row 0") && e.contains("generated_answer"), "{e}");
        std::fs::write(&p, r#"{"Forget Set Results": {}}"#).unwrap();
        assert_eq!(read_generation_file(&p, "forget").unwrap(), None);
    }

    #[test]
    fn discovery_follows_the_reference_rule() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("run1");
        std::fs::create_dir(&sub).unwrap();
        for n in [
            "forget_generation_results.json",
            "test_generation_results.json",
            "forget_generation_results_factuality_score.json",
            "notes.txt",
        ] {
            std::fs::write(sub.join(n), "{}").unwrap();
        }
        let found = discover_inputs(dir.path()).unwrap();
        let labels: Vec<&str> = found.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["run1/forget", "run1/test"]);
        assert_eq!(
            found[0].output_path(Path::new("/o")),
            Path::new("/o/run1/forget_generation_results_factuality_score.json")
        );
        // Files directly in the folder win over sub-folders.
        std::fs::write(
            dir.path().join("retain_shared_generation_results.json"),
            "{}",
        )
        .unwrap();
        let found = discover_inputs(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "retain_shared");
        assert!(discover_inputs(&dir.path().join("nope")).is_err());
    }
}
