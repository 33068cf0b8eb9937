//! Downloading the benchmark from the Hugging Face hub (feature `hub`), into the standard
//! HF cache (`HF_HOME` / `HF_HUB_CACHE`), so files fetched from Python are reused.

use crate::bench::Bench;
use crate::{Error, Result};
use std::future::Future;
use std::path::PathBuf;

/// The hub dataset of the benchmark.
pub const DEFAULT_REPO: &str = "MLLMMU/MLLMU-Bench";

/// Runs a future to completion from synchronous code.
///
/// Inside an existing tokio runtime (evcxr wraps cells in one once any cell awaits) a nested
/// `block_on` would panic, so the future then runs on a fresh runtime on its own thread.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let run = move || -> Result<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Hub {
                repo: String::new(),
                reason: format!("cannot start an async runtime: {e}"),
            })?;
        Ok(rt.block_on(fut))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::spawn(run).join().map_err(|_| Error::Hub {
            repo: String::new(),
            reason: "the download thread panicked".into(),
        })?
    } else {
        run()
    }
}

fn split_repo(repo_id: &str) -> Result<(String, String)> {
    match repo_id.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((owner.to_string(), name.to_string()))
        }
        _ => Err(Error::param(
            "repo id",
            repo_id,
            "expected `owner/name`, e.g. `MLLMMU/MLLMU-Bench`",
        )),
    }
}

fn snapshot(repo_id: &str, local_files_only: bool) -> Result<PathBuf> {
    let (owner, name) = split_repo(repo_id)?;
    let repo = repo_id.to_string();
    let fut = async move {
        let client = hf_hub::HFClient::builder()
            .build()
            .map_err(|e| e.to_string())?;
        client
            .dataset(owner, name)
            .snapshot_download()
            .allow_patterns(vec![
                "**/*.parquet".to_string(),
                "*.parquet".to_string(),
                "README.md".to_string(),
            ])
            .local_files_only(local_files_only)
            .send()
            .await
            .map_err(|e| e.to_string())
    };
    block_on(fut)?.map_err(|reason| Error::Hub { repo, reason })
}

impl Bench {
    /// Downloads a benchmark dataset repository (e.g. [`DEFAULT_REPO`]) into the HF cache and
    /// opens it. Offline, or when the hub is unreachable, a complete cached snapshot is used.
    ///
    /// Works from plain code and inside an async runtime (evcxr).
    ///
    /// ```no_run
    /// let bench = mllmu::bench::Bench::download(mllmu::bench::DEFAULT_REPO).unwrap();
    /// println!("{bench}");
    /// ```
    pub fn download(repo_id: &str) -> Result<Bench> {
        let dir = match snapshot(repo_id, false) {
            Ok(dir) => dir,
            Err(online) => snapshot(repo_id, true).map_err(|_| online)?,
        };
        Bench::open(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_works_inside_and_outside_a_runtime() {
        assert_eq!(block_on(async { 40 + 2 }).unwrap(), 42);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let inside = rt.block_on(async { block_on(async { 7 }) });
        assert_eq!(inside.unwrap(), 7);
    }

    #[test]
    fn repo_ids_are_checked_before_any_request() {
        assert_eq!(
            split_repo("MLLMMU/MLLMU-Bench").unwrap(),
            ("MLLMMU".into(), "MLLMU-Bench".into())
        );
        let err = split_repo("MLLMU-Bench").unwrap_err().to_string();
        assert!(err.contains("invalid repo id = MLLMU-Bench"), "{err}");
        assert!(split_repo("a/b/c").is_err());
    }
}
