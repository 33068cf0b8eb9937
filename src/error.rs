//! The one error type of mllmu.
//!
//! Every variant names what the user sees (a file, a column, a profile ID, a parameter) and
//! its message ends, where useful, with a `hint:` line saying how to fix it.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The underlying error of a failure, kept as its [`source`](std::error::Error::source).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in mllmu.
///
/// ```
/// let err = mllmu::Error::MissingColumn { file: "Full_Set/train.parquet".into(), column: "ID".into() };
/// assert!(err.to_string().contains("column `ID`"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// What was attempted ("read", "write", "create", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A folder the benchmark layout requires does not exist.
    #[error("missing folder {}\nhint: {hint}", path.display())]
    MissingFolder {
        /// The folder expected.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A file the layout requires does not exist.
    #[error("missing file {}\nhint: {hint}", path.display())]
    MissingFile {
        /// The file expected.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A table lacks a column.
    #[error("{file}: missing column `{column}`")]
    MissingColumn {
        /// The file (or folder) read.
        file: String,
        /// The column name (dotted for nested fields).
        column: String,
    },
    /// A column or field has an unexpected type.
    #[error("{file}: column `{column}` has type {found}, expected {expected}")]
    WrongType {
        /// The file read.
        file: String,
        /// The column name (dotted for nested fields).
        column: String,
        /// The expected type.
        expected: String,
        /// The type found.
        found: String,
    },
    /// A value in the data is invalid (bad answer letter, empty ID, malformed JSON, ...).
    #[error("{file}: profile {profile}: {message}")]
    BadData {
        /// The file read.
        file: String,
        /// The profile ID (or row number when the ID is unknown).
        profile: String,
        /// What is wrong.
        message: String,
    },
    /// An image could not be decoded.
    #[error("{file}: profile {profile}: cannot decode image `{column}`: {reason}")]
    Image {
        /// The file read.
        file: String,
        /// The profile ID.
        profile: String,
        /// The column holding the image.
        column: String,
        /// The decoder's message.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// Two rows share one profile ID.
    #[error("{file}: duplicate profile ID {id} (rows {first} and {second})")]
    DuplicateId {
        /// The file read.
        file: String,
        /// The ID.
        id: String,
        /// The first row holding it.
        first: usize,
        /// The second row holding it.
        second: usize,
    },
    /// A profile ID referenced by one set is missing from another.
    #[error("profile {id} of {from} is absent from {missing_in}")]
    UnknownProfile {
        /// The ID.
        id: String,
        /// The set that references it.
        from: String,
        /// The set that should hold it.
        missing_in: String,
    },
    /// Parquet decoding failed.
    #[error("{file}: cannot read parquet: {reason}")]
    Parquet {
        /// The file read.
        file: String,
        /// The decoder's message.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// JSON could not be parsed or has the wrong shape.
    #[error("{file}: invalid JSON: {reason}")]
    Json {
        /// The file (or a description of the input).
        file: String,
        /// The parser's message.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// A model or processor configuration value is missing or unsupported.
    #[error("{file}: field `{field}`: {reason}")]
    Config {
        /// The config file.
        file: String,
        /// The dotted field name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Checkpoint tensors are missing, unexpected or mis-shaped.
    #[error("{dir}: checkpoint does not match the model:\n{details}")]
    Weights {
        /// The checkpoint folder or file.
        dir: String,
        /// One line per problem tensor.
        details: String,
    },
    /// The tokenizer could not be loaded or failed.
    #[error("tokenizer {file}: {reason}")]
    Tokenizer {
        /// The tokenizer file.
        file: String,
        /// The cause.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// A parameter given by the caller is out of range or inconsistent.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter name as the user wrote it.
        name: String,
        /// The value given.
        value: String,
        /// Why it is rejected (and how to fix it).
        reason: String,
    },
    /// Training diverged.
    #[error("loss became {value} at step {step}; last good checkpoint: {checkpoint}")]
    NonFiniteLoss {
        /// The optimiser step.
        step: usize,
        /// The printed loss value (NaN or inf).
        value: String,
        /// Where the last good weights were saved.
        checkpoint: String,
    },
    /// Downloading from the Hugging Face hub failed.
    #[error("hub {repo}: {reason}")]
    Hub {
        /// The repository id.
        repo: String,
        /// The cause.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// The factuality judge failed as a whole (single items failing are recorded, not raised).
    #[error("judge: {0}")]
    Judge(String),
    /// Plotting failed.
    #[error("plot: {0}")]
    Plot(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A DataFrame operation failed (building a table from results).
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// A run was stopped on request (a step budget or a stop condition) before it finished.
    #[error("stopped at step {step} on request; resume from {checkpoint}")]
    Stopped {
        /// The last completed step.
        step: usize,
        /// Where the run can be resumed from.
        checkpoint: String,
    },
    /// A cache (generations, judge scores) is inconsistent with what it should hold.
    #[error("cache {}: {message}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it (and how to fix it).
        message: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// [`Error::Json`] for a failure `e` of the JSON parser or writer on `file`, kept as the
    /// source.
    ///
    /// ```
    /// let e = serde_json::from_str::<u32>("x").unwrap_err();
    /// let err = mllmu::Error::json("config.json", e);
    /// assert!(std::error::Error::source(&err).is_some());
    /// assert!(err.to_string().starts_with("config.json: invalid JSON: "));
    /// ```
    pub fn json(file: impl Into<String>, e: impl Into<Cause>) -> Self {
        let e = e.into();
        Error::Json {
            file: file.into(),
            reason: e.to_string(),
            source: Some(e),
        }
    }

    /// [`Error::Tokenizer`] for a failure `e` of the tokenizer of `file`, kept as the source.
    pub fn tokenizer(file: impl Into<String>, e: impl Into<Cause>) -> Self {
        let e = e.into();
        Error::Tokenizer {
            file: file.into(),
            reason: e.to_string(),
            source: Some(e),
        }
    }

    /// [`Error::Hub`] for a failure `e` of the hub client on `repo`, kept as the source.
    pub fn hub(repo: impl Into<String>, e: impl Into<Cause>) -> Self {
        let e = e.into();
        Error::Hub {
            repo: repo.into(),
            reason: e.to_string(),
            source: Some(e),
        }
    }

    /// [`Error::Parquet`] for a failure `e` of the parquet reader or writer on `file`, kept as
    /// the source.
    pub fn parquet(file: impl Into<String>, e: impl Into<Cause>) -> Self {
        let e = e.into();
        Error::Parquet {
            file: file.into(),
            reason: e.to_string(),
            source: Some(e),
        }
    }

    /// Shorthand for [`Error::BadData`]: `message` about `profile` (an ID or a row) of `file`.
    pub fn bad_data(
        file: impl Into<String>,
        profile: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::BadData {
            file: file.into(),
            profile: profile.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Rejects a parameter that is not a finite number > 0 (a learning rate, a temperature, a
/// norm bound), naming it as the user wrote it.
///
/// ```
/// use mllmu::error::check_positive;
/// assert!(check_positive("--lr", 1e-4).is_ok());
/// let err = check_positive("npo.beta", f64::NAN).unwrap_err().to_string();
/// assert!(err.contains("npo.beta") && err.contains("must be a finite number > 0"));
/// assert!(check_positive("max_grad_norm", 0.0).is_err());
/// ```
pub fn check_positive(name: &str, value: f64) -> Result<()> {
    if !(value > 0.0 && value.is_finite()) {
        return Err(Error::param(name, value, "must be a finite number > 0"));
    }
    Ok(())
}
