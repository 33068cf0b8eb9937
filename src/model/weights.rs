//! Checkpoint weights: reading one safetensors file or a sharded folder, key-name
//! normalisation, validation against the configuration, and saving in the hub layout.
//!
//! Names are kept in the hub's legacy layout, the one transformers 4.45 `save_pretrained`
//! writes for `LlavaForConditionalGeneration` (`language_model.model.*`,
//! `language_model.lm_head.weight`, `vision_tower.vision_model.*`,
//! `multi_modal_projector.*`). The newer layout (`model.language_model.*`, `lm_head.*`,
//! `model.vision_tower.*`, `model.multi_modal_projector.*`) is renamed on reading.

use super::config::Config;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The files that travel with a model folder besides config and weights.
pub const SIDE_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "added_tokens.json",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    "generation_config.json",
];

/// Default largest shard when saving (transformers' `max_shard_size="5GB"`).
pub const DEFAULT_MAX_SHARD_BYTES: usize = 5_000_000_000;

/// Renames a checkpoint key to the hub's legacy layout.
///
/// ```
/// use mllmu::model::weights::canonical_name;
/// assert_eq!(canonical_name("model.language_model.norm.weight"), "language_model.model.norm.weight");
/// assert_eq!(canonical_name("lm_head.weight"), "language_model.lm_head.weight");
/// assert_eq!(canonical_name("model.vision_tower.vision_model.pre_layrnorm.bias"),
///            "vision_tower.vision_model.pre_layrnorm.bias");
/// assert_eq!(canonical_name("language_model.model.norm.weight"), "language_model.model.norm.weight");
/// ```
pub fn canonical_name(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("model.language_model.") {
        format!("language_model.model.{rest}")
    } else if let Some(rest) = name.strip_prefix("lm_head.") {
        format!("language_model.lm_head.{rest}")
    } else if let Some(rest) = name.strip_prefix("model.vision_tower.") {
        format!("vision_tower.{rest}")
    } else if let Some(rest) = name.strip_prefix("model.multi_modal_projector.") {
        format!("multi_modal_projector.{rest}")
    } else {
        name.to_string()
    }
}

/// Buffers some checkpoints carry that are not parameters.
fn is_ignorable_buffer(name: &str) -> bool {
    name.ends_with(".position_ids") || name.ends_with("rotary_emb.inv_freq")
}

/// Every parameter of the model in the legacy layout, with its shape, in a fixed order.
///
/// When the embeddings are tied, `language_model.lm_head.weight` is left out.
pub fn expected_shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let v = &cfg.vision;
    let vp = "vision_tower.vision_model";
    let d = v.hidden_size;
    out.push((format!("{vp}.embeddings.class_embedding"), vec![d]));
    out.push((
        format!("{vp}.embeddings.patch_embedding.weight"),
        vec![d, v.num_channels, v.patch_size, v.patch_size],
    ));
    out.push((
        format!("{vp}.embeddings.position_embedding.weight"),
        vec![v.num_patches() + 1, d],
    ));
    for n in ["pre_layrnorm", "post_layernorm"] {
        out.push((format!("{vp}.{n}.weight"), vec![d]));
        out.push((format!("{vp}.{n}.bias"), vec![d]));
    }
    for i in 0..v.num_hidden_layers {
        let p = format!("{vp}.encoder.layers.{i}");
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            out.push((format!("{p}.self_attn.{n}.weight"), vec![d, d]));
            out.push((format!("{p}.self_attn.{n}.bias"), vec![d]));
        }
        for n in ["layer_norm1", "layer_norm2"] {
            out.push((format!("{p}.{n}.weight"), vec![d]));
            out.push((format!("{p}.{n}.bias"), vec![d]));
        }
        out.push((format!("{p}.mlp.fc1.weight"), vec![v.intermediate_size, d]));
        out.push((format!("{p}.mlp.fc1.bias"), vec![v.intermediate_size]));
        out.push((format!("{p}.mlp.fc2.weight"), vec![d, v.intermediate_size]));
        out.push((format!("{p}.mlp.fc2.bias"), vec![d]));
    }
    let t = &cfg.text;
    let h = t.hidden_size;
    out.push(("multi_modal_projector.linear_1.weight".into(), vec![h, d]));
    if cfg.projector_bias {
        out.push(("multi_modal_projector.linear_1.bias".into(), vec![h]));
    }
    out.push(("multi_modal_projector.linear_2.weight".into(), vec![h, h]));
    if cfg.projector_bias {
        out.push(("multi_modal_projector.linear_2.bias".into(), vec![h]));
    }
    let q = t.num_attention_heads * t.head_dim;
    let kv = t.num_key_value_heads * t.head_dim;
    out.push((
        "language_model.model.embed_tokens.weight".into(),
        vec![t.vocab_size, h],
    ));
    for i in 0..t.num_hidden_layers {
        let p = format!("language_model.model.layers.{i}");
        for (n, o, i_) in [
            ("q_proj", q, h),
            ("k_proj", kv, h),
            ("v_proj", kv, h),
            ("o_proj", h, q),
        ] {
            out.push((format!("{p}.self_attn.{n}.weight"), vec![o, i_]));
            if t.attention_bias {
                out.push((format!("{p}.self_attn.{n}.bias"), vec![o]));
            }
        }
        let m = t.intermediate_size;
        for (n, o, i_) in [("gate_proj", m, h), ("up_proj", m, h), ("down_proj", h, m)] {
            out.push((format!("{p}.mlp.{n}.weight"), vec![o, i_]));
            if t.mlp_bias {
                out.push((format!("{p}.mlp.{n}.bias"), vec![o]));
            }
        }
        out.push((format!("{p}.input_layernorm.weight"), vec![h]));
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
    }
    out.push(("language_model.model.norm.weight".into(), vec![h]));
    if !t.tie_word_embeddings {
        out.push((
            "language_model.lm_head.weight".into(),
            vec![t.vocab_size, h],
        ));
    }
    out
}

/// The safetensors files of a model folder: the shards named by
/// `model.safetensors.index.json`, else `model.safetensors`, else every `*.safetensors`.
pub fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::MissingFolder {
            path: dir.to_path_buf(),
            hint: "give a llava-hf model folder (config.json + safetensors)".into(),
        });
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let v: serde_json::Value = crate::io::read_json(&index)?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Json {
                file: index.display().to_string(),
                reason: "no `weight_map` object".into(),
            })?;
        let mut files: Vec<String> = map
            .values()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        files.sort();
        files.dedup();
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        for p in &paths {
            if !p.is_file() {
                return Err(Error::MissingFile {
                    path: p.clone(),
                    hint: format!("{} names this shard", index.display()),
                });
            }
        }
        return Ok(paths);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("read", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::MissingFile {
            path: single,
            hint: "the folder holds no safetensors weights (PyTorch .bin checkpoints are not read; convert them with transformers' save_pretrained(safe_serialization=True))".into(),
        });
    }
    Ok(files)
}

fn mmap(path: &Path) -> Result<candle_core::safetensors::MmapedSafetensors> {
    // SAFETY: the file is mapped read-only and only read while the map lives; mllmu never
    // writes a checkpoint it is reading (saving writes new files and renames them).
    unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }.map_err(|e| Error::Weights {
        dir: path.display().to_string(),
        details: format!("cannot read safetensors: {e}"),
    })
}

/// The parameters of a LLaVA model by legacy name, on one device in one dtype.
#[derive(Debug, Clone)]
pub struct Weights {
    /// The folder they were read from (empty when built in memory).
    pub dir: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// Wraps tensors already in memory (legacy names); see [`Weights::validate`].
    pub fn from_tensors(tensors: HashMap<String, Tensor>) -> Weights {
        Weights {
            dir: PathBuf::new(),
            tensors,
        }
    }

    /// Reads and validates the weights of `dir`, converted to `dtype` on `device`.
    ///
    /// Every missing, unexpected or mis-shaped tensor is reported together in one
    /// [`Error::Weights`].
    pub fn load(dir: &Path, cfg: &Config, device: &Device, dtype: DType) -> Result<Weights> {
        let files = checkpoint_files(dir)?;
        let expected: BTreeMap<String, Vec<usize>> = expected_shapes(cfg).into_iter().collect();
        let mut problems = Vec::new();
        let mut found: HashMap<String, (usize, String)> = HashMap::new();
        let maps = files.iter().map(|f| mmap(f)).collect::<Result<Vec<_>>>()?;
        for (fi, (file, st)) in files.iter().zip(&maps).enumerate() {
            let fname = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for (name, view) in st.tensors() {
                let canon = canonical_name(&name);
                if is_ignorable_buffer(&canon) {
                    continue;
                }
                if cfg.text.tie_word_embeddings && canon == "language_model.lm_head.weight" {
                    continue; // tied: transformers overwrites it with the embeddings
                }
                match expected.get(&canon) {
                    None => problems.push(format!("unexpected tensor `{name}` in {fname}")),
                    Some(shape) if shape.as_slice() != view.shape() => problems.push(format!(
                        "tensor `{name}` in {fname}: expected shape {shape:?}, found {:?}",
                        view.shape()
                    )),
                    Some(_) => {
                        use safetensors::Dtype as S;
                        if !matches!(view.dtype(), S::F16 | S::BF16 | S::F32 | S::F64) {
                            problems.push(format!(
                                "tensor `{name}` in {fname}: dtype {:?} is not a float type",
                                view.dtype()
                            ));
                        } else if let Some((_, other)) =
                            found.insert(canon.clone(), (fi, name.clone()))
                        {
                            problems
                                .push(format!("tensor `{name}` in {fname} duplicates `{other}`"));
                        }
                    }
                }
            }
        }
        for (name, shape) in &expected {
            if !found.contains_key(name) {
                problems.push(format!(
                    "missing tensor `{name}` (expected shape {shape:?})"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Weights {
                dir: dir.display().to_string(),
                details: problems.join("\n"),
            });
        }
        let mut tensors = HashMap::with_capacity(found.len());
        for (canon, (fi, name)) in found {
            let t = maps[fi]
                .load(&name, device)
                .and_then(|t| t.to_dtype(dtype))
                .map_err(|e| Error::Weights {
                    dir: files[fi].display().to_string(),
                    details: format!("cannot load tensor `{name}`: {e}"),
                })?;
            tensors.insert(canon, t);
        }
        Ok(Weights {
            dir: dir.to_path_buf(),
            tensors,
        })
    }

    /// Checks names and shapes against `cfg`, reporting every problem at once.
    pub fn validate(&self, cfg: &Config) -> Result<()> {
        let expected: BTreeMap<String, Vec<usize>> = expected_shapes(cfg).into_iter().collect();
        let mut problems = Vec::new();
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        for name in names {
            match expected.get(name) {
                None => problems.push(format!("unexpected tensor `{name}`")),
                Some(s) if s.as_slice() != self.tensors[name].dims() => problems.push(format!(
                    "tensor `{name}`: expected shape {s:?}, found {:?}",
                    self.tensors[name].dims()
                )),
                Some(_) => {}
            }
        }
        for (name, s) in &expected {
            if !self.tensors.contains_key(name) {
                problems.push(format!("missing tensor `{name}` (expected shape {s:?})"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Weights {
                dir: "<in memory>".into(),
                details: problems.join("\n"),
            })
        }
    }

    /// The tensor called `name` (legacy layout).
    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Weights {
                dir: self.dir.display().to_string(),
                details: format!("missing tensor `{name}`"),
            })
    }

    /// Names and tensors, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Tensor)> {
        let mut v: Vec<_> = self.tensors.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Turns every tensor into a trainable [`candle_core::Var`] registered in a
    /// [`candle_nn::VarMap`] under its name; the returned weights read the variables, so an
    /// optimiser step is seen by a model built from them.
    pub fn into_vars(self) -> Result<(Weights, candle_nn::VarMap)> {
        let varmap = candle_nn::VarMap::new();
        let mut tensors = HashMap::with_capacity(self.tensors.len());
        {
            let mut data = varmap.data().lock().map_err(|_| {
                Error::param(
                    "varmap",
                    "poisoned",
                    "a previous panic left the variable map locked",
                )
            })?;
            for (name, t) in self.tensors {
                let var = candle_core::Var::from_tensor(&t)?;
                tensors.insert(name.clone(), var.as_tensor().clone());
                data.insert(name, var);
            }
        }
        Ok((
            Weights {
                dir: self.dir,
                tensors,
            },
            varmap,
        ))
    }
}

/// How [`save_tensors`] writes a checkpoint.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// Stored dtype (`None`: each tensor's own).
    pub dtype: Option<DType>,
    /// Largest shard in bytes; above it the weights are split with an index file.
    pub max_shard_bytes: usize,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            dtype: None,
            max_shard_bytes: DEFAULT_MAX_SHARD_BYTES,
        }
    }
}

/// Writes named tensors as safetensors in `dir` (`{"format": "pt"}` metadata): one
/// `model.safetensors`, or `model-0000i-of-0000n.safetensors` shards plus
/// `model.safetensors.index.json` when the total exceeds `opts.max_shard_bytes`. Every file
/// is written atomically. Returns the files written.
pub fn save_tensors(
    dir: &Path,
    tensors: &[(String, Tensor)],
    opts: &SaveOptions,
) -> Result<Vec<PathBuf>> {
    // Converted one shard at a time, so saving never holds a second copy of the model.
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes = |t: &Tensor| t.elem_count() * opts.dtype.unwrap_or(t.dtype()).size_in_bytes();
    let mut shards: Vec<Vec<usize>> = vec![vec![]];
    let mut current = 0usize;
    for (i, (_, t)) in sorted.iter().enumerate() {
        let b = bytes(t);
        if current > 0 && current + b > opts.max_shard_bytes {
            shards.push(vec![]);
            current = 0;
        }
        current += b;
        if let Some(last) = shards.last_mut() {
            last.push(i);
        }
    }
    let n = shards.len();
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let mut written = Vec::new();
    let mut weight_map = BTreeMap::new();
    let mut total = 0usize;
    for (si, idx) in shards.iter().enumerate() {
        let fname = if n == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", si + 1, n)
        };
        let mut items = Vec::with_capacity(idx.len());
        for &i in idx {
            let (name, t) = sorted[i];
            let t = match opts.dtype {
                Some(d) => t.to_dtype(d)?,
                None => t.clone(),
            };
            // On the CPU and contiguous, the View conversion cannot fail.
            let t = t.to_device(&Device::Cpu)?.contiguous()?;
            total += bytes(&t);
            weight_map.insert(name.clone(), fname.clone());
            items.push((name.clone(), t));
        }
        let buf =
            safetensors::serialize(items, Some(metadata.clone())).map_err(|e| Error::Weights {
                dir: dir.display().to_string(),
                details: format!("cannot serialise {fname}: {e}"),
            })?;
        let path = dir.join(&fname);
        crate::io::write_atomic(&path, &buf)?;
        written.push(path);
    }
    let stale_index = dir.join("model.safetensors.index.json");
    if n > 1 {
        let index =
            serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        crate::io::write_atomic(
            &stale_index,
            serde_json::to_string_pretty(&index)
                .map_err(|e| Error::Json {
                    file: stale_index.display().to_string(),
                    reason: e.to_string(),
                })?
                .as_bytes(),
        )?;
        written.push(stale_index);
    } else if stale_index.is_file() {
        std::fs::remove_file(&stale_index).map_err(|e| Error::io("remove", &stale_index, e))?;
    }
    Ok(written)
}

/// Copies the tokenizer, processor and generation files of `from` into `to` (those present).
pub fn copy_side_files(from: &Path, to: &Path) -> Result<Vec<PathBuf>> {
    let mut copied = Vec::new();
    if from == to {
        return Ok(copied);
    }
    for name in SIDE_FILES {
        let src = from.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| Error::io("read", &src, e))?;
            let dst = to.join(name);
            crate::io::write_atomic(&dst, &bytes)?;
            copied.push(dst);
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn expected_names_cover_the_fixture() {
        let cfg = Config::load(&fixture("tiny-llava")).unwrap();
        let exp = expected_shapes(&cfg);
        assert_eq!(exp.len(), 89);
        let w = Weights::load(&fixture("tiny-llava"), &cfg, &Device::Cpu, DType::F32).unwrap();
        assert_eq!(w.len(), 89);
        assert_eq!(
            w.get("language_model.lm_head.weight").unwrap().dims(),
            &[1472, 96]
        );
        assert_eq!(
            w.get("language_model.lm_head.weight").unwrap().dtype(),
            DType::F32
        );
    }

    #[test]
    fn sharded_files_come_from_the_index() {
        let files = checkpoint_files(&fixture("tiny-llava-sharded")).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
    }

    #[test]
    fn problems_are_listed_together() {
        let mut cfg = Config::load(&fixture("tiny-llava")).unwrap();
        cfg.text.intermediate_size = 201;
        cfg.text.tie_word_embeddings = false;
        cfg.text.num_hidden_layers = 4;
        let err =
            Weights::load(&fixture("tiny-llava"), &cfg, &Device::Cpu, DType::F32).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("missing tensor `language_model.model.layers.3.mlp.up_proj.weight`"),
            "{msg}"
        );
        assert!(msg.contains("tensor `language_model.model.layers.0.mlp.up_proj.weight` in model.safetensors: expected shape [201, 96], found [200, 96]"), "{msg}");
        cfg.text.num_hidden_layers = 2;
        cfg.text.intermediate_size = 200;
        let msg = Weights::load(&fixture("tiny-llava"), &cfg, &Device::Cpu, DType::F32)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unexpected tensor `language_model.model.layers.2.input_layernorm.weight` in model.safetensors"), "{msg}");
    }

    #[test]
    fn save_shards_and_reads_back() {
        let cfg = Config::load(&fixture("tiny-llava")).unwrap();
        let w = Weights::load(&fixture("tiny-llava"), &cfg, &Device::Cpu, DType::F32).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let named: Vec<_> = w.iter().map(|(n, t)| (n.clone(), t.clone())).collect();
        let files = save_tensors(
            tmp.path(),
            &named,
            &SaveOptions {
                dtype: None,
                max_shard_bytes: 1_000_000,
            },
        )
        .unwrap();
        let index: serde_json::Value =
            crate::io::read_json(&tmp.path().join("model.safetensors.index.json")).unwrap();
        let mut shards: Vec<&str> = index["weight_map"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_str().unwrap())
            .collect();
        shards.sort();
        shards.dedup();
        assert!(shards.len() >= 3, "{shards:?}");
        assert_eq!(files.len(), shards.len() + 1);
        for s in &shards {
            let size = std::fs::metadata(tmp.path().join(s)).unwrap().len();
            assert!(size < 1_100_000, "{s}: {size}"); // data ≤ 1 MB plus header
        }
        assert_eq!(index["metadata"]["total_size"], 2605248);
        let back = Weights::load(tmp.path(), &cfg, &Device::Cpu, DType::F32).unwrap();
        for (n, t) in w.iter() {
            let diff = (t - back.get(n).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(diff, 0.0, "{n}");
        }
    }

    #[test]
    fn newer_key_names_are_accepted() {
        let cfg = Config::load(&fixture("tiny-llava")).unwrap();
        let w = Weights::load(&fixture("tiny-llava"), &cfg, &Device::Cpu, DType::F32).unwrap();
        let modern = |n: &str| -> String {
            if let Some(r) = n.strip_prefix("language_model.model.") {
                format!("model.language_model.{r}")
            } else if let Some(r) = n.strip_prefix("language_model.lm_head.") {
                format!("lm_head.{r}")
            } else {
                format!("model.{n}")
            }
        };
        let named: Vec<_> = w.iter().map(|(n, t)| (modern(n), t.clone())).collect();
        assert!(named
            .iter()
            .any(|(n, _)| n == "model.vision_tower.vision_model.pre_layrnorm.weight"));
        let tmp = tempfile::tempdir().unwrap();
        save_tensors(tmp.path(), &named, &SaveOptions::default()).unwrap();
        let back = Weights::load(tmp.path(), &cfg, &Device::Cpu, DType::F32).unwrap();
        assert_eq!(back.len(), 89);
        let a = w.get("multi_modal_projector.linear_2.bias").unwrap();
        let b = back.get("multi_modal_projector.linear_2.bias").unwrap();
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
    }

    #[test]
    fn tied_embeddings_skip_the_head() {
        let mut cfg = Config::load(&fixture("tiny-llava")).unwrap();
        cfg.text.tie_word_embeddings = true;
        let w = Weights::load(&fixture("tiny-llava"), &cfg, &Device::Cpu, DType::F32).unwrap();
        assert_eq!(w.len(), 88);
        assert!(w.get("language_model.lm_head.weight").is_err());
    }
}
