//! One resolver for every command: `--model`, `--processor-from` and `--bench` take a folder
//! or a hub id with an optional `@revision`, found offline in a fake Hugging Face cache
//! (`HF_HOME`/`HF_HUB_CACHE` at a temp folder laid out as hf-hub writes it); never the
//! network (`HF_HUB_OFFLINE=1`).

#![cfg(feature = "hub")]

mod resolve_common;

use resolve_common::*;

/// A cache with `org/tiny` (the full fixture, refs main and v1), `org/tiny-bare` (weights
/// only), the sample benchmark as dataset `org/sample` and as model repository `org/split`.
fn fake_cache() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let hub = home.path().join("hub");
    let tmp = tempfile::tempdir().unwrap();
    cache_repo(
        &hub,
        "models--org--tiny",
        &fixture("tiny-llava"),
        &["main", "v1"],
    );
    let bare = weight_only_copy(&tmp.path().join("bare"));
    cache_repo(&hub, "models--org--tiny-bare", &bare, &["main"]);
    cache_repo(
        &hub,
        "datasets--org--sample",
        &fixture("mllmu-sample"),
        &["main"],
    );
    cache_repo(
        &hub,
        "models--org--split",
        &fixture("mllmu-sample"),
        &["main"],
    );
    home
}

#[test]
fn generate_resolves_hub_ids_and_revisions_from_the_cache() {
    let home = fake_cache();
    let expected = ok_stdout(&generate(
        home.path(),
        fixture("tiny-llava").to_str().unwrap(),
        &[],
    ));
    assert_eq!(ok_stdout(&generate(home.path(), "org/tiny", &[])), expected);
    assert_eq!(
        ok_stdout(&generate(home.path(), "org/tiny@v1", &[])),
        expected
    );
    let commit = format!("org/tiny@{COMMIT}");
    assert_eq!(ok_stdout(&generate(home.path(), &commit, &[])), expected);
    // A weight-only hub model with the processor of another hub model.
    let got = generate(
        home.path(),
        "org/tiny-bare",
        &["--processor-from", "org/tiny"],
    );
    assert_eq!(ok_stdout(&got), expected);

    let err = err_stderr(&generate(home.path(), "org/tiny@v2", &[]));
    assert!(
        err.contains("org/tiny@v2 is neither a folder nor in the local Hugging Face cache"),
        "{err}"
    );
    let err = err_stderr(&generate(home.path(), "org/missing", &[]));
    assert!(
        err.contains("org/missing is neither a folder nor in the local Hugging Face cache"),
        "{err}"
    );
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    let err = err_stderr(&generate(home.path(), "org/tiny-bare", &[]));
    assert!(err.contains("--processor-from"), "{err}");
}

#[test]
fn eval_takes_hub_ids_for_model_and_bench() {
    let home = fake_cache();
    let out = tempfile::tempdir().unwrap();
    let run = |bench: &str| {
        mllmu_with_cache(
            home.path(),
            &[
                "eval",
                "--model",
                "org/tiny",
                "--bench",
                bench,
                "--sets",
                "forget",
                "--max-profiles",
                "1",
                "--max-new-tokens",
                "2",
                "--no-progress",
                "--json",
                "--no-cache",
                "--device",
                "cpu",
                "--out",
                out.path().to_str().unwrap(),
            ],
        )
    };
    ok_stdout(&run("org/sample"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    let model_dir = report["manifest"]["model_dir"].as_str().unwrap();
    assert!(model_dir.contains("models--org--tiny"), "{model_dir}");
    // The same files as a model repository, named with `models/`.
    ok_stdout(&run("models/org/split"));
    let err = err_stderr(&run("org/split"));
    assert!(
        err.contains("org/split is neither a folder nor in the local Hugging Face cache"),
        "{err}"
    );
}

#[test]
fn finetune_resolves_everything_and_saves_the_borrowed_processor() {
    let home = fake_cache();
    let out = tempfile::tempdir().unwrap();
    let o = mllmu_with_cache(
        home.path(),
        &[
            "finetune",
            "--model",
            "org/tiny-bare",
            "--processor-from",
            "org/tiny",
            "--bench",
            "models/org/split",
            "--epochs",
            "1",
            "--batch-size",
            "35",
            "--lora-rank",
            "2",
            "--device",
            "cpu",
            "--json",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    ok_stdout(&o);
    // The trained model loads on its own: the base's tokenizer and processor were saved.
    for f in PROCESSOR_FILES {
        assert!(out.path().join(f).is_file(), "{f} not saved");
    }
}
