//! Procedurally drawn portraits: a face from a [`Look`] (skin, hair colour and style, eyes,
//! face shape, background, accessory), and the three Test_Set transforms (mirror, crop,
//! colour shift).

use image::{Rgb, RgbImage};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Portrait side in pixels.
pub(crate) const SIZE: u32 = 80;

const SKIN: [[u8; 3]; 6] = [
    [255, 224, 196],
    [241, 194, 150],
    [224, 172, 105],
    [198, 134, 66],
    [141, 85, 36],
    [94, 56, 30],
];
const HAIR: [(&str, [u8; 3]); 6] = [
    ("black", [25, 22, 20]),
    ("dark brown", [70, 42, 25]),
    ("chestnut", [130, 70, 35]),
    ("blond", [225, 190, 110]),
    ("silver-grey", [185, 185, 190]),
    ("copper-red", [190, 80, 30]),
];
const STYLES: [&str; 5] = ["short", "long", "curly", "tied-back", "shaved"];
const EYES: [(&str, [u8; 3]); 4] = [
    ("brown", [90, 55, 25]),
    ("blue", [50, 110, 200]),
    ("green", [50, 140, 70]),
    ("grey", [120, 125, 130]),
];
const ACCESSORIES: [&str; 5] = [
    "no accessories",
    "round glasses",
    "a wide-brimmed hat",
    "gold earrings",
    "a green scarf",
];

/// How a person is drawn; [`Look::describe`] turns it into the appearance fact.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Look {
    skin: usize,
    hair: usize,
    style: usize,
    eyes: usize,
    accessory: usize,
    /// Face half-width and half-height in pixels.
    face: (f32, f32),
    /// Background colour.
    background: [u8; 3],
    /// Horizontal offset of the face.
    shift: i32,
}

impl Look {
    /// A random look.
    pub(crate) fn random(rng: &mut ChaCha8Rng) -> Look {
        Look {
            skin: rng.gen_range(0..SKIN.len()),
            hair: rng.gen_range(0..HAIR.len()),
            style: rng.gen_range(0..STYLES.len()),
            eyes: rng.gen_range(0..EYES.len()),
            accessory: rng.gen_range(0..ACCESSORIES.len()),
            face: (rng.gen_range(17.0..23.0), rng.gen_range(22.0..28.0)),
            background: std::array::from_fn(|_| rng.gen_range(40..230)),
            shift: *[-3, -2, -1, 0, 1, 2, 3].choose(rng).unwrap_or(&0),
        }
    }

    /// The appearance sentence fragment, e.g. `long chestnut hair, green eyes and round glasses`.
    pub(crate) fn describe(&self) -> String {
        let hair = if STYLES[self.style] == "shaved" {
            "a shaved head".to_string()
        } else {
            format!("{} {} hair", STYLES[self.style], HAIR[self.hair].0)
        };
        format!(
            "{hair}, {} eyes and {}",
            EYES[self.eyes].0, ACCESSORIES[self.accessory]
        )
    }

    /// Draws the portrait.
    pub(crate) fn draw(&self) -> RgbImage {
        let s = SIZE as f32;
        let cx = s / 2.0 + self.shift as f32;
        let cy = s * 0.55;
        let (fw, fh) = self.face;
        let skin = Rgb(SKIN[self.skin]);
        let hair = Rgb(HAIR[self.hair].1);
        let eye = Rgb(EYES[self.eyes].1);
        let bg = self.background;
        let style = STYLES[self.style];
        let accessory = ACCESSORIES[self.accessory];
        let mut img = RgbImage::from_fn(SIZE, SIZE, |x, y| {
            // Light from the upper left: the background darkens down and to the right, so no
            // portrait is its own mirror image.
            let k = 1.0 - 0.3 * y as f32 / s - 0.2 * x as f32 / s;
            Rgb(bg.map(|c| (c as f32 * k) as u8))
        });
        let inside = |x: f32, y: f32, ex: f32, ey: f32, rx: f32, ry: f32| {
            let (dx, dy) = ((x - ex) / rx, (y - ey) / ry);
            dx * dx + dy * dy <= 1.0
        };
        let shoulders = Rgb([bg[2] / 2 + 40, bg[0] / 2 + 30, bg[1] / 2 + 50]);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                // Shoulders and neck.
                if inside(fx, fy, cx, s + 8.0, fw * 1.9, 22.0) {
                    img.put_pixel(x, y, shoulders);
                }
                if (fx - cx).abs() < fw * 0.4 && fy > cy && fy < s - 10.0 {
                    img.put_pixel(x, y, skin);
                }
                // Long hair falls behind the face.
                if style == "long"
                    && inside(fx, fy, cx, cy + 4.0, fw + 6.0, fh + 8.0)
                    && fy > cy - fh
                {
                    img.put_pixel(x, y, hair);
                }
                if inside(fx, fy, cx, cy, fw, fh) {
                    img.put_pixel(x, y, skin);
                }
                let top = fy < cy - fh * 0.45;
                let hairline = inside(fx, fy, cx, cy - 4.0, fw + 2.0, fh + 1.5) && top;
                match style {
                    "short" | "long" if hairline => img.put_pixel(x, y, hair),
                    "curly"
                        if inside(fx, fy, cx, cy - 6.0, fw + 5.0, fh + 3.0)
                            && (top || !inside(fx, fy, cx, cy, fw, fh))
                            && fy < cy + 4.0 =>
                    {
                        // Curls: a checker of lighter and darker hair.
                        let c = if (x / 2 + y / 2) % 2 == 0 {
                            hair
                        } else {
                            Rgb(hair.0.map(|v| v.saturating_add(35)))
                        };
                        img.put_pixel(x, y, c);
                    }
                    "tied-back" if hairline || inside(fx, fy, cx, cy - fh - 4.0, 6.0, 5.0) => {
                        img.put_pixel(x, y, hair)
                    }
                    _ => {}
                }
                // Eyes, brows and mouth.
                for ex in [cx - fw * 0.4, cx + fw * 0.4] {
                    if inside(fx, fy, ex, cy - 2.0, 3.2, 2.2) {
                        img.put_pixel(x, y, Rgb([250, 250, 250]));
                    }
                    if inside(fx, fy, ex, cy - 2.0, 1.6, 1.6) {
                        img.put_pixel(x, y, eye);
                    }
                    if (fx - ex).abs() < 3.5 && (fy - (cy - 6.5)).abs() < 0.8 && style != "shaved" {
                        img.put_pixel(x, y, hair);
                    }
                    if accessory == "round glasses" {
                        let d = ((fx - ex).powi(2) + (fy - cy + 2.0).powi(2)).sqrt();
                        if (d - 5.0).abs() < 0.7 {
                            img.put_pixel(x, y, Rgb([30, 30, 30]));
                        }
                    }
                    if accessory == "gold earrings"
                        && inside(fx, fy, cx + (ex - cx) * 2.55, cy + 6.0, 1.8, 1.8)
                    {
                        img.put_pixel(x, y, Rgb([230, 190, 40]));
                    }
                }
                if (fx - cx).abs() < fw * 0.35 && (fy - (cy + fh * 0.5)).abs() < 1.0 {
                    img.put_pixel(x, y, Rgb([170, 60, 60]));
                }
                if accessory == "a wide-brimmed hat"
                    && ((fy > cy - fh - 1.0 && fy < cy - fh + 3.0 && (fx - cx).abs() < fw + 9.0)
                        || inside(fx, fy, cx, cy - fh, fw * 0.8, 9.0) && fy < cy - fh + 1.0)
                {
                    img.put_pixel(x, y, Rgb([60, 45, 90]));
                }
                if accessory == "a green scarf"
                    && fy > cy + fh - 2.0
                    && fy < cy + fh + 5.0
                    && (fx - cx).abs() < fw * 0.9
                {
                    img.put_pixel(x, y, Rgb([40, 150, 80]));
                }
            }
        }
        img
    }
}

/// Mirror image (Test_Set pose 1).
pub(crate) fn mirror(img: &RgbImage) -> RgbImage {
    image::imageops::flip_horizontal(img)
}

/// A zoomed crop resized back to full size (Test_Set pose 2).
pub(crate) fn crop(img: &RgbImage, rng: &mut ChaCha8Rng) -> RgbImage {
    let side = SIZE * 3 / 4;
    let x0 = rng.gen_range(0..=SIZE - side);
    let y0 = rng.gen_range(0..=SIZE - side);
    let cut = image::imageops::crop_imm(img, x0, y0, side, side).to_image();
    image::imageops::resize(&cut, SIZE, SIZE, image::imageops::FilterType::Triangle)
}

/// A per-channel colour shift (Test_Set pose 3).
pub(crate) fn colour_shift(img: &RgbImage, rng: &mut ChaCha8Rng) -> RgbImage {
    let mut one = || -> i16 { rng.gen_range(15..=50) * if rng.gen_bool(0.5) { 1 } else { -1 } };
    let shift: [i16; 3] = [one(), one(), one()];
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for (v, s) in p.0.iter_mut().zip(shift) {
            *v = (*v as i16 + s).clamp(0, 255) as u8;
        }
    }
    out
}

/// PNG bytes of an image.
pub(crate) fn png(img: &RgbImage) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| crate::Error::Image {
            file: "<mini>".into(),
            profile: String::new(),
            column: "image".into(),
            reason: format!("cannot encode as PNG: {e}"),
            source: Some(Box::new(e)),
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn looks_draw_differently_and_transforms_change_pixels() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = Look::random(&mut rng).draw();
        let b = Look::random(&mut rng).draw();
        assert_ne!(a, b);
        assert_eq!(a.dimensions(), (SIZE, SIZE));
        assert_eq!(mirror(&a).get_pixel(0, 40), a.get_pixel(SIZE - 1, 40));
        assert_ne!(crop(&a, &mut rng), a);
        assert_ne!(colour_shift(&a, &mut rng), a);
    }

    #[test]
    fn description_mentions_the_drawn_features() {
        let look = Look {
            skin: 0,
            hair: 2,
            style: 1,
            eyes: 2,
            accessory: 1,
            face: (20.0, 25.0),
            background: [100; 3],
            shift: 0,
        };
        assert_eq!(
            look.describe(),
            "long chestnut hair, green eyes and round glasses"
        );
    }
}
