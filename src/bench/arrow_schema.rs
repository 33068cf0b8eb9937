//! The `ARROW:schema` footer key of the parquet files mllmu writes, shaped as the hub's files
//! carry it: plain `string` / `binary` / `list` types (not polars' view and large types) and the
//! `huggingface` features JSON as schema metadata. pyarrow (and so `datasets`) takes a file's
//! Arrow schema, metadata included, from this key alone; with it, `datasets.load_dataset
//! ("parquet", ...)` gives the real dataset's features (`Image`, `Sequence(Image)`, ...) rather
//! than plain `{bytes, path}` structs.

use base64::Engine;
use polars::prelude::*;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field, Metadata};
use polars_arrow::io::ipc::write::{default_ipc_fields, schema_to_bytes};

/// The parquet footer key pyarrow reads the Arrow schema from.
pub(crate) const ARROW_SCHEMA_KEY: &str = "ARROW:schema";
/// The schema-metadata key `datasets` reads its features from.
pub(crate) const HUGGINGFACE_KEY: &str = "huggingface";

/// `dtype` with the hub's (pyarrow's default) types: `large_*` and view types become plain.
fn hub_dtype(dtype: ArrowDataType) -> ArrowDataType {
    use ArrowDataType as D;
    match dtype {
        D::LargeUtf8 | D::Utf8View => D::Utf8,
        D::LargeBinary | D::BinaryView => D::Binary,
        D::LargeList(f) | D::List(f) => D::List(Box::new(hub_field(*f))),
        D::Struct(fields) => D::Struct(fields.into_iter().map(hub_field).collect()),
        other => other,
    }
}

fn hub_field(field: Field) -> Field {
    let dtype = hub_dtype(field.dtype.clone());
    Field { dtype, ..field }
}

/// The base64 value of the `ARROW:schema` key for `schema`, with `features` (the
/// `{"info": {"features": ...}}` JSON) as its `huggingface` metadata: the legacy IPC
/// encapsulation (`0xFFFFFFFF`, the length, the flatbuffer) that pyarrow writes and reads.
pub(crate) fn arrow_schema_value(schema: &Schema, features: &str) -> String {
    let arrow: ArrowSchema = schema
        .to_arrow(CompatLevel::oldest())
        .iter_values()
        .map(|f| hub_field(f.clone()))
        .map(|f| (f.name.clone(), f))
        .collect();
    let mut metadata = Metadata::new();
    metadata.insert(HUGGINGFACE_KEY.into(), features.into());
    let message = schema_to_bytes(
        &arrow,
        &default_ipc_fields(arrow.iter_values()),
        Some(&metadata),
    );
    let mut framed = Vec::with_capacity(message.len() + 8);
    framed.extend_from_slice(&[0xFF; 4]);
    framed.extend_from_slice(&(message.len() as u32).to_le_bytes());
    framed.extend_from_slice(&message);
    base64::engine::general_purpose::STANDARD.encode(framed)
}
