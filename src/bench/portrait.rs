//! Portraits: the encoded image bytes of a profile, read from parquet on first use and decoded
//! on demand.
//!
//! The hub stores every image as a struct `{bytes: binary, path: string}`. The real `Test_Set`
//! alone is 673 MB of such bytes, so [`Bench::open`](crate::bench::Bench::open) reads only the
//! text columns; the image column of one parquet file is read the first time any portrait of
//! that file is asked for its bytes, and then kept (shared by every [`Portrait`] of the file).

use crate::bench::parquet::{read_image_column, ImageCell};
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The image column of one parquet file, read on first use.
///
/// Rows hold a list of images: one for an `image` column, several for `images`.
#[derive(Debug)]
pub(crate) struct ImageShard {
    pub(crate) file: PathBuf,
    pub(crate) column: &'static str,
    cells: OnceLock<Vec<Vec<ImageCell>>>,
}

impl ImageShard {
    pub(crate) fn new(file: PathBuf, column: &'static str) -> Self {
        ImageShard {
            file,
            column,
            cells: OnceLock::new(),
        }
    }

    /// A shard whose cells were already read.
    pub(crate) fn loaded(file: PathBuf, column: &'static str, cells: Vec<Vec<ImageCell>>) -> Self {
        let shard = ImageShard::new(file, column);
        let _ = shard.cells.set(cells);
        shard
    }

    /// The cells of every row, reading the file's image column on the first call.
    fn cells(&self) -> Result<&[Vec<ImageCell>]> {
        if let Some(c) = self.cells.get() {
            return Ok(c);
        }
        let loaded = read_image_column(&self.file, self.column)?;
        // A concurrent reader may have won the race: either value is the same data.
        let _ = self.cells.set(loaded);
        Ok(self.cells.get().map(Vec::as_slice).unwrap_or(&[]))
    }
}

/// Where a portrait's bytes live.
#[derive(Clone)]
enum Source {
    /// Bytes already in memory (the mini generator, or user-built profiles).
    Memory(ImageCell),
    /// Row `row`, element `index` of a parquet file's image column, read on first use.
    Lazy {
        shard: Arc<ImageShard>,
        row: usize,
        index: usize,
    },
}

/// One portrait: encoded PNG/JPEG bytes plus the hub's optional `path`, decoded on demand.
///
/// ```
/// use mllmu::bench::Portrait;
/// let img = image::RgbImage::from_pixel(2, 2, image::Rgb([10, 20, 30]));
/// let mut png = Vec::new();
/// image::DynamicImage::ImageRgb8(img)
///     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
///     .unwrap();
/// let p = Portrait::from_bytes(png, Some("a.png".into()));
/// assert_eq!(p.decode().unwrap().get_pixel(1, 1).0, [10, 20, 30]);
/// assert_eq!(p.path().unwrap().as_deref(), Some("a.png"));
/// ```
#[derive(Clone)]
pub struct Portrait {
    source: Source,
    /// Profile ID, for error messages.
    profile: String,
}

impl std::fmt::Debug for Portrait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Memory(c) => f
                .debug_struct("Portrait")
                .field("bytes", &c.bytes.as_ref().map_or(0, |b| b.len()))
                .field("path", &c.path)
                .finish(),
            Source::Lazy { shard, row, index } => f
                .debug_struct("Portrait")
                .field("file", &shard.file)
                .field("column", &shard.column)
                .field("row", row)
                .field("index", index)
                .finish(),
        }
    }
}

impl Portrait {
    /// A portrait from encoded bytes (PNG or JPEG) and an optional file name.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>, path: Option<String>) -> Self {
        Portrait {
            source: Source::Memory(ImageCell {
                bytes: Some(bytes.into()),
                path,
            }),
            profile: String::new(),
        }
    }

    pub(crate) fn lazy(shard: Arc<ImageShard>, row: usize, index: usize, profile: &str) -> Self {
        Portrait {
            source: Source::Lazy { shard, row, index },
            profile: profile.to_string(),
        }
    }

    /// Sets the profile ID named in decoding errors.
    pub fn with_profile(mut self, id: impl Into<String>) -> Self {
        self.profile = id.into();
        self
    }

    /// [`Error::Image`] naming this portrait's file, profile and column.
    fn image_err(&self, reason: String) -> Error {
        let (file, column) = match &self.source {
            Source::Memory(_) => ("<memory>".into(), "image".into()),
            Source::Lazy { shard, .. } => {
                (shard.file.display().to_string(), shard.column.to_string())
            }
        };
        let profile = self.profile.clone();
        Error::Image {
            file,
            profile,
            column,
            reason,
            source: None,
        }
    }

    fn cell(&self) -> Result<ImageCell> {
        match &self.source {
            Source::Memory(c) => Ok(c.clone()),
            Source::Lazy { shard, row, index } => {
                let cells = shard.cells()?;
                cells.get(*row).and_then(|r| r.get(*index)).cloned().ok_or_else(|| {
                    let message = format!(
                        "image `{}` row {row} element {index} is missing (the file changed since it was opened?)",
                        shard.column
                    );
                    Error::bad_data(shard.file.display().to_string(), &self.profile, message)
                })
            }
        }
    }

    /// The encoded bytes (reads the parquet image column on first use).
    ///
    /// A struct whose `bytes` field is null is an [`Error::Image`].
    pub fn bytes(&self) -> Result<Arc<[u8]>> {
        let cell = self.cell()?;
        (cell.bytes).ok_or_else(|| {
            self.image_err(format!("the `bytes` field is null (path {:?})", cell.path))
        })
    }

    /// The struct's `path` field (the hub's file name; often null).
    pub fn path(&self) -> Result<Option<String>> {
        Ok(self.cell()?.path)
    }

    /// Decodes PNG or JPEG in any colour mode to RGB, like Pillow's `.convert("RGB")`: grey is
    /// replicated, palettes expanded, CMYK converted, and alpha dropped without compositing.
    pub fn decode(&self) -> Result<image::RgbImage> {
        let bytes = self.bytes()?;
        decode_rgb(&bytes).map_err(|reason| self.image_err(reason))
    }
}

/// Decodes encoded bytes to RGB8 (alpha channels dropped, as Pillow's `convert("RGB")`).
pub(crate) fn decode_rgb(bytes: &[u8]) -> std::result::Result<image::RgbImage, String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat};

    fn encode(img: DynamicImage, fmt: ImageFormat) -> Portrait {
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), fmt)
            .unwrap();
        Portrait::from_bytes(out, None)
    }

    #[test]
    fn grey_is_replicated_and_alpha_dropped() {
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(3, 2, image::Luma([77])));
        let p = encode(grey, ImageFormat::Png);
        assert_eq!(p.decode().unwrap().get_pixel(2, 1).0, [77, 77, 77]);

        // A transparent pixel keeps its colour: no compositing onto white or black.
        let rgba = image::RgbaImage::from_pixel(2, 2, image::Rgba([200, 100, 50, 0]));
        let p = encode(DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
        assert_eq!(p.decode().unwrap().get_pixel(0, 0).0, [200, 100, 50]);

        let la = image::GrayAlphaImage::from_pixel(1, 1, image::LumaA([9, 3]));
        let p = encode(DynamicImage::ImageLumaA8(la), ImageFormat::Png);
        assert_eq!(p.decode().unwrap().get_pixel(0, 0).0, [9, 9, 9]);
    }

    #[test]
    fn jpeg_decodes_close_to_its_colour() {
        let rgb = image::RgbImage::from_pixel(16, 16, image::Rgb([180, 60, 20]));
        let p = encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Jpeg);
        let px = p.decode().unwrap().get_pixel(8, 8).0;
        for (got, want) in px.iter().zip([180u8, 60, 20]) {
            assert!((*got as i32 - want as i32).abs() <= 4, "{px:?}");
        }
    }

    #[test]
    fn garbage_names_profile_and_column() {
        let p = Portrait::from_bytes(vec![1u8, 2, 3], None).with_profile("042");
        let msg = p.decode().unwrap_err().to_string();
        assert!(
            msg.contains("profile 042") && msg.contains("`image`"),
            "{msg}"
        );
    }
}
