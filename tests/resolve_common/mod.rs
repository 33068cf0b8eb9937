//! Shared by the resolver tests: the fixture, a weight-only copy of it, a fake Hugging Face
//! cache laid out as hf-hub writes it, and the binary run offline against that cache.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fixture folder.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Copies the files of `from` (not sub-folders) into `to`, except those in `skip`.
pub fn copy_files(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_file() && !skip.contains(&name.as_str()) {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dst = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &dst);
        } else {
            std::fs::copy(&path, dst).unwrap();
        }
    }
}

/// The files reference checkpoints lack.
pub const PROCESSOR_FILES: [&str; 3] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
];

/// A copy of tiny-llava holding config and weights only, as the reference scripts save.
pub fn weight_only_copy(dir: &Path) -> PathBuf {
    let mut skip = PROCESSOR_FILES.to_vec();
    skip.extend(["special_tokens_map.json", "processor_config.json"]);
    copy_files(&fixture("tiny-llava"), dir, &skip);
    dir.to_path_buf()
}

/// A commit hash for fake snapshots.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Lays `files` (a folder) out in the hf-hub cache `cache` as repository `folder`
/// (`models--org--name`), at [`COMMIT`], with `refs/<r>` naming it for each of `refs`.
pub fn cache_repo(cache: &Path, folder: &str, files: &Path, refs: &[&str]) -> PathBuf {
    let repo = cache.join(folder);
    let snap = repo.join("snapshots").join(COMMIT);
    copy_tree(files, &snap);
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    for r in refs {
        std::fs::write(repo.join("refs").join(r), COMMIT).unwrap();
    }
    snap
}

/// Runs the binary offline, with `HF_HOME`/`HF_HUB_CACHE` pointing at `home` (and
/// `home/hub`).
pub fn mllmu_with_cache(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(args)
        .env("HF_HOME", home)
        .env("HF_HUB_CACHE", home.join("hub"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run mllmu")
}

/// `mllmu generate --json` on the reference image, greedy, `extra` arguments appended.
pub fn generate(home: &Path, model: &str, extra: &[&str]) -> Output {
    let image = fixture("tiny-llava/reference/ref_image.png");
    let mut args = vec![
        "generate",
        "--model",
        model,
        "--image",
        image.to_str().unwrap(),
        "--prompt",
        "USER: <image>\nWho is this?\nASSISTANT:",
        "--max-new-tokens",
        "5",
        "--json",
        "--device",
        "cpu",
    ];
    args.extend_from_slice(extra);
    mllmu_with_cache(home, &args)
}

/// Stdout of a run that must succeed.
pub fn ok_stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Stderr of a run that must fail.
pub fn err_stderr(o: &Output) -> String {
    assert!(!o.status.success(), "unexpected success");
    String::from_utf8_lossy(&o.stderr).into_owned()
}
