//! Writing profiles and training rows as parquet in the hub's schema (column order, nested
//! field names, the `huggingface` features metadata that `datasets` reads), atomically.

use crate::bench::arrow_schema::{arrow_schema_value, ARROW_SCHEMA_KEY, HUGGINGFACE_KEY};
use crate::bench::ft::metadata_json;
use crate::bench::{FtRow, Mcq, OpenQuestion, Portrait, Profile};
use crate::{Error, Result};
use polars::prelude::*;
use std::path::Path;

fn polars_err(path: &Path, e: PolarsError) -> Error {
    Error::parquet(path.display().to_string(), e)
}

fn strings<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Series {
    Series::new(name.into(), values.collect::<Vec<&str>>())
}

fn structs(name: &str, len: usize, fields: &[Series]) -> PolarsResult<Series> {
    Ok(StructChunked::from_series(name.into(), len, fields.iter())?.into_series())
}

/// One image struct series `{bytes, path}` from portraits.
fn image_structs(name: &str, images: &[&Portrait]) -> Result<Series> {
    let mut bytes: Vec<Vec<u8>> = Vec::with_capacity(images.len());
    let mut paths: Vec<Option<String>> = Vec::with_capacity(images.len());
    for p in images {
        bytes.push(p.bytes()?.to_vec());
        paths.push(p.path()?);
    }
    let b = Series::new(
        "bytes".into(),
        bytes.iter().map(Vec::as_slice).collect::<Vec<&[u8]>>(),
    );
    let p = Series::new("path".into(), paths);
    structs(name, images.len(), &[b, p]).map_err(|e| polars_err(Path::new(name), e))
}

fn mcq_structs(qs: &[Mcq]) -> PolarsResult<Series> {
    let letters: Vec<String> = qs.iter().map(|q| q.correct.to_string()).collect();
    let opt = |i: usize, l: &str| strings(l, qs.iter().map(|q| q.options[i].as_str()));
    let options = structs(
        "Options",
        qs.len(),
        &[opt(0, "A"), opt(1, "B"), opt(2, "C"), opt(3, "D")],
    )?;
    structs(
        "",
        qs.len(),
        &[
            strings("Correct_Answer", letters.iter().map(String::as_str)),
            options,
            strings("Question", qs.iter().map(|q| q.question.as_str())),
        ],
    )
}

fn open_structs(qs: &[OpenQuestion]) -> PolarsResult<Series> {
    structs(
        "",
        qs.len(),
        &[
            strings("Ground_Truth", qs.iter().map(|q| q.ground_truth.as_str())),
            strings("Question", qs.iter().map(|q| q.question.as_str())),
            strings("Type", qs.iter().map(|q| q.kind.as_str())),
        ],
    )
}

fn list(name: &str, rows: Vec<Series>) -> Series {
    Series::new(name.into(), rows)
}

const VALUE: &str = r#"{"dtype": "string", "_type": "Value"}"#;

fn open_features() -> String {
    format!(r#"[{{"Ground_Truth": {VALUE}, "Question": {VALUE}, "Type": {VALUE}}}]"#)
}

fn mcq_features() -> String {
    format!(
        r#"[{{"Correct_Answer": {VALUE}, "Options": {{"A": {VALUE}, "B": {VALUE}, "C": {VALUE}, "D": {VALUE}}}, "Question": {VALUE}}}]"#
    )
}

/// The `huggingface` metadata of an evaluation file (key order = column order).
fn eval_features(images_column: bool) -> String {
    let image = if images_column {
        r#""images": {"feature": {"_type": "Image"}, "_type": "Sequence"}"#.to_string()
    } else {
        r#""image": {"_type": "Image"}"#.to_string()
    };
    let text: Vec<String> = ["ID", "Directory", "biography", "question", "answer"]
        .iter()
        .map(|c| format!("\"{c}\": {VALUE}"))
        .collect();
    format!(
        r#"{{"info": {{"features": {{{image}, {}, "Classification_Task": {{"Image_Textual_Questions": {m}, "Pure_Text_Questions": {m}}}, "Generation_Task": {o}, "Mask_Task": {o}}}}}}}"#,
        text.join(", "),
        m = mcq_features(),
        o = open_features()
    )
}

/// Writes `df` with the hub's footer: the `ARROW:schema` key (plain types, `features` as its
/// `huggingface` metadata, see [`arrow_schema_value`]) and `features` at file level too.
fn finish(path: &Path, mut df: DataFrame, features: String) -> Result<()> {
    let schema = arrow_schema_value(df.schema(), &features);
    let mut buf: Vec<u8> = Vec::new();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Snappy)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![
            (ARROW_SCHEMA_KEY.into(), schema),
            (HUGGINGFACE_KEY.into(), features),
        ])))
        .set_parallel(false)
        .finish(&mut df)
        .map_err(|e| polars_err(path, e))?;
    crate::io::write_atomic(path, &buf)
}

/// Writes evaluation rows in the hub schema: `image` (or, with `images_column`, the
/// `Test_Set` list `images`), `ID`, `Directory`, `biography`, `question`, `answer`,
/// `Classification_Task`, `Generation_Task`, `Mask_Task`. Absent text fields become nulls.
pub fn write_eval_parquet(path: &Path, profiles: &[Profile], images_column: bool) -> Result<()> {
    let n = profiles.len();
    let err = |e| polars_err(path, e);
    let image = if images_column {
        let rows = profiles
            .iter()
            .map(|p| image_structs("", &p.images.iter().collect::<Vec<_>>()))
            .collect::<Result<Vec<_>>>()?;
        list("images", rows)
    } else {
        let portraits = profiles
            .iter()
            .map(|p| {
                let file = path.display().to_string();
                (p.portrait())
                    .ok_or_else(|| Error::bad_data(file, p.id.as_str(), "has no image to write"))
            })
            .collect::<Result<Vec<_>>>()?;
        image_structs("image", &portraits)?
    };
    let opt = |name: &str, f: &dyn Fn(&Profile) -> Option<&str>| {
        Series::new(name.into(), profiles.iter().map(f).collect::<Vec<_>>())
    };
    let rows = |f: &dyn Fn(&Profile) -> PolarsResult<Series>| {
        profiles
            .iter()
            .map(f)
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(err)
    };
    let it = rows(&|p| mcq_structs(&p.classification.image_textual))?;
    let pt = rows(&|p| mcq_structs(&p.classification.pure_text))?;
    let cls = structs(
        "Classification_Task",
        n,
        &[
            list("Image_Textual_Questions", it),
            list("Pure_Text_Questions", pt),
        ],
    )
    .map_err(err)?;
    let gen = list("Generation_Task", rows(&|p| open_structs(&p.generation))?);
    let mask = list("Mask_Task", rows(&|p| open_structs(&p.cloze))?);
    let columns = vec![
        image,
        strings("ID", profiles.iter().map(|p| p.id.as_str())),
        opt("Directory", &|p| p.directory.as_deref()),
        opt("biography", &|p| p.biography.as_deref()),
        opt("question", &|p| p.question.as_deref()),
        opt("answer", &|p| p.answer.as_deref()),
        cls,
        gen,
        mask,
    ];
    let df = DataFrame::new(n, columns.into_iter().map(Column::from).collect()).map_err(err)?;
    finish(path, df, eval_features(images_column))
}

/// Writes training rows (`ft_Data` schema): `image`, `ID`, `metadata` (ASCII-escaped JSON).
pub fn write_train_parquet(path: &Path, rows: &[FtRow]) -> Result<()> {
    let err = |e| polars_err(path, e);
    let image = image_structs("image", &rows.iter().map(|r| &r.image).collect::<Vec<_>>())?;
    let ids = Series::new(
        "ID".into(),
        rows.iter()
            .map(|r| r.id.as_ref().map(|i| i.as_str()))
            .collect::<Vec<_>>(),
    );
    let meta: Vec<String> = rows.iter().map(|r| metadata_json(&r.pairs)).collect();
    let meta = strings("metadata", meta.iter().map(String::as_str));
    let df =
        DataFrame::new(rows.len(), vec![image.into(), ids.into(), meta.into()]).map_err(err)?;
    let features = format!(
        r#"{{"info": {{"features": {{"image": {{"_type": "Image"}}, "ID": {VALUE}, "metadata": {VALUE}}}}}}}"#
    );
    finish(path, df, features)
}
