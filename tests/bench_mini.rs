//! The mini benchmark: written and read back field by field, facts consistency, question
//! counts, paraphrases, portraits, determinism, splits.

use mllmu::bench::mini::{self, Facts, MiniBench};
use mllmu::bench::*;
use std::collections::HashSet;
use std::path::Path;

fn cfg() -> MiniConfig {
    MiniConfig {
        seed: 11,
        profiles: 20,
        celebrities: 3,
    }
}

fn assert_same_profile(a: &Profile, b: &Profile) {
    assert_eq!(a.id, b.id);
    assert_eq!(a.directory, b.directory);
    assert_eq!(a.biography, b.biography);
    assert_eq!(a.question, b.question);
    assert_eq!(a.answer, b.answer);
    assert_eq!(a.classification, b.classification, "{}", a.id);
    assert_eq!(a.generation, b.generation);
    assert_eq!(a.cloze, b.cloze);
    assert_eq!(a.image.is_some(), b.image.is_some());
    if let (Some(x), Some(y)) = (&a.image, &b.image) {
        assert_eq!(x.bytes().unwrap(), y.bytes().unwrap());
        assert_eq!(x.path().unwrap(), y.path().unwrap());
    }
    assert_eq!(a.images.len(), b.images.len());
    for (x, y) in a.images.iter().zip(&b.images) {
        assert_eq!(x.bytes().unwrap(), y.bytes().unwrap());
        assert_eq!(x.path().unwrap(), y.path().unwrap());
    }
}

fn write_and_open(cfg: &MiniConfig) -> (tempfile::TempDir, Bench) {
    let dir = tempfile::tempdir().unwrap();
    let root = mini::write(dir.path(), cfg).unwrap();
    assert_eq!(root, dir.path());
    let bench = Bench::open(&root).unwrap();
    (dir, bench)
}

#[test]
fn round_trip_matches_the_generator() {
    let data = mini::generate(&cfg()).unwrap();
    let (_dir, b) = write_and_open(&cfg());
    let check = |set: &EvalSet, want: &[Profile]| {
        assert_eq!(set.len(), want.len(), "{}", set.name);
        for (a, w) in set.profiles.iter().zip(want) {
            assert_same_profile(a, w);
        }
    };
    check(b.full_set().unwrap(), &data.full);
    check(b.test_set().unwrap(), &data.test);
    check(b.celebrities().unwrap(), &data.celebrities);
    assert_eq!(b.test_set().unwrap().files.len(), 2);
    for ratio in [5u8, 10, 15] {
        let forget = b.set(&format!("forget_{ratio}")).unwrap();
        assert_eq!(forget.ids(), data.forget[&ratio]);
        for p in &forget.profiles {
            assert_same_profile(p, data.full.iter().find(|f| f.id == p.id).unwrap());
        }
        assert_eq!(
            b.set(&format!("retain_{}", 100 - ratio)).unwrap().ids(),
            data.retain_ids(ratio)
        );
    }
    let ft = b.ft_data().unwrap();
    assert_eq!(ft.rows.len(), data.ft.len());
    for (a, w) in ft.rows.iter().zip(&data.ft) {
        assert_eq!(a.id, w.id);
        assert_eq!(a.pairs, w.pairs);
        assert_eq!(a.skipped_pairs, 0);
        assert_eq!(a.image.bytes().unwrap(), w.image.bytes().unwrap());
    }
    let card = std::fs::read_to_string(b.root().join("README.md")).unwrap();
    assert!(
        card.starts_with("---\n")
            && card.contains("config_name: ft_Data")
            && card.contains("sequence: image")
    );
    assert!(card.contains("num_examples: 20"));
}

fn values(f: &Facts) -> Vec<String> {
    vec![
        f.birth_year.to_string(),
        f.birthplace.clone(),
        f.job.clone(),
        f.employer.clone(),
        f.education.clone(),
        f.hobby.clone(),
        f.family.clone(),
        f.appearance.clone(),
    ]
}

#[test]
fn every_answer_comes_from_the_persons_facts() {
    let data = mini::generate(&cfg()).unwrap();
    let names: HashSet<&str> = data.facts.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), data.facts.len(), "names are unique");
    for (p, f) in data
        .full
        .iter()
        .zip(&data.facts)
        .chain(data.celebrities.iter().zip(&data.celebrity_facts))
    {
        let vals = values(f);
        let bio: serde_json::Value = serde_json::from_str(p.biography.as_deref().unwrap()).unwrap();
        assert_eq!(bio["Name"], f.name.as_str());
        assert_eq!(bio["Birth year"], f.birth_year);
        assert_eq!(bio["Employment"], f.job.as_str());
        assert_eq!(bio["Appearance"], f.appearance.as_str());
        assert_eq!(p.classification.image_textual.len(), 5);
        assert_eq!(p.classification.pure_text.len(), 5);
        for q in p
            .classification
            .image_textual
            .iter()
            .chain(&p.classification.pure_text)
        {
            assert!(vals.contains(&q.correct_text().to_string()), "{q:?}");
            let distinct: HashSet<&String> = q.options.iter().collect();
            assert_eq!(distinct.len(), 4, "{q:?}");
        }
        assert!(p
            .classification
            .pure_text
            .iter()
            .all(|q| q.question.contains(&f.name)));
        assert!(p
            .classification
            .image_textual
            .iter()
            .all(|q| !q.question.contains(&f.name)));
        assert_eq!(p.generation_of(Modality::ImageTextual).count(), 2);
        assert_eq!(p.generation_of(Modality::PureText).count(), 2);
        assert!(p
            .generation
            .iter()
            .all(|q| vals.iter().any(|v| q.ground_truth.contains(v.as_str()))));
        assert_eq!(p.cloze_of(Modality::ImageTextual).count(), 2);
        assert_eq!(p.cloze_of(Modality::PureText).count(), 2);
        assert!(p
            .cloze
            .iter()
            .all(|q| q.question.contains("__") && vals.contains(&q.ground_truth)));
        assert!(p.answer.as_deref().unwrap().contains(&f.name));
    }
    for (r, f) in data.ft.iter().zip(&data.facts) {
        assert!(r.pairs.len() >= 14);
        assert!(r.pairs.iter().any(|p| p.answer.contains(&f.name)));
        assert!(r.pairs.iter().any(|p| p.answer.contains(&f.birthplace)));
    }
    let celeb_ids: Vec<&str> = data.celebrities.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(celeb_ids, ["celeb_01", "celeb_02", "celeb_03"]);
    assert!(data.celebrity_facts.iter().all(|f| f.known_for.is_some()));
    assert_eq!(data.full[0].id.as_str(), "001");
}

#[test]
fn test_set_paraphrases_questions_and_transforms_portraits() {
    let data = mini::generate(&cfg()).unwrap();
    for (full, test) in data.full.iter().zip(&data.test) {
        assert_eq!(full.id, test.id);
        let pairs = full
            .classification
            .image_textual
            .iter()
            .zip(&test.classification.image_textual);
        for (a, b) in pairs.chain(
            full.classification
                .pure_text
                .iter()
                .zip(&test.classification.pure_text),
        ) {
            assert_ne!(a.question, b.question);
            assert_eq!((a.correct, &a.options), (b.correct, &b.options));
        }
        for (a, b) in full
            .generation
            .iter()
            .zip(&test.generation)
            .chain(full.cloze.iter().zip(&test.cloze))
        {
            assert_ne!(a.question, b.question);
            assert_eq!((&a.ground_truth, &a.kind), (&b.ground_truth, &b.kind));
        }
        assert!(test.image.is_none());
        assert_eq!(test.images.len(), 3);
        let base = full.image.as_ref().unwrap().decode().unwrap();
        let mut seen = vec![base.clone()];
        for img in &test.images {
            let d = img.decode().unwrap();
            assert_eq!(d.dimensions(), base.dimensions());
            assert!(
                !seen.contains(&d),
                "transformed portraits differ from each other and the original"
            );
            seen.push(d);
        }
        // The first transform is a mirror image.
        let mirrored = image::imageops::flip_horizontal(&base);
        assert_eq!(test.images[0].decode().unwrap(), mirrored);
    }
}

#[test]
fn portraits_are_distinct_and_sized() {
    let data = mini::generate(&MiniConfig {
        seed: 5,
        profiles: 60,
        celebrities: 10,
    })
    .unwrap();
    let mut pixels = HashSet::new();
    for p in data.full.iter().chain(&data.celebrities) {
        let img = p.image.as_ref().unwrap().decode().unwrap();
        let (w, h) = img.dimensions();
        assert!((64..=96).contains(&w) && (64..=96).contains(&h));
        assert!(
            pixels.insert(img.into_raw()),
            "portrait of {} repeats another",
            p.id
        );
    }
}

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let (a, _) = write_and_open(&cfg());
    let (b, _) = write_and_open(&cfg());
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(
        fa.len(),
        12,
        "10 folders, Test_Set in 2 shards, plus README.md: {:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(fa, fb);
    let other = mini::generate(&MiniConfig { seed: 12, ..cfg() }).unwrap();
    let same = mini::generate(&cfg()).unwrap();
    assert_ne!(other.facts, same.facts);
    assert_ne!(
        other.full[0].image.as_ref().unwrap().bytes().unwrap(),
        same.full[0].image.as_ref().unwrap().bytes().unwrap()
    );
    assert_ne!(other.forget[&15], same.forget[&15]);
}

#[test]
fn split_sizes_follow_the_ratios() {
    let data: MiniBench = mini::generate(&MiniConfig {
        seed: 3,
        profiles: 40,
        celebrities: 2,
    })
    .unwrap();
    assert_eq!(data.forget[&5].len(), 2);
    assert_eq!(data.forget[&10].len(), 4);
    assert_eq!(data.forget[&15].len(), 6);
    let tiny = mini::generate(&MiniConfig {
        seed: 3,
        profiles: 4,
        celebrities: 1,
    })
    .unwrap();
    assert!(
        tiny.forget.values().all(|f| f.len() == 1),
        "at least one profile is forgotten"
    );
    let (_dir, b) = write_and_open(&MiniConfig {
        seed: 3,
        profiles: 40,
        celebrities: 2,
    });
    for ratio in [5u8, 10, 15] {
        let s = b.split(ratio).unwrap();
        let f: HashSet<_> = s.forget_ids().into_iter().collect();
        assert!(s.retain_ids().iter().all(|id| !f.contains(id)));
        assert_eq!(f.len() + s.retain().len(), 40);
        assert_eq!(s.test().len(), f.len());
        assert!(s.test().iter().all(|p| p.images.len() == 3));
    }
}

#[test]
fn summary_counts_of_a_mini() {
    let (_dir, b) = write_and_open(&MiniConfig {
        seed: 2,
        profiles: 30,
        celebrities: 4,
    });
    let v = serde_json::to_value(b.summary()).unwrap();
    let f = &v["folders"];
    assert_eq!(f["Full_Set"]["classification"]["image_textual"], 150);
    assert_eq!(f["Full_Set"]["generation"]["pure_text"], 60);
    assert_eq!(f["Test_Set"]["images"], 90);
    assert_eq!(f["Retain_Set"]["rows"], 4);
    assert_eq!(f["forget_10"]["rows"], 3);
    assert_eq!(f["retain_90"]["rows"], 27);
    assert_eq!(f["ft_Data"]["qa_pairs"], 30 * 17);
}

#[test]
fn config_is_validated_and_mini_is_cached() {
    let err = mini::generate(&MiniConfig {
        profiles: 1,
        ..cfg()
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("invalid profiles = 1"), "{err}");
    let err = mini::generate(&MiniConfig {
        celebrities: 0,
        ..cfg()
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("invalid celebrities = 0"), "{err}");
    let cfg = MiniConfig {
        seed: 987_654,
        profiles: 6,
        celebrities: 1,
    };
    let a = Bench::mini(&cfg).unwrap();
    let modified = std::fs::metadata(a.root().join("Full_Set/train-00000-of-00001.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    let b = Bench::mini(&cfg).unwrap();
    assert_eq!(a.root(), b.root());
    let again = std::fs::metadata(b.root().join("Full_Set/train-00000-of-00001.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(modified, again, "the second call reuses the cached folder");
}
