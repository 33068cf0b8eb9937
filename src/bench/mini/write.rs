//! Writing a generated mini benchmark in the hub layout, plus its dataset card.

use crate::bench::mini::{generate, MiniBench, MiniConfig};
use crate::bench::write::{write_eval_parquet, write_train_parquet};
use crate::bench::{Profile, FORGET_RATIOS};
use crate::Result;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SINGLE: &str = "train-00000-of-00001.parquet";

/// Generates the mini benchmark for `cfg` and writes it under `out_dir` (created if needed):
/// `Full_Set`, `Test_Set` (two shards), `Retain_Set`, `forget_{5,10,15}`,
/// `retain_{95,90,85}`, `ft_Data` and a `README.md` card (written last). Every file is
/// written atomically. Returns `out_dir`.
pub fn write(out_dir: &Path, cfg: &MiniConfig) -> Result<PathBuf> {
    let data = generate(cfg)?;
    write_data(out_dir, &data)?;
    Ok(out_dir.to_path_buf())
}

fn pick(full: &[Profile], ids: &[crate::bench::ProfileId]) -> Vec<Profile> {
    let by_id: HashMap<&str, &Profile> = full.iter().map(|p| (p.id.as_str(), p)).collect();
    ids.iter()
        .filter_map(|id| by_id.get(id.as_str()).map(|p| (*p).clone()))
        .collect()
}

/// Writes already generated data.
pub(crate) fn write_data(out: &Path, data: &MiniBench) -> Result<()> {
    let eval = |folder: &str, rows: &[Profile]| {
        write_eval_parquet(&out.join(folder).join(SINGLE), rows, false)
    };
    eval("Full_Set", &data.full)?;
    let half = data.test.len().div_ceil(2);
    let shards = [&data.test[..half], &data.test[half..]];
    for (i, shard) in shards.iter().enumerate() {
        let name = format!("train-{i:05}-of-{:05}.parquet", shards.len());
        write_eval_parquet(&out.join("Test_Set").join(name), shard, true)?;
    }
    eval("Retain_Set", &data.celebrities)?;
    for ratio in FORGET_RATIOS {
        let forget = data.forget.get(&ratio).cloned().unwrap_or_default();
        eval(&format!("forget_{ratio}"), &pick(&data.full, &forget))?;
        let retain = data.retain_ids(ratio);
        eval(
            &format!("retain_{}", 100 - ratio),
            &pick(&data.full, &retain),
        )?;
    }
    write_train_parquet(&out.join("ft_Data").join(SINGLE), &data.ft)?;
    crate::io::write_atomic(&out.join("README.md"), card(data).as_bytes())
}

fn eval_yaml(config: &str, image: &str, rows: usize) -> String {
    let mcq = "        list:\n          - name: Correct_Answer\n            dtype: string\n          - name: Options\n            struct:\n              - name: A\n                dtype: string\n              - name: B\n                dtype: string\n              - name: C\n                dtype: string\n              - name: D\n                dtype: string\n          - name: Question\n            dtype: string\n";
    let open = "    list:\n      - name: Ground_Truth\n        dtype: string\n      - name: Question\n        dtype: string\n      - name: Type\n        dtype: string\n";
    let mut s = format!("- config_name: {config}\n  features:\n{image}");
    for c in ["ID", "Directory", "biography", "question", "answer"] {
        s.push_str(&format!("  - name: {c}\n    dtype: string\n"));
    }
    s.push_str("  - name: Classification_Task\n    struct:\n");
    s.push_str(&format!(
        "      - name: Image_Textual_Questions\n{mcq}      - name: Pure_Text_Questions\n{mcq}"
    ));
    s.push_str(&format!(
        "  - name: Generation_Task\n{open}  - name: Mask_Task\n{open}"
    ));
    s.push_str(&format!(
        "  splits:\n  - name: train\n    num_examples: {rows}\n"
    ));
    s
}

/// The dataset card: YAML `dataset_info` and `configs` like the hub's, then a description.
fn card(data: &MiniBench) -> String {
    let image = "  - name: image\n    dtype: image\n";
    let images = "  - name: images\n    sequence: image\n";
    let config = |name: String, image: &str, rows: usize| {
        let yaml = eval_yaml(&name, image, rows);
        (name, yaml)
    };
    let mut configs = vec![
        config("Full_Set".into(), image, data.full.len()),
        config("Retain_Set".into(), image, data.celebrities.len()),
        config("Test_Set".into(), images, data.test.len()),
    ];
    for ratio in FORGET_RATIOS {
        let n = data.forget.get(&ratio).map_or(0, Vec::len);
        configs.push(config(format!("forget_{ratio}"), image, n));
        let retain = format!("retain_{}", 100 - ratio);
        configs.push(config(retain, image, data.full.len() - n));
    }
    configs.push((
        "ft_Data".into(),
        format!(
            "- config_name: ft_Data\n  features:\n{image}  - name: ID\n    dtype: string\n  - name: metadata\n    dtype: string\n  splits:\n  - name: train\n    num_examples: {}\n",
            data.ft.len()
        ),
    ));
    configs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::from("---\nlanguage:\n- en\ndataset_info:\n");
    for (_, yaml) in &configs {
        s.push_str(yaml);
    }
    s.push_str("configs:\n");
    for (name, _) in &configs {
        s.push_str(&format!(
            "- config_name: {name}\n  data_files:\n  - split: train\n    path: {name}/train-*\n"
        ));
    }
    let c = &data.config;
    s.push_str(&format!(
        "---\n\n# MLLMU-Bench mini (synthetic)\n\nGenerated by mllmu {} (generator v{}) with seed {}: {} fictitious profiles \
(IDs {}…{}) and {} invented celebrities in `Retain_Set`. Every person, place and company is invented; \
portraits are drawn procedurally. Same folder layout, configs and parquet schema as `MLLMMU/MLLMU-Bench`; \
not the real benchmark.\n\nPer profile: 5 image + 5 text multiple-choice questions, 2 + 2 generation \
and 2 + 2 fill-in-the-blank questions, {} fine-tuning QA pairs in `ft_Data`. `Test_Set` paraphrases \
the questions (same answers and order) and holds 3 transformed portraits (mirror, crop, colour shift). \
Forget sets: {} / {} / {} profiles for 5 / 10 / 15 %.\n",
        env!("CARGO_PKG_VERSION"),
        super::GENERATOR_VERSION,
        c.seed,
        data.full.len(),
        data.full.first().map_or("", |p| p.id.as_str()),
        data.full.last().map_or("", |p| p.id.as_str()),
        data.celebrities.len(),
        data.ft.first().map_or(0, |r| r.pairs.len()),
        data.forget.get(&5).map_or(0, Vec::len),
        data.forget.get(&10).map_or(0, Vec::len),
        data.forget.get(&15).map_or(0, Vec::len),
    ));
    s
}
