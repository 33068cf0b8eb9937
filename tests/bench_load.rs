use mllmu::bench::*;
#[test]
fn scratch() {
    let b = Bench::open("tests/fixtures/mllmu-sample").unwrap();
    for s in b.eval_sets() {
        let p = &s.profiles[0];
        println!("{} {} {:?} imgs={} it={} pt={} gen={} cloze={}", s.name, s.len(), p.id, p.images.len(), p.classification.image_textual.len(), p.classification.pure_text.len(), p.generation.len(), p.cloze.len());
    }
    for t in b.train_sets() { println!("{} {} {:?}", t.name, t.rows.len(), t.rows.iter().map(|r| (r.pairs.len(), r.skipped_pairs)).collect::<Vec<_>>()); }
    let t = b.test_set().unwrap();
    println!("{:?}", t.profiles[2].images[1].decode().map(|i| i.dimensions()));
    println!("{:?}", b.full_set().unwrap().profiles[2].image.as_ref().unwrap().decode().map(|i| i.dimensions()));
    println!("{:?}", b.full_set().unwrap().profiles[2].image.as_ref().unwrap().path());
    println!("{:#?}", b.full_set().unwrap().profiles[2].classification.image_textual[0]);
    println!("{:#?}", b.test_set().unwrap().profiles[2].cloze);
    println!("{:?}", b.full_set().unwrap().profiles[2].biography);
}
