//! Image preprocessing parity with transformers 4.45.1 + Pillow 10.4 on the fixture images.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use mllmu::model::processor::{pillow_resize, ImageProcessor, Resample};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llava")
}

fn reference() -> HashMap<String, Tensor> {
    let path = model_dir().join("reference/ref_logits.safetensors");
    candle_core::safetensors::load(path, &Device::Cpu).expect("reference tensors")
}

fn load_image(name: &str) -> image::DynamicImage {
    image::open(model_dir().join("reference").join(name)).expect("fixture image")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    a.sub(b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Every case's pixel values: (tensor name, images in batch order).
const CASES: [(&str, &[&str]); 3] = [
    ("image.pixel_values", &["ref_image.png"]),
    (
        "multi_image.pixel_values",
        &["ref_image2.png", "ref_image.png"],
    ),
    ("image_eval_gen_prompt.pixel_values", &["ref_image2.png"]),
];

#[test]
fn pixel_values_match_reference_exactly() {
    let proc = ImageProcessor::from_dir(model_dir()).unwrap();
    let refs = reference();
    let mut worst = 0f32;
    for (name, files) in CASES {
        let images: Vec<_> = files.iter().map(|f| load_image(f)).collect();
        let got = proc
            .preprocess_batch_dynamic(&images, &Device::Cpu)
            .unwrap();
        let want = &refs[name];
        assert_eq!(got.dims(), want.dims(), "{name}");
        let diff = max_abs_diff(&got, want);
        eprintln!("{name}: max abs diff {diff:e}");
        worst = worst.max(diff);
    }
    // exact replica of Pillow's fixed-point resampler and numpy's f64/f32 arithmetic
    assert_eq!(worst, 0.0, "max abs pixel difference {worst:e}");
}

#[test]
fn single_image_path_equals_batch_path() {
    let proc = ImageProcessor::from_dir(model_dir()).unwrap();
    let img = load_image("ref_image.png").to_rgb8();
    let chw = proc.preprocess(&img).unwrap();
    let want: Vec<f32> = reference()["image.pixel_values"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(chw, want);
}

#[test]
fn fixture_images_take_both_resize_paths() {
    let proc = ImageProcessor::from_dir(model_dir()).unwrap();
    // landscape 133×91 downscales, portrait 37×61 upscales
    assert_eq!(proc.resized_size(133, 91), (61, 42));
    assert_eq!(proc.resized_size(37, 61), (42, 69));
    let img = load_image("ref_image2.png").to_rgb8();
    let up = pillow_resize(&img, 42, 69, Resample::Bicubic).unwrap();
    assert_eq!(up.dimensions(), (42, 69));
    // bilinear is a different filter: same size, different pixels
    let bl = pillow_resize(&img, 42, 69, Resample::Bilinear).unwrap();
    assert_ne!(up, bl);
}

#[test]
fn config_fields_are_read() {
    let proc = ImageProcessor::from_dir(model_dir()).unwrap();
    assert_eq!(proc.crop_size.height, 42);
    assert_eq!(proc.resample, Resample::Bicubic);
    assert_eq!(proc.rescale_factor, 0.00392156862745098);
    assert_eq!(proc.image_std[2], 0.27577711f64 as f32);
    // the defaults are the same OpenAI CLIP values
    assert_eq!(proc.image_mean, ImageProcessor::default().image_mean);
}

#[test]
fn missing_config_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = ImageProcessor::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, mllmu::Error::MissingFile { .. }));
    assert!(
        err.to_string().contains("preprocessor_config.json"),
        "{err}"
    );
}

#[test]
fn batch_rejects_empty_and_mixed_sizes() {
    let proc = ImageProcessor {
        do_center_crop: false,
        ..ImageProcessor::from_dir(model_dir()).unwrap()
    };
    assert!(proc.preprocess_batch(&[], &Device::Cpu).is_err());
    let a = load_image("ref_image.png").to_rgb8();
    let b = load_image("ref_image2.png").to_rgb8();
    let err = proc.preprocess_batch(&[a, b], &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("images[1]"), "{err}");
}

#[test]
fn grey_and_rgba_inputs_convert_like_pil() {
    let proc = ImageProcessor::from_dir(model_dir()).unwrap();
    let rgb = load_image("ref_image.png").to_rgb8();
    // RGBA: alpha dropped (PIL convert("RGB") does not composite)
    let rgba = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(
        rgb.width(),
        rgb.height(),
        |x, y| {
            let p = rgb.get_pixel(x, y).0;
            image::Rgba([p[0], p[1], p[2], (x * 7 % 256) as u8])
        },
    ));
    assert_eq!(
        proc.preprocess_dynamic(&rgba).unwrap(),
        proc.preprocess(&rgb).unwrap()
    );
    // grey: replicated into 3 equal channels before normalisation
    let grey =
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(50, 50, image::Luma([128])));
    let out = proc.preprocess_dynamic(&grey).unwrap();
    let plane = 42 * 42;
    let v = 128.0f64 * (1.0 / 255.0);
    assert_eq!(
        out[0],
        (v as f32 - 0.48145466f64 as f32) / 0.26862954f64 as f32
    );
    assert_eq!(
        out[2 * plane],
        (v as f32 - 0.40821073f64 as f32) / 0.27577711f64 as f32
    );
    let strict = ImageProcessor {
        do_convert_rgb: false,
        ..proc
    };
    assert!(strict.preprocess_dynamic(&grey).is_err());
}
