//! Pillow's 8-bit resampler (`Image.resize`), reproduced exactly: separable, antialiased
//! convolution with fixed-point weights, as Pillow 10.4 computes it. CLIP preprocessing must
//! match PIL to the last grey level, or the logits move far beyond parity tolerances.

use image::RgbImage;

use crate::{Error, Result};

/// Fixed-point precision of Pillow's 8-bit resampler: 32 bits − 8 bits of result − 2 guard bits.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// A resampling filter, as Pillow defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// Triangle filter (`PIL.Image.BILINEAR`, code 2), support 1.
    Bilinear,
    /// Keys cubic convolution with a = −0.5 (`PIL.Image.BICUBIC`, code 3), support 2.
    Bicubic,
}

impl Resample {
    /// The filter for a Pillow resample code (`2` bilinear, `3` bicubic); `None` if unsupported.
    ///
    /// ```
    /// use mllmu::model::processor::Resample;
    /// assert_eq!(Resample::from_pil(3), Some(Resample::Bicubic));
    /// assert_eq!(Resample::from_pil(1), None); // Lanczos is not implemented
    /// ```
    pub fn from_pil(code: i64) -> Option<Self> {
        match code {
            2 => Some(Resample::Bilinear),
            3 => Some(Resample::Bicubic),
            _ => None,
        }
    }

    /// The Pillow resample code of this filter.
    pub fn pil_code(self) -> u8 {
        match self {
            Resample::Bilinear => 2,
            Resample::Bicubic => 3,
        }
    }

    /// Half-width of the filter at scale 1.
    fn support(self) -> f64 {
        match self {
            Resample::Bilinear => 1.0,
            Resample::Bicubic => 2.0,
        }
    }

    /// The filter's weight at distance `x`, with Pillow's exact floating-point expressions.
    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Resample::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Resample::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// The taps of one output pixel: first input index and fixed-point weights.
#[derive(Debug, Clone, PartialEq)]
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's normalised floating-point filter weights for resampling `in_size` → `out_size`
/// pixels along one axis: one `(first input index, weights)` per output pixel.
fn float_taps(in_size: usize, out_size: usize, filter: Resample) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let inv = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C `(int)` truncates toward zero; negative starts are then clamped to 0
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64)
                .min(in_size as i64)
                .max(xmin as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| filter.weight((x as f64 - center + 0.5) * inv))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|k| *k /= total);
            }
            (xmin, w)
        })
        .collect()
}

/// [`float_taps`] converted to Pillow's fixed point (round half away from zero).
fn fixed_taps(in_size: usize, out_size: usize, filter: Resample) -> Vec<Taps> {
    let one = f64::from(1u32 << PRECISION_BITS);
    float_taps(in_size, out_size, filter)
        .into_iter()
        .map(|(start, w)| Taps {
            start,
            weights: w
                .into_iter()
                .map(|k| {
                    if k < 0.0 {
                        (-0.5 + k * one) as i32
                    } else {
                        (0.5 + k * one) as i32
                    }
                })
                .collect(),
        })
        .collect()
}

/// One fixed-point dot product, rounded and clipped to 8 bits like Pillow's `clip8`.
fn convolve(taps: &Taps, sample: impl Fn(usize) -> u8) -> u8 {
    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
    for (i, w) in taps.weights.iter().enumerate() {
        acc += i64::from(sample(taps.start + i)) * i64::from(*w);
    }
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an 8-bit RGB image exactly as Pillow 10.4's `Image.resize((width, height), filter)`.
///
/// Separable convolution: the horizontal pass runs first (skipped when the width is
/// unchanged), its result is rounded to 8 bits, then the vertical pass (skipped when the
/// height is unchanged). Downscaling widens the filter by the scale factor (antialiasing).
///
/// ```
/// use mllmu::model::resample::{pillow_resize, Resample};
/// let flat = image::RgbImage::from_pixel(10, 7, image::Rgb([9, 80, 200]));
/// let out = pillow_resize(&flat, 4, 13, Resample::Bicubic)?;
/// assert_eq!(out.dimensions(), (4, 13));
/// assert!(out.pixels().all(|p| p.0 == [9, 80, 200])); // weights sum to one
/// # Ok::<(), mllmu::Error>(())
/// ```
pub fn pillow_resize(
    image: &RgbImage,
    width: u32,
    height: u32,
    filter: Resample,
) -> Result<RgbImage> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 || width == 0 || height == 0 {
        return Err(Error::param(
            "resize",
            format!("{w}x{h} -> {width}x{height}"),
            "image sizes must be at least 1x1",
        ));
    }
    let mut cur = image.clone();
    if width != w {
        let taps = fixed_taps(w as usize, width as usize, filter);
        let src = &cur;
        cur = RgbImage::from_fn(width, h, |x, y| {
            let t = &taps[x as usize];
            image::Rgb(std::array::from_fn(|c| {
                convolve(t, |i| src.get_pixel(i as u32, y).0[c])
            }))
        });
    }
    if height != h {
        let taps = fixed_taps(h as usize, height as usize, filter);
        let src = &cur;
        cur = RgbImage::from_fn(width, height, |x, y| {
            let t = &taps[y as usize];
            image::Rgb(std::array::from_fn(|c| {
                convolve(t, |i| src.get_pixel(x, i as u32).0[c])
            }))
        });
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(start: usize, weights: &[i32]) -> Taps {
        Taps {
            start,
            weights: weights.to_vec(),
        }
    }

    // Hand computation, 4 -> 2 bicubic: scale 2, support 4, taps at distances
    // (x - center + 0.5) / 2 = ±0.25, ±0.75, ±1.25 give 111/128, 111/128, 29/128, -9/128
    // (sum 242/128); normalised 111/242, 111/242, 29/242, -9/242.
    #[test]
    fn downscale_coefficients_match_hand_computation() {
        let taps = float_taps(4, 2, Resample::Bicubic);
        let expect = [[111.0, 111.0, 29.0, -9.0], [-9.0, 29.0, 111.0, 111.0]];
        for (t, e) in taps.iter().zip(expect) {
            assert_eq!(t.0, 0);
            for (a, b) in t.1.iter().zip(e) {
                assert!((a - b / 242.0).abs() < 1e-15, "{a} vs {}", b / 242.0);
            }
        }
        // 111/242·2^22 = 1923833.65 → 1923834; 29/242·2^22 = 502623.21 → 502623;
        // -9/242·2^22 = -155986.51 → -155987 (rounded away from zero)
        let fixed = fixed_taps(4, 2, Resample::Bicubic);
        assert_eq!(fixed[0], want(0, &[1923834, 1923834, 502623, -155987]));
        assert_eq!(fixed[1].weights, vec![-155987, 502623, 1923834, 1923834]);
    }

    // 2 -> 4 bicubic: no widening; output 0 has center 0.25, taps at 0.25 and 1.25:
    // 111/128 and -9/128, normalised 111/102 and -9/102.
    #[test]
    fn upscale_coefficients_and_clipping() {
        let fixed = fixed_taps(2, 4, Resample::Bicubic);
        assert_eq!(fixed[0], want(0, &[4564390, -370086]));
        assert_eq!(fixed[3], want(0, &[-370086, 4564390]));
        // [255, 0] overshoots above 255 at the left end and is clipped
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([if x == 0 { 255 } else { 0 }; 3]));
        let out = pillow_resize(&img, 4, 1, Resample::Bicubic).unwrap();
        assert_eq!(out.get_pixel(0, 0).0[0], 255);
        assert_eq!(out.get_pixel(3, 0).0[0], 0);
        // (2^21 + 255·4564390) >> 22 = 277.5 → clipped; (2^21 + 255·-370086) >> 22 < 0 → 0
    }

    #[test]
    fn fixed_point_rounding_of_a_row() {
        // out0 = (2^21 + 0·c0 + 100·c1 + 200·c2 + 255·c3) >> 22 with the 4 -> 2 weights
        let img = RgbImage::from_fn(4, 1, |x, _| image::Rgb([[0, 100, 200, 255][x as usize]; 3]));
        let out = pillow_resize(&img, 2, 1, Resample::Bicubic).unwrap();
        let acc0: i64 = (1 << 21) + 100 * 1923834 + 200 * 502623 - 255 * 155987;
        let acc1: i64 = (1 << 21) + 100 * 502623 + 200 * 1923834 + 255 * 1923834;
        assert_eq!(i64::from(out.get_pixel(0, 0).0[0]), acc0 >> 22);
        assert_eq!(i64::from(out.get_pixel(1, 0).0[1]), acc1 >> 22);
        // 255228467 >> 22 = 60, 927703922 >> 22 = 221
        assert_eq!(out.get_pixel(0, 0).0, [60; 3]);
        assert_eq!(out.get_pixel(1, 0).0, [221; 3]);
    }

    #[test]
    fn bilinear_halving_averages_pairs() {
        // 4 -> 2 bilinear: support 2, center 1, taps 0..3 at distances 0.25, 0.25, 0.75
        // → 0.75, 0.75, 0.25, normalised 3/7, 3/7, 1/7
        let taps = float_taps(4, 2, Resample::Bilinear);
        assert_eq!(taps[0].0, 0);
        let expect = [3.0 / 7.0, 3.0 / 7.0, 1.0 / 7.0];
        assert_eq!(taps[0].1.len(), 3);
        for (a, b) in taps[0].1.iter().zip(expect) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}
