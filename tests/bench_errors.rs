//! Every way a benchmark folder can be broken, and the message the user gets. Broken files
//! are written with polars (or the crate's writer) into temporary folders.

use mllmu::bench::mini::{self, MiniBench};
use mllmu::bench::*;
use polars::prelude::*;
use std::path::{Path, PathBuf};

const FILE: &str = "train-00000-of-00001.parquet";

fn cfg() -> MiniConfig {
    MiniConfig {
        seed: 4,
        profiles: 8,
        celebrities: 1,
    }
}

/// A fresh mini benchmark in a temp folder, plus its in-memory data.
fn fresh() -> (tempfile::TempDir, PathBuf, MiniBench) {
    let dir = tempfile::tempdir().unwrap();
    let root = mini::write(dir.path(), &cfg()).unwrap();
    (dir, root, mini::generate(&cfg()).unwrap())
}

fn open_err(root: &Path) -> String {
    Bench::open(root).unwrap_err().to_string()
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn write(path: &Path, df: &mut DataFrame) {
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(df)
        .unwrap();
}

#[test]
fn missing_root_and_missing_full_set() {
    let err = open_err(Path::new("/no/such/mllmu/folder"));
    assert!(
        err.starts_with("missing folder /no/such/mllmu/folder\nhint: download it"),
        "{err}"
    );

    let (_d, root, _) = fresh();
    std::fs::remove_dir_all(root.join("Full_Set")).unwrap();
    let err = open_err(&root);
    assert!(
        err.starts_with(&format!(
            "missing folder {}",
            root.join("Full_Set").display()
        )),
        "{err}"
    );
    assert!(err.contains("\nhint: "), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = open_err(empty.path());
    assert!(
        err.contains("holds none of the MLLMU-Bench folders"),
        "{err}"
    );
}

#[test]
fn split_needs_its_folders() {
    let (_d, root, _) = fresh();
    std::fs::remove_dir_all(root.join("retain_90")).unwrap();
    let b = Bench::open(&root).unwrap();
    assert!(b.split(5).is_ok());
    let err = b.split(10).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "missing folder {}",
            root.join("retain_90").display()
        )),
        "{err}"
    );
}

#[test]
fn folder_without_parquet_files() {
    let (_d, root, _) = fresh();
    std::fs::remove_file(root.join("forget_5").join(FILE)).unwrap();
    let err = open_err(&root);
    let want = format!(
        "missing file {}",
        root.join("forget_5").join(FILE).display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("holds no .parquet file"), "{err}");
}

#[test]
fn missing_column() {
    let (_d, root, _) = fresh();
    let path = root.join("Full_Set").join(FILE);
    let mut df = read(&path).drop("Mask_Task").unwrap();
    write(&path, &mut df);
    assert_eq!(
        open_err(&root),
        format!("Full_Set/{FILE}: missing column `Mask_Task`")
    );

    let (_d, root, _) = fresh();
    let path = root.join("ft_Data").join(FILE);
    let mut df = read(&path).drop("image").unwrap();
    write(&path, &mut df);
    assert_eq!(
        open_err(&root),
        format!("ft_Data/{FILE}: missing column `image`")
    );
}

#[test]
fn wrong_column_type() {
    let (_d, root, _) = fresh();
    let path = root.join("retain_95").join(FILE);
    let mut df = read(&path);
    let n = df.height() as i64;
    df.with_column(Column::new("ID".into(), (0..n).collect::<Vec<i64>>()))
        .unwrap();
    write(&path, &mut df);
    assert_eq!(
        open_err(&root),
        format!("retain_95/{FILE}: column `ID` has type i64, expected string")
    );

    // A nested field: Generation_Task as a list of strings instead of structs.
    let (_d, root, _) = fresh();
    let path = root.join("Retain_Set").join(FILE);
    let mut df = read(&path);
    let rows: Vec<Series> = (0..df.height())
        .map(|_| Series::new("".into(), ["q"]))
        .collect();
    df.with_column(Column::new("Generation_Task".into(), rows))
        .unwrap();
    write(&path, &mut df);
    let err = open_err(&root);
    assert!(
        err.starts_with(&format!("Retain_Set/{FILE}: column `Generation_Task` has type list[str], expected list<struct{{Ground_Truth: string")),
        "{err}"
    );
}

#[test]
fn undecodable_image_names_file_profile_and_column() {
    let (_d, root, data) = fresh();
    let mut full = data.full.clone();
    let broken = Portrait::from_bytes(b"not an image".to_vec(), Some("003.png".into()));
    full[2].image = Some(broken.clone());
    write_eval_parquet(&root.join("Full_Set").join(FILE), &full, false).unwrap();
    let mut test = data.test.clone();
    test[6].images[1] = broken;
    // Test_Set shard 2 holds profiles 5-8 (index 6 is its third row).
    write_eval_parquet(
        &root.join("Test_Set").join("train-00001-of-00002.parquet"),
        &test[4..],
        true,
    )
    .unwrap();

    let b = Bench::open(&root).unwrap(); // portraits are decoded on demand
    let p = b.full_set().unwrap().get("003").unwrap();
    let err = p.image.as_ref().unwrap().decode().unwrap_err().to_string();
    let file = root.join("Full_Set").join(FILE);
    assert!(
        err.starts_with(&format!(
            "{}: profile 003: cannot decode image `image`: ",
            file.display()
        )),
        "{err}"
    );
    assert!(b
        .full_set()
        .unwrap()
        .get("002")
        .unwrap()
        .image
        .as_ref()
        .unwrap()
        .decode()
        .is_ok());

    let t = b.test_set().unwrap().get("007").unwrap();
    let err = t.images[1].decode().unwrap_err().to_string();
    assert!(
        err.contains("train-00001-of-00002.parquet: profile 007: cannot decode image `images`"),
        "{err}"
    );
    assert!(t.images[0].decode().is_ok());
}

#[test]
fn duplicate_ids_within_and_across_shards() {
    let (_d, root, data) = fresh();
    let mut full = data.full.clone();
    full[4] = full[1].clone();
    write_eval_parquet(&root.join("Full_Set").join(FILE), &full, false).unwrap();
    assert_eq!(
        open_err(&root),
        "Full_Set: duplicate profile ID 002 (rows 1 and 4)"
    );

    let (_d, root, data) = fresh();
    let mut second = data.test[4..].to_vec();
    second[0] = data.test[0].clone();
    write_eval_parquet(
        &root.join("Test_Set").join("train-00001-of-00002.parquet"),
        &second,
        true,
    )
    .unwrap();
    assert_eq!(
        open_err(&root),
        "Test_Set: duplicate profile ID 001 (rows 0 and 4)"
    );
}

#[test]
fn correct_answer_outside_a_to_d() {
    let (_d, root, data) = fresh();
    let mut full = data.full.clone();
    full[2].classification.pure_text[3].correct = 'E';
    write_eval_parquet(&root.join("Full_Set").join(FILE), &full, false).unwrap();
    assert_eq!(
        open_err(&root),
        format!(
            "Full_Set/{FILE}: profile 003: Classification_Task.Pure_Text_Questions question 4: correct answer `E` is not among the options A-D"
        )
    );
}

#[test]
fn forget_profile_absent_from_test_set() {
    let (_d, root, data) = fresh();
    let gone = data.forget[&5][0].clone();
    let test: Vec<Profile> = data.test.iter().filter(|p| p.id != gone).cloned().collect();
    std::fs::remove_dir_all(root.join("Test_Set")).unwrap();
    write_eval_parquet(&root.join("Test_Set").join(FILE), &test, true).unwrap();
    let b = Bench::open(&root).unwrap();
    assert_eq!(
        b.split(5).unwrap_err().to_string(),
        format!("profile {gone} of forget_5 is absent from Test_Set")
    );
}

#[test]
fn forget_and_retain_must_partition_full_set() {
    // Overlap: a forget profile also in retain.
    let (_d, root, data) = fresh();
    let forget_id = data.forget[&10][0].clone();
    let mut retain: Vec<Profile> = data
        .full
        .iter()
        .filter(|p| !data.forget[&10].contains(&p.id))
        .cloned()
        .collect();
    retain.push(
        data.full
            .iter()
            .find(|p| p.id == forget_id)
            .unwrap()
            .clone(),
    );
    write_eval_parquet(&root.join("retain_90").join(FILE), &retain, false).unwrap();
    let err = Bench::open(&root)
        .unwrap()
        .split(10)
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("forget_10 / retain_90: profile {forget_id}: is in both forget_10 and retain_90; the two must be disjoint"));

    // Gap: a Full_Set profile in neither.
    let (_d, root, data) = fresh();
    let retain: Vec<Profile> = data
        .full
        .iter()
        .filter(|p| !data.forget[&15].contains(&p.id))
        .skip(1)
        .cloned()
        .collect();
    let missing = data
        .full
        .iter()
        .find(|p| !data.forget[&15].contains(&p.id))
        .unwrap()
        .id
        .clone();
    write_eval_parquet(&root.join("retain_85").join(FILE), &retain, false).unwrap();
    let err = Bench::open(&root)
        .unwrap()
        .split(15)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("profile {missing} of Full_Set is absent from forget_15 ∪ retain_85")
    );
}

#[test]
fn malformed_metadata_and_null_ids() {
    let (_d, root, _) = fresh();
    let path = root.join("ft_Data").join(FILE);
    let mut df = read(&path);
    let mut meta: Vec<String> = df
        .column("metadata")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    meta[1] = "[{\"Question\": \"Q\"".into();
    df.with_column(Column::new("metadata".into(), meta))
        .unwrap();
    write(&path, &mut df);
    let err = open_err(&root);
    assert!(
        err.starts_with(&format!(
            "ft_Data/{FILE}: profile 002: `metadata` is not valid JSON"
        )),
        "{err}"
    );

    let (_d, root, _) = fresh();
    let path = root.join("forget_15").join(FILE);
    let mut df = read(&path);
    let mut ids: Vec<Option<String>> = df
        .column("ID")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(String::from))
        .collect();
    ids[0] = None;
    df.with_column(Column::new("ID".into(), ids)).unwrap();
    write(&path, &mut df);
    assert_eq!(
        open_err(&root),
        format!("forget_15/{FILE}: profile row 0: `ID` is null")
    );
}

#[test]
fn not_parquet_at_all() {
    let (_d, root, _) = fresh();
    std::fs::write(root.join("Retain_Set").join(FILE), b"PAR1 but not really").unwrap();
    let err = open_err(&root);
    assert!(
        err.starts_with(&format!("Retain_Set/{FILE}: cannot read parquet: ")),
        "{err}"
    );
}
