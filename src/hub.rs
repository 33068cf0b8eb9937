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
/// paths).
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

/// Resolves a `--model` argument to a folder: an existing folder as is, else (feature `hub`)
/// a hub id, downloaded or found in the cache as `fetch` allows.
///
/// Errors: a missing path gives [`Error::MissingFolder`]; a hub id not in the cache under
/// [`Fetch::CacheOnly`] says so and how to download it; a hub id without the `hub` feature
/// says how to rebuild; a failed download gives [`Error::Hub`].
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
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        return Err(Error::param(
            "--model",
            spec,
            "is a file, expected a llava-hf model folder (config.json, safetensors, tokenizer and processor files)",
        ));
    }
    if !is_hub_id(spec) {
        return Err(Error::MissingFolder {
            path: path.to_path_buf(),
            hint: "pass a llava-hf model folder (config.json, safetensors, tokenizer and processor files) or a hub id like `llava-hf/llava-1.5-7b-hf`".into(),
        });
    }
    model_snapshot(spec, fetch)
}

#[cfg(feature = "hub")]
fn model_snapshot(repo_id: &str, fetch: Fetch) -> Result<PathBuf> {
    let dir = snapshot(RepoKind::Model, repo_id, fetch).map_err(|e| match fetch {
        Fetch::CacheOnly => Error::MissingFolder {
            path: repo_id.into(),
            hint: format!(
                "{repo_id} is neither a folder nor in the local Hugging Face cache ({e}); give a checkpoint folder, or download the model first (e.g. `huggingface-cli download {repo_id}`)"
            ),
        },
        Fetch::Download => e,
    })?;
    if !dir.join("config.json").is_file() {
        return Err(Error::Hub {
            repo: repo_id.to_string(),
            reason: format!(
                "the snapshot {} holds no config.json\nhint: is `{repo_id}` a llava-hf model repository?",
                dir.display()
            ),
        });
    }
    Ok(dir)
}

#[cfg(not(feature = "hub"))]
fn model_snapshot(repo_id: &str, _fetch: Fetch) -> Result<PathBuf> {
    Err(Error::param(
        "--model",
        repo_id,
        "is not a folder; hub ids need the `hub` feature\nhint: rebuild with `cargo build --features hub` (or `--features full`), or pass a local model folder",
    ))
}

/// The cache snapshot folder of hub repository `repo_id` (`owner/name`), holding the files
/// of its [kind](RepoKind), fetched as `fetch` allows.
///
/// ```no_run
/// use mllmu::hub::{snapshot, Fetch, RepoKind};
/// let dir = snapshot(RepoKind::Dataset, "MLLMMU/MLLMU-Bench", Fetch::Download)?;
/// # Ok::<(), mllmu::Error>(())
/// ```
#[cfg(feature = "hub")]
pub fn snapshot(kind: RepoKind, repo_id: &str, fetch: Fetch) -> Result<PathBuf> {
    snapshot_in(kind, repo_id, fetch, None)
}

#[cfg(feature = "hub")]
fn offline_env() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes" | "ON" | "on"))
        .unwrap_or(false)
}

/// [`snapshot`] with an explicit cache folder (tests).
#[cfg(feature = "hub")]
fn snapshot_in(
    kind: RepoKind,
    repo_id: &str,
    fetch: Fetch,
    cache_dir: Option<PathBuf>,
) -> Result<PathBuf> {
    let hub_err = |reason: String| Error::Hub {
        repo: repo_id.to_string(),
        reason,
    };
    let (owner, name) = split_repo_id(repo_id)?;
    let mut builder = hf_hub::HFClient::builder();
    if let Some(dir) = cache_dir {
        builder = builder.cache_dir(dir);
    }
    let client = builder.build().map_err(|e| hub_err(e.to_string()))?;
    let cache = client.cache_dir().to_path_buf();
    let client = hf_hub::HFClientSync::from_inner(client).map_err(|e| hub_err(e.to_string()))?;
    let patterns = match kind {
        RepoKind::Model => &MODEL_FILE_PATTERNS,
        RepoKind::Dataset => &DATASET_FILE_PATTERNS,
    };
    let get = |local_files_only: bool| {
        let allow: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        match kind {
            RepoKind::Model => client
                .model(&owner, &name)
                .snapshot_download()
                .allow_patterns(allow)
                .local_files_only(local_files_only)
                .send(),
            RepoKind::Dataset => client
                .dataset(&owner, &name)
                .snapshot_download()
                .allow_patterns(allow)
                .local_files_only(local_files_only)
                .send(),
        }
    };
    let local = |hint: &str| {
        get(true).map_err(|e| {
            hub_err(format!(
                "not in the local cache {}: {e}{hint}",
                cache.display()
            ))
        })
    };
    match fetch {
        Fetch::Download if offline_env() => {
            local("\nhint: run once with network access (without HF_HUB_OFFLINE) to download it")
        }
        Fetch::Download => {
            get(false).or_else(|online| local("").map_err(|_| hub_err(online.to_string())))
        }
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
        let err = snapshot_in(
            RepoKind::Model,
            "mllmu-test/not-cached",
            Fetch::CacheOnly,
            Some(cache.path().to_path_buf()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("hub mllmu-test/not-cached"), "{err}");
        assert!(err.contains("not in the local cache"), "{err}");
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
        let cache_dir = Some(cache.path().to_path_buf());
        let dir = snapshot_in(
            RepoKind::Model,
            "mllmu-test/cached",
            Fetch::CacheOnly,
            cache_dir,
        )
        .unwrap();
        assert_eq!(dir, snap);
    }

    #[cfg(feature = "hub")]
    #[test]
    fn the_sync_api_works_inside_a_runtime() {
        // evcxr runs every cell inside a tokio runtime once any cell awaited.
        let cache = tempfile::tempdir().unwrap();
        let snap = cached_repo(cache.path(), "datasets--mllmu-test--bench");
        std::fs::write(snap.join("README.md"), "card").unwrap();
        let cache_dir = Some(cache.path().to_path_buf());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let dir = rt.block_on(async {
            snapshot_in(
                RepoKind::Dataset,
                "mllmu-test/bench",
                Fetch::CacheOnly,
                cache_dir,
            )
        });
        assert_eq!(dir.unwrap(), snap);
    }
}
