//! Reading the hub's parquet files with polars (eager): file listing, schema checks with
//! dotted column names, and typed extraction of strings, structs and lists.

use crate::{Error, Result};
use polars::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The type a column (or nested field) must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// UTF-8 string.
    Str,
    /// Binary.
    Binary,
    /// A struct holding at least these fields (extra fields are ignored).
    Struct(&'static [(&'static str, Expect)]),
    /// A list of the inner type.
    List(&'static Expect),
}

const OPTIONS: Expect = Expect::Struct(&[
    ("A", Expect::Str),
    ("B", Expect::Str),
    ("C", Expect::Str),
    ("D", Expect::Str),
]);
const MCQ: Expect = Expect::Struct(&[
    ("Correct_Answer", Expect::Str),
    ("Options", OPTIONS),
    ("Question", Expect::Str),
]);
/// `Classification_Task`.
pub(crate) const CLASSIFICATION: Expect = Expect::Struct(&[
    ("Image_Textual_Questions", Expect::List(&MCQ)),
    ("Pure_Text_Questions", Expect::List(&MCQ)),
]);
const OPEN: Expect = Expect::Struct(&[
    ("Ground_Truth", Expect::Str),
    ("Question", Expect::Str),
    ("Type", Expect::Str),
]);
/// `Generation_Task` and `Mask_Task`.
pub(crate) const OPEN_LIST: Expect = Expect::List(&OPEN);
/// The hub's `Image` feature.
pub(crate) const IMAGE: Expect =
    Expect::Struct(&[("bytes", Expect::Binary), ("path", Expect::Str)]);
/// The hub's `Sequence(Image)` feature.
pub(crate) const IMAGES: Expect = Expect::List(&IMAGE);

impl Expect {
    /// A readable description, e.g. `list<struct{bytes: binary, path: string}>`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Expect::Str => "string".into(),
            Expect::Binary => "binary".into(),
            Expect::Struct(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(n, t)| format!("{n}: {}", t.describe()))
                    .collect();
                format!("struct{{{}}}", inner.join(", "))
            }
            Expect::List(inner) => format!("list<{}>", inner.describe()),
        }
    }

    /// Checks `dtype` against this expectation; errors name the dotted column path.
    pub(crate) fn check(&self, dtype: &DataType, file: &str, column: &str) -> Result<()> {
        let wrong = || Error::WrongType {
            file: file.to_string(),
            column: column.to_string(),
            expected: self.describe(),
            found: dtype.to_string(),
        };
        match (self, dtype) {
            (Expect::Str, DataType::String) | (Expect::Binary, DataType::Binary) => Ok(()),
            (Expect::Struct(want), DataType::Struct(have)) => {
                for (name, t) in want.iter() {
                    let dotted = format!("{column}.{name}");
                    let field = have
                        .iter()
                        .find(|f| f.name().as_str() == *name)
                        .ok_or_else(|| Error::MissingColumn {
                            file: file.to_string(),
                            column: dotted.clone(),
                        })?;
                    t.check(field.dtype(), file, &dotted)?;
                }
                Ok(())
            }
            // A wrong element type is reported for the whole list (`list[str]`, expected
            // `list<struct{...}>`); missing or mistyped struct fields keep their dotted name.
            (Expect::List(inner), DataType::List(have)) => match inner.check(have, file, column) {
                Err(Error::WrongType { column: c, .. }) if c == column => Err(wrong()),
                other => other,
            },
            _ => Err(wrong()),
        }
    }
}

/// The `*.parquet` files of a folder in sorted file-name order; an error if there are none.
pub(crate) fn parquet_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io("read", folder, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io("read", folder, e))?.path();
        if path.extension().is_some_and(|x| x == "parquet") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::MissingFile {
            path: folder.join("train-00000-of-00001.parquet"),
            hint: format!(
                "the folder {} holds no .parquet file; download the dataset again",
                folder.display()
            ),
        });
    }
    Ok(files)
}

/// A file name relative to the benchmark root, for messages (`Full_Set/train-...parquet`).
pub(crate) fn display_name(path: &Path) -> String {
    let mut parts: Vec<String> = path
        .iter()
        .rev()
        .take(2)
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

fn parquet_err(file: &str, e: PolarsError) -> Error {
    Error::parquet(file.to_string(), e)
}

/// The polars schema of a parquet file (reads the footer only).
pub(crate) fn read_schema(path: &Path) -> Result<Schema> {
    let name = display_name(path);
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut reader = ParquetReader::new(f);
    let arrow = reader.schema().map_err(|e| parquet_err(&name, e))?;
    Ok(arrow
        .iter()
        .map(|(n, f)| Field::new(n.clone(), DataType::from_arrow_field(f)))
        .collect())
}

/// Reads only `columns` of a parquet file.
pub(crate) fn read_columns(path: &Path, columns: &[&str]) -> Result<DataFrame> {
    let name = display_name(path);
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    ParquetReader::new(f)
        .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .finish()
        .map_err(|e| parquet_err(&name, e))
}

/// [`Error::WrongType`] for series `s`, which is not of type `expected`.
fn wrong_type(s: &Series, file: &str, column: &str, expected: &str) -> Error {
    Error::WrongType {
        file: file.into(),
        column: column.into(),
        expected: expected.into(),
        found: s.dtype().to_string(),
    }
}

/// Column `name` as optional strings, one per row.
pub(crate) fn strings(s: &Series, file: &str, name: &str) -> Result<Vec<Option<String>>> {
    let ca = s.str().map_err(|_| wrong_type(s, file, name, "string"))?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// Field `field` of a struct series.
pub(crate) fn field(s: &Series, file: &str, column: &str, field: &str) -> Result<Series> {
    let missing = || Error::MissingColumn {
        file: file.into(),
        column: format!("{column}.{field}"),
    };
    let st = s.struct_().map_err(|_| missing())?;
    st.field_by_name(field).map_err(|_| missing())
}

/// A list column split into its flat inner values and one range per row (`None` for null).
pub(crate) fn list_rows(
    s: &Series,
    file: &str,
    column: &str,
) -> Result<(Series, Vec<Option<Range<usize>>>)> {
    let ca = s.list().map_err(|_| wrong_type(s, file, column, "list"))?;
    let ca = ca.rechunk();
    let inner = ca.get_inner();
    if ca.is_empty() {
        return Ok((inner, Vec::new()));
    }
    let arr = ca.downcast_as_array();
    let ranges = (0..ca.len())
        .map(|i| {
            let valid = arr.validity().is_none_or(|v| v.get_bit(i));
            valid.then(|| {
                let (start, end) = arr.offsets().start_end(i);
                start..end
            })
        })
        .collect();
    Ok((inner, ranges))
}

/// Encoded bytes and the `path` field of one image struct.
#[derive(Debug, Clone)]
pub(crate) struct ImageCell {
    pub(crate) bytes: Option<Arc<[u8]>>,
    pub(crate) path: Option<String>,
}

/// Reads the image column of a file: one list of cells per row (one cell for `image`).
pub(crate) fn read_image_column(path: &Path, column: &'static str) -> Result<Vec<Vec<ImageCell>>> {
    let file = display_name(path);
    let df = read_columns(path, &[column])?;
    let col = df.column(column).map_err(|_| Error::MissingColumn {
        file: file.clone(),
        column: column.into(),
    })?;
    let s = col.as_materialized_series();
    let (structs, ranges): (Series, Vec<Option<Range<usize>>>) = if column == "images" {
        list_rows(s, &file, column)?
    } else {
        (s.clone(), (0..s.len()).map(|i| Some(i..i + 1)).collect())
    };
    let cells = image_cells(&structs, &file, column)?;
    Ok(ranges
        .into_iter()
        .map(|r| r.map(|r| cells[r].to_vec()).unwrap_or_default())
        .collect())
}

/// Image structs `{bytes, path}` to cells (a null struct gives a cell without bytes).
fn image_cells(s: &Series, file: &str, column: &str) -> Result<Vec<ImageCell>> {
    let bytes = field(s, file, column, "bytes")?;
    let paths = field(s, file, column, "path")?;
    let bin = bytes
        .binary()
        .map_err(|_| wrong_type(&bytes, file, &format!("{column}.bytes"), "binary"))?;
    let paths = strings(&paths, file, &format!("{column}.path"))?;
    let valid: Vec<bool> = match s.struct_() {
        Ok(st) => st
            .is_not_null()
            .iter()
            .map(|b| b.unwrap_or(false))
            .collect(),
        Err(_) => vec![true; s.len()],
    };
    Ok(bin
        .iter()
        .zip(paths)
        .zip(valid)
        .map(|((b, p), ok)| ImageCell {
            bytes: if ok { b.map(Arc::<[u8]>::from) } else { None },
            path: if ok { p } else { None },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_type_errors_name_the_dotted_field() {
        let dtype = DataType::List(Box::new(DataType::Struct(vec![
            Field::new("Ground_Truth".into(), DataType::String),
            Field::new("Question".into(), DataType::Int64),
            Field::new("Type".into(), DataType::String),
        ])));
        let err = OPEN_LIST
            .check(&dtype, "f.parquet", "Mask_Task")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `Mask_Task.Question`") && err.contains("expected string"),
            "{err}"
        );

        let dtype = DataType::Struct(vec![Field::new("bytes".into(), DataType::Binary)]);
        let err = IMAGE
            .check(&dtype, "f.parquet", "image")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "f.parquet: missing column `image.path`");
        assert!(IMAGE
            .check(&DataType::String, "f", "image")
            .unwrap_err()
            .to_string()
            .contains("struct{bytes: binary"));
    }

    #[test]
    fn display_name_keeps_folder_and_file() {
        assert_eq!(
            display_name(Path::new("/a/b/Full_Set/train.parquet")),
            "Full_Set/train.parquet"
        );
    }
}
