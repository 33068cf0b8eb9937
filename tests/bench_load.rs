use mllmu::bench::*;
#[test]
fn scratch() {
    let dir = std::path::Path::new("/tmp/scratch/mini");
    let _ = std::fs::remove_dir_all(dir);
    let t = std::time::Instant::now();
    mini::write(dir, &MiniConfig::default()).unwrap();
    println!("write {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let b = Bench::open(dir).unwrap();
    println!("open {:?}", t.elapsed());
    println!("{b}");
    println!("{}", serde_json::to_string(&b.summary()).unwrap());
    let p = &b.test_set().unwrap().profiles[0];
    println!("{:#?}", p.classification.pure_text[0]);
    println!("{:#?}", p.cloze);
    println!("{:#?}", b.full_set().unwrap().profiles[0].generation);
    println!("{:?}", b.ft_data().unwrap().rows[0].pairs[..3].to_vec());
    let s = Bench::open("tests/fixtures/mllmu-sample").unwrap();
    println!("{s}");
}
