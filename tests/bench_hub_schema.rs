//! The mini benchmark's parquet files carry the hub's footer: an `ARROW:schema` whose field
//! types and `huggingface` features metadata equal those of the real dataset's files (the
//! fixture `mllmu-sample` holds them as the hub serves them), so that pyarrow and `datasets`
//! read `Image` / `Sequence(Image)` features rather than plain `{bytes, path}` structs.

use base64::Engine;
use mllmu::bench::mini::{self, MiniConfig};
use polars::io::SerReader;
use polars::prelude::ParquetReader;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema};
use polars_arrow::io::ipc::read::deserialize_schema;
use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mllmu-sample");

/// The footer's key-value metadata of a parquet file.
fn footer(path: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = ParquetReader::new(file);
    let meta = reader.get_metadata().unwrap();
    meta.key_value_metadata
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|kv| (kv.key, kv.value.unwrap_or_default()))
        .collect()
}

fn value<'a>(kv: &'a [(String, String)], key: &str, path: &Path) -> &'a str {
    kv.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{} has no {key} footer key", path.display()))
}

/// The Arrow schema and its `huggingface` metadata (parsed JSON) from `ARROW:schema`.
fn arrow_schema(path: &Path) -> (ArrowSchema, serde_json::Value) {
    let kv = footer(path);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value(&kv, "ARROW:schema", path))
        .unwrap();
    assert_eq!(
        bytes[..4],
        [0xFF; 4],
        "legacy IPC framing in {}",
        path.display()
    );
    let (schema, _, metadata) = deserialize_schema(&bytes[8..]).unwrap();
    let metadata = metadata.unwrap_or_else(|| panic!("{}: schema has no metadata", path.display()));
    let features = metadata
        .get("huggingface")
        .unwrap_or_else(|| panic!("{}: no huggingface schema metadata", path.display()));
    // The file-level key carries the same features (pyarrow writes both).
    let file_level: serde_json::Value =
        serde_json::from_str(value(&kv, "huggingface", path)).unwrap();
    let features: serde_json::Value = serde_json::from_str(features).unwrap();
    assert_eq!(features, file_level, "{}", path.display());
    (schema, features)
}

/// Field name and type, with nested field names, for a comparison that ignores nullability
/// (pyarrow marks every field nullable, polars' list items are too).
fn shape(dtype: &ArrowDataType) -> String {
    match dtype {
        ArrowDataType::List(f) => format!("list<{}>", shape(&f.dtype)),
        ArrowDataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name, shape(&f.dtype)))
                .collect();
            format!("struct<{}>", inner.join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn shapes(schema: &ArrowSchema) -> Vec<String> {
    schema
        .iter_values()
        .map(|f| format!("{}: {}", f.name, shape(&f.dtype)))
        .collect()
}

fn parquet_of(dir: &Path, split: &str) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(split))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files.remove(0)
}

#[test]
fn mini_parquet_files_carry_the_hubs_arrow_schema_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MiniConfig {
        seed: 3,
        profiles: 20,
        celebrities: 2,
    };
    let root = mini::write(dir.path(), &cfg).unwrap();
    // Every folder the mini benchmark writes, `ft_Data` included.
    for split in mllmu::bench::FOLDERS {
        let ours = parquet_of(&root, split);
        let hub = parquet_of(Path::new(FIXTURE), split);
        let (our_schema, our_features) = arrow_schema(&ours);
        let (hub_schema, hub_features) = arrow_schema(&hub);
        assert_eq!(our_features, hub_features, "{split}: huggingface features");
        assert_eq!(
            shapes(&our_schema),
            shapes(&hub_schema),
            "{split}: Arrow field types"
        );
    }
    // The features name the portrait columns as images, as `datasets` needs them.
    let (_, full) = arrow_schema(&parquet_of(&root, "Full_Set"));
    assert_eq!(full["info"]["features"]["image"]["_type"], "Image");
    let (_, test) = arrow_schema(&parquet_of(&root, "Test_Set"));
    assert_eq!(test["info"]["features"]["images"]["_type"], "Sequence");
    assert_eq!(
        test["info"]["features"]["images"]["feature"]["_type"],
        "Image"
    );
    // And mllmu reads its own files back.
    let bench = mllmu::bench::Bench::open(&root).unwrap();
    assert_eq!(bench.full_set().unwrap().len(), 20);
}
