//! `mllmu bench stats --json` and `mllmu bench mini`: the public JSON shape and its counts.

use serde_json::Value;
use std::process::Command;

fn mllmu(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mllmu"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `{"image_textual": n, "pure_text": n, ...}` as a pair.
fn per_modality(v: &Value) -> (u64, u64) {
    (
        v["image_textual"].as_u64().unwrap(),
        v["pure_text"].as_u64().unwrap(),
    )
}

#[test]
fn stats_json_has_the_public_shape_and_the_sample_counts() {
    let (ok, out, err) = mllmu(&["bench", "stats", "tests/fixtures/mllmu-sample", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let folders = v["folders"].as_object().unwrap();
    let mut names: Vec<&str> = folders.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Full_Set",
            "Retain_Set",
            "Test_Set",
            "forget_10",
            "forget_15",
            "forget_5",
            "ft_Data",
            "retain_85",
            "retain_90",
            "retain_95"
        ]
    );
    // Counts from the fixture's README: 10 profiles with 3+3 classification, 2+2 generation
    // and 2+2 cloze questions each; celebrities have a 4th pure-text classification question;
    // Test_Set rows hold 3 images; ft_Data has 7 good pairs per profile, 2 irregular ones.
    let expect = [
        ("Full_Set", 10, 10, (30, 30), (20, 20), (20, 20)),
        ("Test_Set", 10, 30, (30, 30), (20, 20), (20, 20)),
        ("Retain_Set", 3, 3, (9, 12), (6, 6), (6, 6)),
        ("forget_5", 1, 1, (3, 3), (2, 2), (2, 2)),
        ("forget_10", 2, 2, (6, 6), (4, 4), (4, 4)),
        ("forget_15", 3, 3, (9, 9), (6, 6), (6, 6)),
        ("retain_95", 9, 9, (27, 27), (18, 18), (18, 18)),
        ("retain_90", 8, 8, (24, 24), (16, 16), (16, 16)),
        ("retain_85", 7, 7, (21, 21), (14, 14), (14, 14)),
    ];
    for (name, rows, images, cls, gen, cloze) in expect {
        let f = &folders[name];
        assert_eq!(f["rows"], rows, "{name}");
        assert_eq!(f["profiles"], rows, "{name}");
        assert_eq!(f["images"], images, "{name}");
        assert_eq!(per_modality(&f["classification"]), cls, "{name}");
        assert_eq!(per_modality(&f["generation"]), gen, "{name}");
        assert_eq!(per_modality(&f["cloze"]), cloze, "{name}");
    }
    let ft = &folders["ft_Data"];
    assert_eq!(
        (
            &ft["rows"],
            &ft["images"],
            &ft["qa_pairs"],
            &ft["skipped_pairs"]
        ),
        (
            &Value::from(10),
            &Value::from(10),
            &Value::from(70),
            &Value::from(2)
        )
    );
}

#[test]
fn mini_writes_a_benchmark_whose_stats_follow_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mini");
    let out_s = out.to_str().unwrap();
    let (ok, text, err) = mllmu(&[
        "bench",
        "mini",
        out_s,
        "--seed",
        "3",
        "--profiles",
        "20",
        "--celebrities",
        "4",
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("Full_Set"), "{text}");
    let (ok, json, err) = mllmu(&["bench", "stats", out_s, "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let f = &v["folders"];
    // 5+5 classification, 2+2 generation, 2+2 cloze per person; 3 test images per profile.
    assert_eq!(f["Full_Set"]["rows"], 20);
    assert_eq!(per_modality(&f["Full_Set"]["classification"]), (100, 100));
    assert_eq!(per_modality(&f["Full_Set"]["generation"]), (40, 40));
    assert_eq!(per_modality(&f["Full_Set"]["cloze"]), (40, 40));
    assert_eq!(f["Test_Set"]["images"], 60);
    assert_eq!(f["Retain_Set"]["rows"], 4);
    // 5 / 10 / 15 % of 20 profiles; retain is the complement.
    for (forget, retain, n) in [
        ("forget_5", "retain_95", 1),
        ("forget_10", "retain_90", 2),
        ("forget_15", "retain_85", 3),
    ] {
        assert_eq!(f[forget]["rows"], n);
        assert_eq!(f[retain]["rows"], 20 - n);
    }
    let pairs = f["ft_Data"]["qa_pairs"].as_u64().unwrap();
    assert!(
        pairs >= 14 * 20,
        "at least 14 QA pairs per profile, got {pairs}"
    );
    assert_eq!(f["ft_Data"]["skipped_pairs"], 0);
    // The text table names every folder too.
    let (ok, table, _) = mllmu(&["bench", "stats", out_s]);
    assert!(
        ok && table.contains("retain_85") && table.contains("ft_Data"),
        "{table}"
    );
}

#[test]
fn stats_on_a_missing_folder_names_it() {
    let (ok, _, err) = mllmu(&["bench", "stats", "no/such/bench"]);
    assert!(!ok);
    assert!(
        err.starts_with("mllmu: ") && err.contains("no/such/bench"),
        "{err}"
    );
}
