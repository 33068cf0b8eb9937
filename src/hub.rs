//! The Hugging Face hub, in one place: hub ids, and (feature `hub`) snapshots of model and
//! dataset repositories in the standard cache (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`), the same cache Python's `huggingface_hub` uses, so files
//! fetched from Python are reused and a cached repository loads offline.
//!
//! Everything runs on hf-hub's blocking client, which keeps its runtime on a thread of its
//! own: the functions here work from plain code and inside a tokio runtime alike (evcxr
//! wraps cells in one once any cell awaits).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The files of a model repository that loading needs: configs, tokenizer and processor
/// files, and the safetensors weights (single or sharded, with their index).
pub const MODEL_FILE_PATTERNS: [&str; 3] = ["*.json", "*.safetensors", "tokenizer.model"];

/// The files a tokenizer and image processor need (no weights): what `--processor-from`
/// fetches from a base model.
pub const PROCESSOR_FILE_PATTERNS: [&str; 2] = ["*.json", "tokenizer.model"];

/// The files of a benchmark dataset repository: its parquet files and card.
pub const DATASET_FILE_PATTERNS: [&str; 3] = ["**/*.parquet", "*.parquet", "README.md"];

/// The kind of a hub repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// A model (`llava-hf/llava-1.5-7b-hf`): [`MODEL_FILE_PATTERNS`].
    Model,
    /// A dataset (`MLLMMU/MLLMU-Bench`): [`DATASET_FILE_PATTERNS`].
    Dataset,
}

impl RepoKind {
    /// The files a snapshot of this kind holds.
    ///
    /// ```
    /// use mllmu::hub::RepoKind;
    /// assert!(RepoKind::Model.patterns().contains(&"*.safetensors"));
    /// ```
    pub fn patterns(self) -> &'static [&'static str] {
        match self {
            RepoKind::Model => &MODEL_FILE_PATTERNS,
            RepoKind::Dataset => &DATASET_FILE_PATTERNS,
        }
    }
}

/// Where a snapshot may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// Ask the hub; a complete cached snapshot is the fallback when it cannot be reached.
    /// `HF_HUB_OFFLINE=1` turns this into [`Fetch::CacheOnly`].
    Download,
    /// The local cache only: no request is made.
    CacheOnly,
}

/// Whether `spec` has the shape of a hub id: `owner/name` with one slash, each part made of
/// letters, digits, `-`, `_` and `.`, not starting with `.` (so `./dir` and `../dir` are
/// paths). A revision suffix (`owner/name@rev`) is not part of the id: see [`split_revision`].
///
/// ```
/// use mllmu::hub::is_hub_id;
/// assert!(is_hub_id("llava-hf/llava-1.5-7b-hf"));
/// assert!(!is_hub_id("/abs/path"));
/// assert!(!is_hub_id("./models/tiny"));
/// assert!(!is_hub_id("a/b/c"));
/// assert!(!is_hub_id("tiny-llava"));
/// ```
pub fn is_hub_id(spec: &str) -> bool {
    let Some((owner, name)) = spec.split_once('/') else {
        return false;
    };
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    part_ok(owner) && part_ok(name)
}

/// Splits `owner/name@revision` into the id and the revision (a branch, tag or commit);
/// without `@` the revision is `None` (the `main` branch).
///
/// ```
/// use mllmu::hub::split_revision;
/// assert_eq!(split_revision("llava-hf/llava-1.5-7b-hf@v2"), ("llava-hf/llava-1.5-7b-hf", Some("v2")));
/// assert_eq!(split_revision("llava-hf/llava-1.5-7b-hf"), ("llava-hf/llava-1.5-7b-hf", None));
/// ```
pub fn split_revision(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once('@') {
        Some((id, rev)) if !rev.is_empty() => (id, Some(rev)),
        _ => (spec, None),
    }
}

/// What is being resolved: the flag named in errors, where the repository lives, which files
/// it needs, and one file that must be there (the last two only read with the `hub` feature).
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
struct Target<'a> {
    flag: &'a str,
    kind: RepoKind,
    patterns: &'a [&'a str],
    required: Option<&'a str>,
    what: &'a str,
}

/// Resolves `spec` for `target`: an existing folder as is, else (feature `hub`) a hub id
/// with an optional `@revision`, downloaded or found in the cache as `fetch` allows.
fn resolve(spec: &str, target: &Target, fetch: Fetch) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        return Err(Error::param(
            target.flag,
            spec,
            format!("is a file, expected {}", target.what),
        ));
    }
    let (id, _) = split_revision(spec);
    if !is_hub_id(id) {
        return Err(Error::MissingFolder {
            path: path.to_path_buf(),
            hint: format!(
                "pass {} or a hub id like `{}` (optionally `@revision`)",
                target.what,
                match target.kind {
                    RepoKind::Model => "llava-hf/llava-1.5-7b-hf",
                    RepoKind::Dataset => "MLLMMU/MLLMU-Bench",
                }
            ),
        });
    }
    hub_snapshot(spec, target, fetch)
}

/// Resolves a `--model` argument to a folder: an existing folder as is, else (feature `hub`)
/// a hub id with an optional `@revision` (`llava-hf/llava-1.5-7b-hf@main`), downloaded into
/// the shared cache or found there as `fetch` allows. Every command and the notebooks use it.
///
/// Errors: a missing path gives [`Error::MissingFolder`]; a hub id not in the cache under
/// [`Fetch::CacheOnly`] (or offline) says so and how to download it; a hub id without the
/// `hub` feature says how to rebuild; a failed download gives [`Error::Hub`].
///
/// ```
/// use mllmu::hub::{resolve_model, Fetch};
/// let dir = resolve_model("tests/fixtures/tiny-llava", Fetch::CacheOnly)?;
/// assert!(dir.join("config.json").is_file());
/// let err = resolve_model("/no/such/model", Fetch::Download).unwrap_err();
/// assert!(err.to_string().contains("missing folder /no/such/model"));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn resolve_model(spec: &str, fetch: Fetch) -> Result<PathBuf> {
    let target = Target {
        flag: "--model",
        kind: RepoKind::Model,
        patterns: &MODEL_FILE_PATTERNS,
        required: Some("config.json"),
        what: "a llava-hf model folder (config.json, safetensors, tokenizer and processor files)",
    };
    resolve(spec, &target, fetch)
}

/// Resolves a `--processor-from` argument (a base model whose tokenizer and processor files
/// a weight-only checkpoint borrows): a folder, or a hub id with an optional `@revision` of
/// which only the JSON files ([`PROCESSOR_FILE_PATTERNS`]) are fetched, never the weights.
///
/// ```
/// use mllmu::hub::{resolve_processor, Fetch};
/// let dir = resolve_processor("tests/fixtures/tiny-llava", Fetch::CacheOnly)?;
/// assert!(dir.join("tokenizer.json").is_file());
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn resolve_processor(spec: &str, fetch: Fetch) -> Result<PathBuf> {
    let target = Target {
        flag: "--processor-from",
        kind: RepoKind::Model,
        patterns: &PROCESSOR_FILE_PATTERNS,
        required: Some("tokenizer_config.json"),
        what: "a model folder holding tokenizer.json, tokenizer_config.json and preprocessor_config.json",
    };
    resolve(spec, &target, fetch)
}

/// Resolves a `--bench` argument: a benchmark folder as is, else (feature `hub`) a hub id
/// with an optional `@revision` whose parquet files are fetched from a repository of kind
/// `kind`. A `datasets/` or `models/` prefix overrides `kind`: the reference's
/// `baseline_train_split` lives in a *model* repository
/// (`models/MLLMMU/baseline_train_split`).
///
/// ```
/// use mllmu::hub::{resolve_bench, Fetch, RepoKind};
/// let dir = resolve_bench("tests/fixtures/mllmu-sample", RepoKind::Dataset, Fetch::CacheOnly)?;
/// assert!(dir.is_dir());
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn resolve_bench(spec: &str, kind: RepoKind, fetch: Fetch) -> Result<PathBuf> {
    let (kind, id) = if Path::new(spec).exists() {
        (kind, spec)
    } else if let Some(id) = spec.strip_prefix("models/") {
        (RepoKind::Model, id)
    } else if let Some(id) = spec.strip_prefix("datasets/") {
        (RepoKind::Dataset, id)
    } else {
        (kind, spec)
    };
    let target = Target {
        flag: "--bench",
        kind,
        patterns: &DATASET_FILE_PATTERNS,
        required: None,
        what: "an MLLMU-Bench folder (Full_Set, forget_N, ... or baseline_train_split's forget_N/retain_N)",
    };
    resolve(id, &target, fetch)
}

#[cfg(feature = "hub")]
fn hub_snapshot(spec: &str, target: &Target, fetch: Fetch) -> Result<PathBuf> {
    let repo_id = split_revision(spec).0;
    let dir = snapshot_in(target.kind, spec, target.patterns, fetch, None).map_err(|e| {
        let download = match fetch {
            Fetch::Download if !offline_env() => "the download failed too; check the id and your network (a gated model needs `huggingface-cli login`)",
            _ => "download it with network access (without HF_HUB_OFFLINE)",
        };
        Error::MissingFolder {
            path: spec.into(),
            hint: format!(
                "{spec} is neither a folder nor in the local Hugging Face cache ({}); give a local folder, or {download} (or `huggingface-cli download {}{repo_id}`)",
                e.to_string().replace('\n', " "),
                if target.kind == RepoKind::Dataset { "--repo-type dataset " } else { "" }
            ),
        }
    })?;
    if let Some(file) = target.required {
        if !dir.join(file).is_file() {
            return Err(Error::Hub {
                repo: repo_id.to_string(),
                reason: format!(
                    "the snapshot {} holds no {file}\nhint: is `{repo_id}` {}?",
                    dir.display(),
                    target.what
                ),
                source: None,
            });
        }
    }
    Ok(dir)
}

#[cfg(not(feature = "hub"))]
fn hub_snapshot(spec: &str, target: &Target, _fetch: Fetch) -> Result<PathBuf> {
    Err(Error::param(
        target.flag,
        spec,
        format!("is not a folder; hub ids need the `hub` feature\nhint: rebuild with `cargo build --features hub` (or `--features full`), or pass {}", target.what),
    ))
}

/// The cache snapshot folder of hub repository `repo_id` (`owner/name`, optionally
/// `@revision`), holding the files of its [kind](RepoKind), fetched as `fetch` allows.
///
/// ```no_run
/// use mllmu::hub::{snapshot, Fetch, RepoKind};
/// let dir = snapshot(RepoKind::Dataset, "MLLMMU/MLLMU-Bench", Fetch::Download)?;
/// # Ok::<(), mllmu::Error>(())
/// ```
#[cfg(feature = "hub")]
pub fn snapshot(kind: RepoKind, repo_id: &str, fetch: Fetch) -> Result<PathBuf> {
    snapshot_in(kind, repo_id, kind.patterns(), fetch, None)
}

#[cfg(feature = "hub")]
fn offline_env() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes" | "ON" | "on"))
        .unwrap_or(false)
}

/// [`snapshot`] with explicit file patterns and cache folder (tests).
#[cfg(feature = "hub")]
fn snapshot_in(
    kind: RepoKind,
    spec: &str,
    patterns: &[&str],
    fetch: Fetch,
    cache_dir: Option<PathBuf>,
) -> Result<PathBuf> {
    let (repo_id, revision) = split_revision(spec);
    let hub_err = |reason: String, e: hf_hub::HFError| Error::Hub {
        repo: spec.to_string(),
        reason,
        source: Some(Box::new(e)),
    };
    let (owner, name) = split_repo_id(repo_id)?;
    let mut builder = hf_hub::HFClient::builder();
    if let Some(dir) = cache_dir {
        builder = builder.cache_dir(dir);
    }
    let client = builder.build().map_err(|e| Error::hub(spec, e))?;
    let cache = client.cache_dir().to_path_buf();
    let client = hf_hub::HFClientSync::from_inner(client).map_err(|e| Error::hub(spec, e))?;
    let get = |local_files_only: bool| {
        let allow: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        let rev = revision.map(str::to_string);
        let kind = match kind {
            RepoKind::Model => hf_hub::RepoTypeAny::Model,
            RepoKind::Dataset => hf_hub::RepoTypeAny::Dataset,
        };
        client
            .repository(kind, &owner, &name)
            .snapshot_download()
            .allow_patterns(allow)
            .maybe_revision(rev)
            .local_files_only(local_files_only)
            .progress(crate::hub_progress::DownloadProgress::new(
                spec,
                !local_files_only,
            ))
            .send()
    };
    let local = |hint: &str| {
        get(true).map_err(|e| {
            hub_err(
                format!("not in the local cache {}: {e}{hint}", cache.display()),
                e,
            )
        })
    };
    match fetch {
        Fetch::Download if offline_env() => {
            local("\nhint: run once with network access (without HF_HUB_OFFLINE) to download it")
        }
        Fetch::Download => get(false).or_else(|online| {
            local("").map_err(|_| {
                hub_err(
                    format!(
                        "{online}; not in the local cache {} either",
                        cache.display()
                    ),
                    online,
                )
            })
        }),
        Fetch::CacheOnly => local(""),
    }
}

/// Splits `owner/name`, rejecting anything else before a request is made.
#[cfg(feature = "hub")]
fn split_repo_id(repo_id: &str) -> Result<(String, String)> {
    match repo_id.split_once('/') {
        Some((owner, name)) if is_hub_id(repo_id) => Ok((owner.to_string(), name.to_string())),
        _ => Err(Error::param(
            "repo id",
            repo_id,
            "expected `owner/name`, e.g. `MLLMMU/MLLMU-Bench`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_and_paths_are_told_apart() {
        assert!(is_hub_id("owner/name_1.5"));
        for not_id in ["", "/", "a/", "/b", "a b/c", "../x", "a/.hidden", "C:\\x"] {
            assert!(!is_hub_id(not_id), "{not_id:?}");
        }
    }

    #[test]
    fn a_file_is_not_a_model_folder() {
        let err =
            resolve_model("tests/fixtures/tiny-llava/config.json", Fetch::Download).unwrap_err();
        assert!(err.to_string().contains("is a file"), "{err}");
    }

    #[cfg(feature = "hub")]
    #[test]
    fn repo_ids_are_checked_before_any_request() {
        assert_eq!(
            split_repo_id("MLLMMU/MLLMU-Bench").unwrap(),
            ("MLLMMU".into(), "MLLMU-Bench".into())
        );
        let err = split_repo_id("MLLMU-Bench").unwrap_err().to_string();
        assert!(err.contains("invalid repo id = MLLMU-Bench"), "{err}");
        assert!(split_repo_id("a/b/c").is_err());
    }

    #[cfg(feature = "hub")]
    #[test]
    fn offline_lookup_of_an_uncached_id_fails_with_a_hint() {
        // An empty cache folder: only the local lookup runs, no request is made.
        let cache = tempfile::tempdir().unwrap();
        let err = cache_only(RepoKind::Model, "mllmu-test/not-cached", cache.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("hub mllmu-test/not-cached"), "{err}");
        assert!(err.contains("not in the local cache"), "{err}");
    }

    /// [`snapshot_in`] of `kind`'s files under `cache`, without a request.
    #[cfg(feature = "hub")]
    fn cache_only(kind: RepoKind, id: &str, cache: &Path) -> Result<PathBuf> {
        let cache = Some(cache.to_path_buf());
        snapshot_in(kind, id, kind.patterns(), Fetch::CacheOnly, cache)
    }

    /// The layout huggingface_hub writes: refs/main names the commit of the snapshot.
    #[cfg(feature = "hub")]
    fn cached_repo(cache: &Path, folder: &str) -> PathBuf {
        let repo = cache.join(folder);
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        snap
    }

    #[cfg(feature = "hub")]
    #[test]
    fn a_cached_snapshot_resolves_offline() {
        let cache = tempfile::tempdir().unwrap();
        let snap = cached_repo(cache.path(), "models--mllmu-test--cached");
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        let dir = cache_only(RepoKind::Model, "mllmu-test/cached", cache.path()).unwrap();
        assert_eq!(dir, snap);
    }

    #[cfg(feature = "hub")]
    #[test]
    fn the_sync_api_works_inside_a_runtime() {
        // evcxr runs every cell inside a tokio runtime once any cell awaited.
        let cache = tempfile::tempdir().unwrap();
        let snap = cached_repo(cache.path(), "datasets--mllmu-test--bench");
        std::fs::write(snap.join("README.md"), "card").unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let dir =
            rt.block_on(async { cache_only(RepoKind::Dataset, "mllmu-test/bench", cache.path()) });
        assert_eq!(dir.unwrap(), snap);
    }
}
