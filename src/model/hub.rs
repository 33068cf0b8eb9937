//! Where a model comes from: a local llava-hf folder, or (feature `hub`) a hub id such as
//! `llava-hf/llava-1.5-7b-hf` downloaded into the standard Hugging Face cache
//! (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), the same cache
//! Python's `huggingface_hub` uses. A cached model loads offline.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The files of a model repository that loading needs: configs, tokenizer and processor
/// files, and the safetensors weights (single or sharded, with their index).
pub const MODEL_FILE_PATTERNS: [&str; 3] = ["*.json", "*.safetensors", "tokenizer.model"];

/// Whether `spec` has the shape of a hub id: `owner/name` with one slash, each part made of
/// letters, digits, `-`, `_` and `.`, not starting with `.` (so `./dir` and `../dir` are
/// paths).
///
/// ```
/// use mllmu::model::hub::is_hub_id;
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

/// Resolves a `--model` argument to a folder: an existing folder as is, else (feature
/// `hub`) a hub id downloaded or found in the cache.
///
/// Errors: a missing path gives [`Error::MissingFolder`]; a hub id without the `hub`
/// feature says how to rebuild; a failed download gives [`Error::Hub`].
///
/// ```
/// let dir = mllmu::model::hub::resolve_model("tests/fixtures/tiny-llava")?;
/// assert!(dir.join("config.json").is_file());
/// let err = mllmu::model::hub::resolve_model("/no/such/model").unwrap_err();
/// assert!(err.to_string().contains("missing folder /no/such/model"));
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn resolve_model(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        return Err(Error::param(
            "model",
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
    download_model(spec)
}

/// Downloads (or finds in the HF cache) the model files of hub repository `repo_id` and
/// returns the cache snapshot folder. With `HF_HUB_OFFLINE=1` only the cache is used;
/// otherwise the hub is asked first and a complete cached snapshot is the fallback when it
/// cannot be reached. Works from plain code and inside a tokio runtime (evcxr): the
/// download then runs on its own thread.
#[cfg(feature = "hub")]
pub fn download_model(repo_id: &str) -> Result<PathBuf> {
    let offline = std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes" | "ON" | "on"))
        .unwrap_or(false);
    let dir = if offline {
        snapshot(repo_id, true, None)?
    } else {
        match snapshot(repo_id, false, None) {
            Ok(dir) => dir,
            Err(online) => snapshot(repo_id, true, None).map_err(|_| online)?,
        }
    };
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

/// Without the `hub` feature a hub id cannot be resolved: always an error with a hint.
#[cfg(not(feature = "hub"))]
pub fn download_model(repo_id: &str) -> Result<PathBuf> {
    Err(Error::param(
        "model",
        repo_id,
        "is not a folder; hub ids need the `hub` feature\nhint: rebuild with `cargo build --features hub` (or `--features full`), or pass a local model folder",
    ))
}

#[cfg(feature = "hub")]
fn snapshot(repo_id: &str, local_files_only: bool, cache_dir: Option<PathBuf>) -> Result<PathBuf> {
    let hub_err = |reason: String| Error::Hub {
        repo: repo_id.to_string(),
        reason,
    };
    let Some((owner, name)) = repo_id.split_once('/') else {
        return Err(hub_err("expected `owner/name`".into()));
    };
    let (owner, name) = (owner.to_string(), name.to_string());
    let fut = async move {
        let mut builder = hf_hub::HFClient::builder();
        if let Some(dir) = cache_dir {
            builder = builder.cache_dir(dir);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        client
            .model(owner, name)
            .snapshot_download()
            .allow_patterns(MODEL_FILE_PATTERNS.iter().map(|p| p.to_string()).collect())
            .local_files_only(local_files_only)
            .send()
            .await
            .map_err(|e| e.to_string())
    };
    block_on(fut)
        .map_err(hub_err)?
        .map_err(|e| hub_err(if local_files_only {
            format!("not in the local cache: {e}\nhint: run once with network access (without HF_HUB_OFFLINE) to download it")
        } else {
            e
        }))
}

/// Runs a future to completion from synchronous code; inside a tokio runtime (where a
/// nested `block_on` would panic) it runs on a fresh runtime on its own thread.
#[cfg(feature = "hub")]
fn block_on<F>(fut: F) -> std::result::Result<F::Output, String>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let run = move || -> std::result::Result<F::Output, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start an async runtime: {e}"))?;
        Ok(rt.block_on(fut))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::spawn(run)
            .join()
            .map_err(|_| "the download thread panicked".to_string())?
    } else {
        run()
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
        let err = resolve_model("tests/fixtures/tiny-llava/config.json").unwrap_err();
        assert!(err.to_string().contains("is a file"), "{err}");
    }

    #[cfg(feature = "hub")]
    #[test]
    fn offline_lookup_of_an_uncached_id_fails_with_a_hint() {
        // An empty cache folder: only the local lookup runs, no request is made.
        let cache = tempfile::tempdir().unwrap();
        let err = snapshot(
            "mllmu-test/not-cached",
            true,
            Some(cache.path().to_path_buf()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("hub mllmu-test/not-cached"), "{err}");
        assert!(err.contains("not in the local cache"), "{err}");
    }

    #[cfg(feature = "hub")]
    #[test]
    fn a_cached_snapshot_resolves_offline() {
        // The layout huggingface_hub writes: refs/main names the commit of the snapshot.
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--mllmu-test--cached");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        let dir = snapshot("mllmu-test/cached", true, Some(cache.path().to_path_buf())).unwrap();
        assert_eq!(dir, snap);
    }

    #[cfg(feature = "hub")]
    #[test]
    fn block_on_works_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let v = rt.block_on(async { block_on(async { 6 * 7 }) });
        assert_eq!(v.unwrap(), 42);
    }
}
