//! The layering of `src/`, checked on the source text: `model/` and `bench/` never import
//! from `train/`, `eval/`, `judge/` or `plot/`, and no two modules import each other.
//! Test modules (`#[cfg(test)]` to the end of a file) and comments are not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["eval", "metrics", "bleu"]`) → the file's code outside tests and comments.
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("bin") {
                    walk(&path, out);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix("src").unwrap().with_extension("");
            let mut name: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into()).collect();
            if name.last().is_some_and(|n| n == "mod" || n == "lib") {
                name.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let code = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(name, code);
        }
    }
    let mut out = BTreeMap::new();
    walk(Path::new("src"), &mut out);
    out
}

/// The modules `code` (in module `me`) names through `crate::` or `super::` paths, outside
/// its own ancestors and descendants.
fn imports(
    me: &[String],
    code: &str,
    all: &BTreeMap<Vec<String>, String>,
) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", vec![]),
        ("super::", me[..me.len() - 1].to_vec()),
    ] {
        for (i, _) in code.match_indices(prefix) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let mut path = base.clone();
            let mut segments = rest[..end].split("::").filter(|s| !s.is_empty()).peekable();
            while segments.next_if_eq(&"super").is_some() {
                path.pop();
            }
            path.extend(segments.map(String::from));
            // The longest prefix of the path that is a module.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| all.contains_key(p));
            if let Some(t) = target {
                let related = t.starts_with(me) || me.starts_with(&t);
                if !related {
                    found.insert(t);
                }
            }
        }
    }
    found
}

fn edges() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let all = modules();
    all.iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, code)| (name.clone(), imports(name, code, &all)))
        .collect()
}

#[test]
fn model_and_bench_import_nothing_from_the_layers_above() {
    let upper = ["train", "eval", "judge", "plot"];
    let mut bad = Vec::new();
    for (from, to) in edges() {
        if from[0] == "model" || from[0] == "bench" {
            for t in to.iter().filter(|t| upper.contains(&t[0].as_str())) {
                bad.push(format!("{} -> {}", from.join("/"), t.join("/")));
            }
        }
    }
    assert!(bad.is_empty(), "upward imports: {bad:?}");
}

#[test]
fn no_two_modules_import_each_other() {
    let edges = edges();
    assert!(edges.len() > 100, "read only {} modules", edges.len());
    let mut mutual = Vec::new();
    for (a, to) in &edges {
        for b in to.iter().filter(|b| a < *b) {
            if edges.get(b).is_some_and(|back| back.contains(a)) {
                mutual.push(format!("{} <-> {}", a.join("/"), b.join("/")));
            }
        }
    }
    assert!(
        mutual.is_empty(),
        "modules importing each other: {mutual:?}"
    );
}

#[test]
fn the_checker_sees_an_import_and_its_way_back() {
    let all: BTreeMap<Vec<String>, String> = [
        (vec!["a".to_string()], String::new()),
        (vec!["b".to_string(), "c".to_string()], String::new()),
        (vec!["b".to_string()], String::new()),
    ]
    .into_iter()
    .collect();
    let a = vec!["a".to_string()];
    let c = vec!["b".to_string(), "c".to_string()];
    assert_eq!(
        imports(&a, "use crate::b::c::Thing;", &all),
        BTreeSet::from([c.clone()])
    );
    assert_eq!(
        imports(&c, "let x = super::super::a::f();", &all),
        BTreeSet::from([a.clone()])
    );
    assert_eq!(imports(&c, "use super::c::Own;", &all), BTreeSet::new());
    assert_eq!(imports(&a, "my_crate::b::c::f()", &all), BTreeSet::new());
}
