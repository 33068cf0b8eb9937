//! Checkpoint weights: reading one safetensors file or a sharded folder, key-name
//! normalisation, validation against the tensors a model asks for (recorded by
//! [`Recorder`]), and saving in the hub layout.
//!
//! Names are kept in the hub's legacy layout, the one transformers 4.45 `save_pretrained`
//! writes for `LlavaForConditionalGeneration` (`language_model.model.*`,
//! `language_model.lm_head.weight`, `vision_tower.vision_model.*`,
//! `multi_modal_projector.*`). The newer layout (`model.language_model.*`, `lm_head.*`,
//! `model.vision_tower.*`, `model.multi_modal_projector.*`) is renamed on reading.

use crate::{Error, Result};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::{SimpleBackend, VarBuilder};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    [
        ("model.language_model.", "language_model.model."),
        ("lm_head.", "language_model.lm_head."),
        ("model.vision_tower.", "vision_tower."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
    ]
    .iter()
    .find_map(|(from, to)| name.strip_prefix(from).map(|rest| format!("{to}{rest}")))
    .unwrap_or_else(|| name.to_string())
}

/// An [`Error::Weights`] about `dir` (a folder or a file).
pub(crate) fn weights_err(dir: impl std::fmt::Display, details: String) -> Error {
    Error::Weights {
        dir: dir.to_string(),
        details,
    }
}

/// Buffers some checkpoints carry that are not parameters.
fn is_ignorable_buffer(name: &str) -> bool {
    name.ends_with(".position_ids") || name.ends_with("rotary_emb.inv_freq")
}

/// The tensors a model's loading code asks for, as [`Recorder`] saw them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// Every requested tensor: name → shape.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Names the code only probed (`contains_tensor`): tolerated in a checkpoint but never
    /// loaded (a tied LM head, which transformers overwrites with the embeddings).
    pub tolerated: BTreeSet<String>,
}

impl Expected {
    /// What is wrong with tensor `name` (shown as `label`) of shape `dims`: not expected,
    /// or mis-shaped.
    fn problem(&self, name: &str, label: &str, dims: &[usize]) -> Option<String> {
        match self.shapes.get(name) {
            None => Some(format!("unexpected tensor {label}")),
            Some(s) if s.as_slice() != dims => Some(format!(
                "tensor {label}: expected shape {s:?}, found {dims:?}"
            )),
            Some(_) => None,
        }
    }

    /// `problems` and every expected tensor that `has` lacks, as one [`Error::Weights`].
    fn report(
        &self,
        dir: &str,
        mut problems: Vec<String>,
        has: impl Fn(&str) -> bool,
    ) -> Result<()> {
        problems.extend(
            (self.shapes.iter())
                .filter(|(name, _)| !has(name))
                .map(|(name, s)| format!("missing tensor `{name}` (expected shape {s:?})")),
        );
        if problems.is_empty() {
            return Ok(());
        }
        Err(weights_err(dir, problems.join("\n")))
    }
}

#[derive(Debug, Default)]
struct Log {
    served: Vec<(String, Tensor)>,
    probed: BTreeSet<String>,
}

/// A candle [`VarBuilder`] backend that records every tensor the loading code asks for.
///
/// It serves the tensors of a name → tensor map as they are (no dtype or device change, so
/// variables stay variables), or, built with [`Recorder::stand_ins`], zeros broadcast to the
/// requested shape, which allocate nothing: running the loading code over those lists what a
/// checkpoint must hold without reading one.
///
/// ```
/// use candle_core::{DType, Device};
/// use mllmu::model::weights::Recorder;
/// let rec = Recorder::stand_ins();
/// let vb = rec.var_builder(&Device::Cpu);
/// let w = vb.pp("layer").pp("q_proj").get((4, 2), "weight")?;
/// assert_eq!(w.dims(), &[4, 2]);
/// assert_eq!(rec.expected().shapes["layer.q_proj.weight"], vec![4, 2]);
/// # Ok::<(), candle_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    source: Option<Arc<HashMap<String, Tensor>>>,
    log: Arc<Mutex<Log>>,
}

impl Recorder {
    /// Serves zeros of the requested shapes.
    pub fn stand_ins() -> Recorder {
        Recorder::default()
    }

    /// Serves the tensors of `source`.
    pub fn serving(source: HashMap<String, Tensor>) -> Recorder {
        Recorder {
            source: Some(Arc::new(source)),
            ..Recorder::default()
        }
    }

    /// A [`VarBuilder`] over this recorder (the dtype is unused: tensors are served as they are).
    pub fn var_builder(&self, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, device.clone())
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tensors served so far, by name, in the order they were asked for.
    pub fn served(&self) -> Vec<(String, Tensor)> {
        self.log().served.clone()
    }

    /// The names and shapes asked for, and the names probed.
    pub fn expected(&self) -> Expected {
        let log = self.log();
        Expected {
            shapes: log
                .served
                .iter()
                .map(|(n, t)| (n.clone(), t.dims().to_vec()))
                .collect(),
            tolerated: log.probed.clone(),
        }
    }
}

impl SimpleBackend for Recorder {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = match &self.source {
            None => Tensor::zeros((), dtype, dev)?.broadcast_as(shape)?,
            Some(map) => {
                let t = map
                    .get(name)
                    .ok_or_else(|| candle_core::Error::CannotFindTensor {
                        path: name.to_string(),
                    })?;
                if t.shape() != &shape {
                    candle_core::bail!(
                        "tensor `{name}`: expected shape {shape:?}, found {:?}",
                        t.shape()
                    );
                }
                t.clone()
            }
        };
        self.log().served.push((name.to_string(), t.clone()));
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("tensor `{name}` requested without a shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.log().probed.insert(name.to_string());
        self.source.as_ref().is_some_and(|m| m.contains_key(name))
    }
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
        #[derive(serde::Deserialize)]
        struct Index {
            weight_map: BTreeMap<String, String>,
        }
        let files: BTreeSet<String> = crate::io::read_json::<Index>(&index)?
            .weight_map
            .into_values()
            .collect();
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        if let Some(p) = paths.iter().find(|p| !p.is_file()) {
            return Err(Error::MissingFile {
                path: p.clone(),
                hint: format!("{} names this shard", index.display()),
            });
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
    unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
        .map_err(|e| weights_err(path.display(), format!("cannot read safetensors: {e}")))
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

    /// Reads the weights of `dir` that `expected` names, converted to `dtype` on `device`.
    ///
    /// Every missing, unexpected or mis-shaped tensor is reported together in one
    /// [`Error::Weights`], before any tensor is read.
    pub fn load(dir: &Path, expected: &Expected, device: &Device, dtype: DType) -> Result<Weights> {
        let files = checkpoint_files(dir)?;
        let maps = files.iter().map(|f| mmap(f)).collect::<Result<Vec<_>>>()?;
        let mut problems = Vec::new();
        let mut found: HashMap<String, (usize, String)> = HashMap::new();
        for (fi, (file, st)) in files.iter().zip(&maps).enumerate() {
            let fname = file.file_name().unwrap_or_default().to_string_lossy();
            for (name, view) in st.tensors() {
                let canon = canonical_name(&name);
                if is_ignorable_buffer(&canon) || expected.tolerated.contains(&canon) {
                    continue;
                }
                let label = format!("`{name}` in {fname}");
                use safetensors::Dtype as S;
                if let Some(p) = expected.problem(&canon, &label, view.shape()) {
                    problems.push(p);
                } else if !matches!(view.dtype(), S::F16 | S::BF16 | S::F32 | S::F64) {
                    problems.push(format!(
                        "tensor {label}: dtype {:?} is not a float type",
                        view.dtype()
                    ));
                } else if let Some((_, other)) = found.insert(canon, (fi, name.clone())) {
                    problems.push(format!("tensor {label} duplicates `{other}`"));
                }
            }
        }
        expected.report(&dir.display().to_string(), problems, |n| {
            found.contains_key(n)
        })?;
        let mut tensors = HashMap::with_capacity(found.len());
        for (canon, (fi, name)) in found {
            let t = maps[fi]
                .load(&name, device)
                .and_then(|t| t.to_dtype(dtype))
                .map_err(|e| {
                    weights_err(
                        files[fi].display(),
                        format!("cannot load tensor `{name}`: {e}"),
                    )
                })?;
            tensors.insert(canon, t);
        }
        Ok(Weights {
            dir: dir.to_path_buf(),
            tensors,
        })
    }

    /// Checks names and shapes against `expected`, reporting every problem at once.
    pub fn check(&self, expected: &Expected) -> Result<()> {
        let problems = self
            .iter()
            .filter_map(|(n, t)| expected.problem(n, &format!("`{n}`"), t.dims()))
            .collect();
        expected.report("<in memory>", problems, |n| self.tensors.contains_key(n))
    }

    /// The tensor called `name` (legacy layout).
    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| weights_err(self.dir.display(), format!("missing tensor `{name}`")))
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
    pub fn into_vars(mut self) -> Result<(Weights, candle_nn::VarMap)> {
        let varmap = candle_nn::VarMap::new();
        for (name, t) in self.tensors.iter_mut() {
            let var = candle_core::Var::from_tensor(t)?;
            *t = var.as_tensor().clone();
            insert_var(&varmap, name.clone(), var)?;
        }
        Ok((self, varmap))
    }
}

/// Registers `var` in `varmap` under `name`.
pub(crate) fn insert_var(
    varmap: &candle_nn::VarMap,
    name: String,
    var: candle_core::Var,
) -> Result<()> {
    let mut data = varmap.data().lock().map_err(|_| {
        Error::param(
            "varmap",
            "poisoned",
            "a previous panic left the variable map locked",
        )
    })?;
    data.insert(name, var);
    Ok(())
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
            let t = opts
                .dtype
                .map_or_else(|| Ok(t.clone()), |d| t.to_dtype(d))?;
            // On the CPU and contiguous, the View conversion cannot fail.
            let t = t.to_device(&Device::Cpu)?.contiguous()?;
            total += bytes(&t);
            weight_map.insert(name.clone(), fname.clone());
            items.push((name.clone(), t));
        }
        let buf = safetensors::serialize(items, Some(metadata.clone()))
            .map_err(|e| weights_err(dir.display(), format!("cannot serialise {fname}: {e}")))?;
        let path = dir.join(&fname);
        crate::io::write_atomic(&path, &buf)?;
        written.push(path);
    }
    let stale_index = dir.join("model.safetensors.index.json");
    if n > 1 {
        let index =
            serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        super::json::write_pretty(&stale_index, stale_index.display().to_string(), &index)?;
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

    #[test]
    fn sharded_files_come_from_the_index() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llava-sharded");
        let files = checkpoint_files(&dir).unwrap();
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
    fn a_recorder_serves_and_records() {
        let dev = Device::Cpu;
        let t = Tensor::new(&[1f32, 2.], &dev).unwrap();
        let rec = Recorder::serving([("a.b".to_string(), t.clone())].into());
        let vb = rec.var_builder(&dev);
        assert!(!vb.pp("a").contains_tensor("c"));
        assert_eq!(vb.pp("a").get(2, "b").unwrap().id(), t.id());
        assert!(vb
            .pp("a")
            .get(3, "b")
            .unwrap_err()
            .to_string()
            .contains("expected shape"));
        assert!(vb.get(2, "z").is_err());
        let e = rec.expected();
        assert_eq!(e.shapes, [("a.b".to_string(), vec![2])].into());
        assert_eq!(e.tolerated, ["a.c".to_string()].into());
    }
}
