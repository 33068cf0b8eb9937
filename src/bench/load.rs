//! Turning one folder's parquet files into typed rows.
//!
//! Text columns are read at open. `image` columns are read on first use (one per file,
//! shared by its portraits); `images` lists (`Test_Set`) are read at open, because only the
//! data says how many images a row holds, and kept for later decoding.

use crate::bench::parquet::{self, display_name, Expect, CLASSIFICATION, IMAGE, IMAGES, OPEN_LIST};
use crate::bench::portrait::ImageShard;
use crate::bench::{
    parse_metadata, Classification, FtRow, Mcq, OpenQuestion, Portrait, Profile, ProfileId,
};
use crate::{Error, Result};
use polars::prelude::{DataFrame, Schema, Series};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a folder holds, decided by its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FolderKind {
    /// Evaluation format: `Classification_Task`, `Generation_Task`, `Mask_Task`.
    Eval,
    /// Training format: `image` + `metadata` (`ft_Data`, `baseline_train_split`).
    Training,
}

/// Decides the kind of a file from its columns.
pub(crate) fn kind_of(schema: &Schema, file: &str) -> Result<FolderKind> {
    if schema.get("Classification_Task").is_some() {
        Ok(FolderKind::Eval)
    } else if schema.get("metadata").is_some() {
        Ok(FolderKind::Training)
    } else {
        Err(Error::MissingColumn {
            file: file.to_string(),
            column: "Classification_Task".into(),
        })
    }
}

fn require(schema: &Schema, file: &str, column: &str, expect: Expect) -> Result<()> {
    let dtype = schema.get(column).ok_or_else(|| Error::MissingColumn {
        file: file.to_string(),
        column: column.to_string(),
    })?;
    expect.check(dtype, file, column)
}

fn optional(schema: &Schema, file: &str, column: &str, expect: Expect) -> Result<bool> {
    match schema.get(column) {
        Some(dtype) => expect.check(dtype, file, column).map(|_| true),
        None => Ok(false),
    }
}

fn series<'a>(df: &'a DataFrame, file: &str, column: &str) -> Result<&'a Series> {
    df.column(column)
        .map(|c| c.as_materialized_series())
        .map_err(|_| Error::MissingColumn {
            file: file.to_string(),
            column: column.to_string(),
        })
}

/// Tracks IDs across the files of one folder and rejects duplicates.
struct IdCheck {
    folder: String,
    seen: HashMap<String, usize>,
}

impl IdCheck {
    fn new(folder: &str) -> Self {
        IdCheck {
            folder: folder.to_string(),
            seen: HashMap::new(),
        }
    }

    fn add(&mut self, id: &str, row: usize) -> Result<()> {
        if let Some(&first) = self.seen.get(id) {
            return Err(Error::DuplicateId {
                file: self.folder.clone(),
                id: id.to_string(),
                first,
                second: row,
            });
        }
        self.seen.insert(id.to_string(), row);
        Ok(())
    }
}

/// The IDs of a file: a null ID is an error naming the row.
fn ids(df: &DataFrame, file: &str, first_row: usize) -> Result<Vec<String>> {
    let raw = parquet::strings(series(df, file, "ID")?, file, "ID")?;
    raw.into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| Error::bad_data(file, format!("row {}", first_row + i), "`ID` is null"))
        })
        .collect()
}

/// Loads an evaluation-format folder (`name` is used in messages).
pub(crate) fn load_eval(name: &str, files: &[PathBuf]) -> Result<Vec<Profile>> {
    let mut out = Vec::new();
    let mut check = IdCheck::new(name);
    for path in files {
        let first_row = out.len();
        let rows = load_eval_file(path, first_row)?;
        for (i, p) in rows.iter().enumerate() {
            check.add(p.id.as_str(), first_row + i)?;
        }
        out.extend(rows);
    }
    Ok(out)
}

fn load_eval_file(path: &Path, first_row: usize) -> Result<Vec<Profile>> {
    let file = display_name(path);
    let schema = parquet::read_schema(path)?;
    require(&schema, &file, "ID", Expect::Str)?;
    require(&schema, &file, "Classification_Task", CLASSIFICATION)?;
    require(&schema, &file, "Generation_Task", OPEN_LIST)?;
    require(&schema, &file, "Mask_Task", OPEN_LIST)?;
    let has_images = optional(&schema, &file, "images", IMAGES)?;
    let has_image = optional(&schema, &file, "image", IMAGE)?;
    if !has_image && !has_images {
        return Err(Error::MissingColumn {
            file,
            column: "image".into(),
        });
    }
    let mut columns = vec!["ID", "Classification_Task", "Generation_Task", "Mask_Task"];
    let text_cols = ["Directory", "biography", "question", "answer"];
    for c in text_cols {
        if optional(&schema, &file, c, Expect::Str)? {
            columns.push(c);
        }
    }
    let df = parquet::read_columns(path, &columns)?;
    let ids = ids(&df, &file, first_row)?;
    let n = ids.len();
    let text = |c: &str| -> Result<Vec<Option<String>>> {
        match df.column(c) {
            Ok(col) => parquet::strings(col.as_materialized_series(), &file, c),
            Err(_) => Ok(vec![None; n]),
        }
    };
    let (directory, biography, question, answer) = (
        text("Directory")?,
        text("biography")?,
        text("question")?,
        text("answer")?,
    );
    let cls = series(&df, &file, "Classification_Task")?;
    let image_textual = mcq_lists(cls, &file, "Image_Textual_Questions", &ids)?;
    let pure_text = mcq_lists(cls, &file, "Pure_Text_Questions", &ids)?;
    let open = |c: &str| open_lists(series(&df, &file, c)?, &file, c, &ids);
    let (generation, cloze) = (open("Generation_Task")?, open("Mask_Task")?);

    let image_shard = has_image.then(|| Arc::new(ImageShard::new(path.to_path_buf(), "image")));
    let (images_shard, counts) = if has_images {
        let cells = parquet::read_image_column(path, "images")?;
        let counts: Vec<usize> = cells.iter().map(Vec::len).collect();
        let shard = ImageShard::loaded(path.to_path_buf(), "images", cells);
        (Some(Arc::new(shard)), counts)
    } else {
        (None, vec![1; n])
    };

    let mut out = Vec::with_capacity(n);
    let mut iter = directory
        .into_iter()
        .zip(biography)
        .zip(question)
        .zip(answer);
    let mut cls_iter = image_textual
        .into_iter()
        .zip(pure_text)
        .zip(generation)
        .zip(cloze);
    for (row, id) in ids.into_iter().enumerate() {
        let (((directory, biography), question), answer) = iter.next().unwrap_or_default();
        let (((it, pt), generation), cloze) = cls_iter.next().unwrap_or_default();
        let image = image_shard
            .as_ref()
            .map(|s| Portrait::lazy(s.clone(), row, 0, &id));
        let images = match &images_shard {
            Some(s) => (0..counts.get(row).copied().unwrap_or(0))
                .map(|k| Portrait::lazy(s.clone(), row, k, &id))
                .collect(),
            None => image.iter().cloned().collect(),
        };
        out.push(Profile {
            id: ProfileId(id),
            image,
            images,
            directory,
            biography,
            question,
            answer,
            classification: Classification {
                image_textual: it,
                pure_text: pt,
            },
            generation,
            cloze,
        });
    }
    Ok(out)
}

/// Strings of a struct field, a null being an error naming the question.
fn required_strings(
    inner: &Series,
    file: &str,
    column: &str,
    name: &str,
) -> Result<Vec<Option<String>>> {
    let f = parquet::field(inner, file, column, name)?;
    parquet::strings(&f, file, &format!("{column}.{name}"))
}

/// Row `i` (question `k` of profile `id`) of a required field, or an error naming the null.
fn cell(
    v: &[Option<String>],
    i: usize,
    file: &str,
    id: &str,
    column: &str,
    k: usize,
    name: &str,
) -> Result<String> {
    let message = || format!("{column} question {} has a null `{name}`", k + 1);
    (v.get(i).cloned().flatten()).ok_or_else(|| Error::bad_data(file, id, message()))
}

/// One list of multiple-choice questions per row.
fn mcq_lists(cls: &Series, file: &str, key: &str, ids: &[String]) -> Result<Vec<Vec<Mcq>>> {
    let column = format!("Classification_Task.{key}");
    let list = parquet::field(cls, file, "Classification_Task", key)?;
    let (inner, ranges) = parquet::list_rows(&list, file, &column)?;
    let question = required_strings(&inner, file, &column, "Question")?;
    let correct = required_strings(&inner, file, &column, "Correct_Answer")?;
    let options = parquet::field(&inner, file, &column, "Options")?;
    let opt_col = format!("{column}.Options");
    let letters: Vec<Vec<Option<String>>> = ["A", "B", "C", "D"]
        .iter()
        .map(|l| required_strings(&options, file, &opt_col, l))
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, range) in ids.iter().zip(ranges) {
        let mut qs = Vec::new();
        for (k, i) in range.unwrap_or(0..0).enumerate() {
            let get = |v: &[Option<String>], name: &str| cell(v, i, file, id, &column, k, name);
            let raw = get(&correct, "Correct_Answer")?;
            let letter = match raw.trim() {
                l @ ("A" | "B" | "C" | "D") => l.chars().next().unwrap_or('A'),
                other => {
                    return Err(Error::bad_data(file, id, format!(
                        "{column} question {}: correct answer `{other}` is not among the options A-D",
                        k + 1
                    )))
                }
            };
            let opt = |j: usize, name: &str| get(&letters[j], &format!("Options.{name}"));
            qs.push(Mcq {
                question: get(&question, "Question")?,
                options: [opt(0, "A")?, opt(1, "B")?, opt(2, "C")?, opt(3, "D")?],
                correct: letter,
            });
        }
        out.push(qs);
    }
    Ok(out)
}

/// One list of open questions per row (`Generation_Task` / `Mask_Task`).
fn open_lists(
    list: &Series,
    file: &str,
    column: &str,
    ids: &[String],
) -> Result<Vec<Vec<OpenQuestion>>> {
    let (inner, ranges) = parquet::list_rows(list, file, column)?;
    let question = required_strings(&inner, file, column, "Question")?;
    let truth = required_strings(&inner, file, column, "Ground_Truth")?;
    let kind = required_strings(&inner, file, column, "Type")?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, range) in ids.iter().zip(ranges) {
        let mut qs = Vec::new();
        for (k, i) in range.unwrap_or(0..0).enumerate() {
            let get = |v: &[Option<String>], name: &str| cell(v, i, file, id, column, k, name);
            qs.push(OpenQuestion {
                question: get(&question, "Question")?,
                ground_truth: get(&truth, "Ground_Truth")?,
                // The reference compares `Type` with two strings; a null matches neither.
                kind: kind.get(i).cloned().flatten().unwrap_or_default(),
            });
        }
        out.push(qs);
    }
    Ok(out)
}

/// Loads a training-format folder (`ft_Data` or `baseline_train_split`'s `forget_N`).
pub(crate) fn load_training(name: &str, files: &[PathBuf]) -> Result<Vec<FtRow>> {
    let mut out = Vec::new();
    let mut check = IdCheck::new(name);
    for path in files {
        let file = display_name(path);
        let schema = parquet::read_schema(path)?;
        require(&schema, &file, "image", IMAGE)?;
        require(&schema, &file, "metadata", Expect::Str)?;
        let has_id = optional(&schema, &file, "ID", Expect::Str)?;
        let mut columns = vec!["metadata"];
        if has_id {
            columns.push("ID");
        }
        let df = parquet::read_columns(path, &columns)?;
        let first_row = out.len();
        let metadata = parquet::strings(series(&df, &file, "metadata")?, &file, "metadata")?;
        let ids: Vec<Option<String>> = if has_id {
            ids(&df, &file, first_row)?.into_iter().map(Some).collect()
        } else {
            vec![None; metadata.len()]
        };
        let shard = Arc::new(ImageShard::new(path.to_path_buf(), "image"));
        for (row, (meta, id)) in metadata.into_iter().zip(ids).enumerate() {
            let label = id
                .clone()
                .unwrap_or_else(|| format!("row {}", first_row + row));
            if let Some(id) = &id {
                check.add(id, first_row + row)?;
            }
            let meta = meta.ok_or_else(|| Error::bad_data(&file, &label, "`metadata` is null"))?;
            let (pairs, skipped_pairs) = parse_metadata(&meta, &file, &label)?;
            out.push(FtRow {
                id: id.map(ProfileId),
                image: Portrait::lazy(shard.clone(), row, 0, &label),
                pairs,
                skipped_pairs,
            });
        }
    }
    Ok(out)
}
