//! CLIP image preprocessing for LLaVA-1.5, bit-compatible with Hugging Face transformers.
//!
//! Reproduces `CLIPImageProcessor` of transformers 4.45.1 (the processor LLaVA-1.5 ships with)
//! on top of Pillow 10.4, step by step:
//!
//! 1. convert to 8-bit RGB (like `PIL.Image.convert("RGB")`: alpha is dropped, grey replicated);
//! 2. resize so the shortest edge is `size.shortest_edge` (the long edge is
//!    `trunc(target * long / short)`), with Pillow's separable, antialiased convolution
//!    resampler (see [`pillow_resize`]): horizontal pass first, an 8-bit image between passes;
//! 3. centre crop to `crop_size` (offsets `(H - h) // 2`, `(W - w) // 2`; an image smaller than
//!    the crop is padded with zeros around it, as transformers' `center_crop` does);
//! 4. rescale: `u8 as f64 * rescale_factor`, cast to `f32`;
//! 5. normalise in `f32`: `(x - mean) / std` per channel;
//! 6. lay out channels first (CHW).
//!
//! Any other bicubic implementation differs from Pillow by one or two grey levels, which moves
//! the model's logits far beyond the parity tolerances, hence the exact replica below.
//!
//! Only the bicubic (`resample: 3`) and bilinear (`resample: 2`) filters are supported.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::{DynamicImage, RgbImage};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::json;
use crate::{Error, Result};

pub use super::resample::{pillow_resize, Resample};

/// Per-channel mean of the OpenAI CLIP preprocessing (transformers' `OPENAI_CLIP_MEAN`), as the
/// Python floats; the processor casts them to `f32` like numpy (f64 first, then f32).
pub const OPENAI_CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// Per-channel standard deviation of the OpenAI CLIP preprocessing (`OPENAI_CLIP_STD`).
pub const OPENAI_CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The file name of the image processor configuration in a model folder.
pub const PREPROCESSOR_CONFIG: &str = "preprocessor_config.json";

/// How the resize step chooses the new size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTarget {
    /// Scale so the shorter side has this length, keeping the aspect ratio (the long side is
    /// truncated, as Python's `int(target * long / short)`).
    ShortestEdge(u32),
    /// Resize to exactly this size.
    Exact {
        /// Output height in pixels.
        height: u32,
        /// Output width in pixels.
        width: u32,
    },
}

/// The centre-crop size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropSize {
    /// Crop height in pixels.
    pub height: u32,
    /// Crop width in pixels.
    pub width: u32,
}

/// A resolved `CLIPImageProcessor` configuration and the preprocessing it describes.
///
/// Fields mirror `preprocessor_config.json`; [`Default`] gives transformers' defaults for
/// `CLIPImageProcessor` (shortest edge 224, crop 224×224, bicubic, 1/255, OpenAI CLIP mean/std).
///
/// ```
/// use mllmu::model::processor::ImageProcessor;
/// let p = ImageProcessor::from_dir("tests/fixtures/tiny-llava")?;
/// let img = image::RgbImage::from_pixel(133, 91, image::Rgb([255, 255, 255]));
/// assert_eq!(p.resized_size(133, 91), (61, 42));
/// let chw = p.preprocess(&img)?;
/// assert_eq!(chw.len(), 3 * 42 * 42);
/// // white, normalised with the red channel's mean/std
/// assert!((chw[0] - (1.0 - 0.48145466) / 0.26862954).abs() < 1e-6);
/// # Ok::<(), mllmu::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ImageProcessor {
    /// Whether to resize (`do_resize`).
    #[serde(deserialize_with = "json::flag")]
    pub do_resize: bool,
    /// Resize target (`size`).
    #[serde(deserialize_with = "size")]
    pub size: ResizeTarget,
    /// Resampling filter (`resample`).
    #[serde(deserialize_with = "resample")]
    pub resample: Resample,
    /// Whether to centre crop (`do_center_crop`).
    #[serde(deserialize_with = "json::flag")]
    pub do_center_crop: bool,
    /// Crop size (`crop_size`).
    #[serde(deserialize_with = "crop")]
    pub crop_size: CropSize,
    /// Whether to multiply by `rescale_factor` (`do_rescale`).
    #[serde(deserialize_with = "json::flag")]
    pub do_rescale: bool,
    /// Rescale factor, applied in `f64` (`rescale_factor`).
    #[serde(deserialize_with = "factor")]
    pub rescale_factor: f64,
    /// Whether to normalise (`do_normalize`).
    #[serde(deserialize_with = "json::flag")]
    pub do_normalize: bool,
    /// Per-channel mean, as `f32` like numpy (`image_mean`).
    #[serde(deserialize_with = "triple")]
    pub image_mean: [f32; 3],
    /// Per-channel standard deviation, as `f32` (`image_std`).
    #[serde(deserialize_with = "triple")]
    pub image_std: [f32; 3],
    /// Whether non-RGB inputs are converted to RGB (`do_convert_rgb`).
    #[serde(deserialize_with = "json::flag")]
    pub do_convert_rgb: bool,
}

impl Default for ImageProcessor {
    fn default() -> Self {
        ImageProcessor {
            do_resize: true,
            size: ResizeTarget::ShortestEdge(224),
            resample: Resample::Bicubic,
            do_center_crop: true,
            crop_size: CropSize {
                height: 224,
                width: 224,
            },
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: OPENAI_CLIP_MEAN.map(|m| m as f32),
            image_std: OPENAI_CLIP_STD.map(|s| s as f32),
            do_convert_rgb: true,
        }
    }
}

impl ImageProcessor {
    /// The preprocessing of `llava-hf/llava-1.5-7b-hf` (CLIP ViT-L/14-336: 336 px).
    pub fn llava_1_5() -> Self {
        ImageProcessor {
            size: ResizeTarget::ShortestEdge(336),
            crop_size: CropSize {
                height: 336,
                width: 336,
            },
            ..Default::default()
        }
    }

    /// Reads `preprocessor_config.json` from a model folder.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_file(json::model_file(dir.as_ref(), PREPROCESSOR_CONFIG)?)
    }

    /// Reads a `CLIPImageProcessor` configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
                hint: "give the path of a preprocessor_config.json".into(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Parses a `CLIPImageProcessor` configuration; `file` names it in error messages.
    ///
    /// Absent fields take transformers' defaults. Unsupported values are [`Error::Config`].
    ///
    /// ```
    /// use mllmu::model::processor::{ImageProcessor, ResizeTarget};
    /// let p = ImageProcessor::from_json_str(r#"{"size": 336, "crop_size": 336}"#, "cfg.json")?;
    /// assert_eq!(p.size, ResizeTarget::ShortestEdge(336));
    /// let err = ImageProcessor::from_json_str(r#"{"resample": 1}"#, "cfg.json").unwrap_err();
    /// assert!(err.to_string().contains("field `resample`"));
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    pub fn from_json_str(text: &str, file: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::json(file.to_string(), e))?;
        let p: ImageProcessor = json::fields(&value, file)?;
        if p.do_normalize && p.image_std.contains(&0.0) {
            return Err(json::config_err(
                file,
                "image_std",
                "a standard deviation of 0 divides by zero",
            ));
        }
        Ok(p)
    }

    /// The (width, height) after the resize step for an input of `width`×`height`.
    ///
    /// ```
    /// use mllmu::model::processor::ImageProcessor;
    /// let p = ImageProcessor::llava_1_5();
    /// assert_eq!(p.resized_size(640, 480), (448, 336));
    /// ```
    pub fn resized_size(&self, width: u32, height: u32) -> (u32, u32) {
        if !self.do_resize {
            return (width, height);
        }
        match self.size {
            ResizeTarget::Exact {
                height: h,
                width: w,
            } => (w, h),
            ResizeTarget::ShortestEdge(target) => {
                let (short, long) = (width.min(height), width.max(height));
                // Python: int(target * long / short): exact product, correctly rounded division.
                let new_long = if short == 0 {
                    0
                } else {
                    (f64::from(target) * f64::from(long) / f64::from(short)).trunc() as u32
                };
                if width <= height {
                    (target, new_long)
                } else {
                    (new_long, target)
                }
            }
        }
    }

    /// The (width, height) of the output for an input of `width`×`height`.
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        if self.do_center_crop {
            (self.crop_size.width, self.crop_size.height)
        } else {
            self.resized_size(width, height)
        }
    }

    /// Preprocesses one RGB image into a channels-first `[3, H, W]` buffer.
    pub fn preprocess(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(Error::param(
                "image",
                format!("{w}x{h}"),
                "cannot preprocess an empty image",
            ));
        }
        let (rw, rh) = self.resized_size(w, h);
        let resized;
        let img = if (rw, rh) != (w, h) {
            resized = pillow_resize(image, rw, rh, self.resample)?;
            &resized
        } else {
            image
        };
        let (ow, oh) = self.output_size(w, h);
        // top-left of the crop in image coordinates; negative when the crop is larger (padding)
        let (top, left) = if self.do_center_crop {
            (
                (i64::from(rh) - i64::from(oh)).div_euclid(2),
                (i64::from(rw) - i64::from(ow)).div_euclid(2),
            )
        } else {
            (0, 0)
        };
        let plane = (ow as usize) * (oh as usize);
        let mut out = vec![0f32; 3 * plane];
        for y in 0..oh as usize {
            let sy = top + y as i64;
            for x in 0..ow as usize {
                let sx = left + x as i64;
                let inside = (0..i64::from(rh)).contains(&sy) && (0..i64::from(rw)).contains(&sx);
                let px = if inside {
                    img.get_pixel(sx as u32, sy as u32).0
                } else {
                    [0, 0, 0]
                };
                for c in 0..3 {
                    out[c * plane + y * ow as usize + x] = self.to_float(px[c], c);
                }
            }
        }
        Ok(out)
    }

    /// Rescale then normalise one 8-bit value of channel `c`, with numpy's precisions.
    fn to_float(&self, v: u8, c: usize) -> f32 {
        let x = if self.do_rescale {
            (f64::from(v) * self.rescale_factor) as f32
        } else {
            f32::from(v)
        };
        if self.do_normalize {
            (x - self.image_mean[c]) / self.image_std[c]
        } else {
            x
        }
    }

    /// Converts any decoded image to 8-bit RGB like `PIL.Image.convert("RGB")`, then
    /// preprocesses it. Fails for a non-RGB image when `do_convert_rgb` is false.
    pub fn preprocess_dynamic(&self, image: &DynamicImage) -> Result<Vec<f32>> {
        self.preprocess(&self.to_rgb(image)?)
    }

    /// Preprocesses a batch into a `[n, 3, H, W]` `f32` tensor on `device`.
    ///
    /// Fails on an empty batch, or when `do_center_crop` is off and sizes differ.
    pub fn preprocess_batch(&self, images: &[RgbImage], device: &Device) -> Result<Tensor> {
        let first = images
            .first()
            .ok_or_else(|| Error::param("images", "[]", "a batch needs at least one image"))?;
        let (ow, oh) = self.output_size(first.width(), first.height());
        let mut data = Vec::with_capacity(images.len() * 3 * (ow as usize) * (oh as usize));
        for (i, img) in images.iter().enumerate() {
            let size = self.output_size(img.width(), img.height());
            if size != (ow, oh) {
                return Err(Error::param(
                    format!("images[{i}]"),
                    format!("{}x{}", img.width(), img.height()),
                    format!(
                        "preprocesses to {}x{} but images[0] to {ow}x{oh}\nhint: enable do_center_crop",
                        size.0, size.1
                    ),
                ));
            }
            data.extend(self.preprocess(img)?);
        }
        Ok(Tensor::from_vec(
            data,
            (images.len(), 3, oh as usize, ow as usize),
            device,
        )?)
    }

    /// [`ImageProcessor::preprocess_batch`] for decoded images of any colour type.
    pub fn preprocess_batch_dynamic(
        &self,
        images: &[DynamicImage],
        device: &Device,
    ) -> Result<Tensor> {
        let rgb = images
            .iter()
            .map(|i| self.to_rgb(i))
            .collect::<Result<Vec<_>>>()?;
        self.preprocess_batch(&rgb, device)
    }

    fn to_rgb(&self, image: &DynamicImage) -> Result<RgbImage> {
        match image {
            DynamicImage::ImageRgb8(rgb) => Ok(rgb.clone()),
            other if self.do_convert_rgb => Ok(other.to_rgb8()),
            other => Err(Error::param(
                "image",
                format!("{:?}", other.color()),
                "the image is not RGB and do_convert_rgb is false\nhint: convert it with `to_rgb8()`",
            )),
        }
    }
}

fn positive(v: &Value) -> std::result::Result<u32, String> {
    v.as_u64()
        .filter(|n| *n > 0)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("expected a positive integer, found {v}"))
}

fn size<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<ResizeTarget, D::Error> {
    json::parsed(d, |v| {
        if v.is_number() {
            return Ok(ResizeTarget::ShortestEdge(positive(v)?));
        }
        let obj = v
            .as_object()
            .ok_or_else(|| format!("expected an integer or an object, found {v}"))?;
        if let Some(unknown) = obj
            .keys()
            .find(|k| !["shortest_edge", "height", "width"].contains(&k.as_str()))
        {
            return Err(format!(
                "key `{unknown}` is not supported\nhint: use shortest_edge or height and width"
            ));
        }
        match (
            obj.get("shortest_edge"),
            obj.get("height"),
            obj.get("width"),
        ) {
            (Some(s), None, None) => Ok(ResizeTarget::ShortestEdge(positive(s)?)),
            (None, Some(h), Some(w)) => Ok(ResizeTarget::Exact {
                height: positive(h)?,
                width: positive(w)?,
            }),
            _ => Err(format!(
                "expected {{\"shortest_edge\": n}} or {{\"height\": h, \"width\": w}}, found {v}"
            )),
        }
    })
}

fn crop<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<CropSize, D::Error> {
    json::parsed(d, |v| {
        let (height, width) = match (v.get("height"), v.get("width")) {
            _ if v.is_number() => (v, v),
            (Some(h), Some(w)) => (h, w),
            _ => {
                return Err(format!(
                    "expected an integer or {{\"height\": h, \"width\": w}}, found {v}"
                ))
            }
        };
        Ok(CropSize {
            height: positive(height)?,
            width: positive(width)?,
        })
    })
}

fn resample<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Resample, D::Error> {
    json::parsed(d, |v| {
        let code = v
            .as_i64()
            .ok_or_else(|| format!("expected an integer, found {v}"))?;
        Resample::from_pil(code).ok_or_else(|| {
            format!("Pillow filter {code} is not supported\nhint: use 3 (bicubic) or 2 (bilinear)")
        })
    })
}

fn factor<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    json::parsed(d, |v| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("expected a number, found {v}"))
    })
}

fn triple<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<[f32; 3], D::Error> {
    json::parsed(d, |v| {
        if let Some(x) = v.as_f64() {
            return Ok([x as f32; 3]);
        }
        let bad = || format!("expected 3 numbers, found {v}");
        let items = v.as_array().filter(|a| a.len() == 3).ok_or_else(bad)?;
        let mut out = [0f32; 3];
        for (slot, item) in out.iter_mut().zip(items) {
            // numpy's float64 -> float32 cast rounds to nearest, as `as f32` does
            *slot = item.as_f64().ok_or_else(bad)? as f32;
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sizes_truncate_like_python() {
        let p = ImageProcessor {
            size: ResizeTarget::ShortestEdge(42),
            ..Default::default()
        };
        assert_eq!(p.resized_size(133, 91), (61, 42));
        assert_eq!(p.resized_size(37, 61), (42, 69));
        assert_eq!(p.resized_size(50, 50), (42, 42));
    }

    #[test]
    fn small_images_are_padded_with_zeros_before_crop() {
        let p = ImageProcessor {
            do_resize: false,
            crop_size: CropSize {
                height: 4,
                width: 4,
            },
            do_normalize: false,
            do_rescale: false,
            ..Default::default()
        };
        let img = RgbImage::from_pixel(2, 3, image::Rgb([7, 7, 7]));
        let out = p.preprocess(&img).unwrap();
        // rows: (3-4)//2 = -1 → one zero row on top; cols: (2-4)//2 = -1 → one zero column left
        let row = |y: usize| out[y * 4..y * 4 + 4].to_vec();
        assert_eq!(row(0), vec![0.0; 4]);
        assert_eq!(row(1), vec![0.0, 7.0, 7.0, 0.0]);
        assert_eq!(row(3), vec![0.0, 7.0, 7.0, 0.0]);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let err = ImageProcessor::from_json_str(r#"{"size": {"longest_edge": 3}}"#, "p.json")
            .unwrap_err();
        assert!(err.to_string().starts_with("p.json: field `size`"), "{err}");
        let err =
            ImageProcessor::from_json_str(r#"{"image_mean": [0.5, 0.5]}"#, "p.json").unwrap_err();
        assert!(err.to_string().contains("field `image_mean`"), "{err}");
        let err = ImageProcessor::from_json_str(r#"{"do_resize": "yes"}"#, "p.json").unwrap_err();
        assert!(err.to_string().contains("field `do_resize`"), "{err}");
    }
}
