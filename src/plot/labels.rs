//! Placing point labels in pixel space so they cover neither each other nor the points and
//! whiskers: each label tries the four diagonal spots around its point (up-right first),
//! then the same spots further out, and takes the first with the fewest overlaps.

/// An axis-aligned pixel box: left, top, right, bottom.
pub(crate) type PixelBox = (i32, i32, i32, i32);

/// Gap between a point and the corner of its label, in pixels.
const GAP: i32 = 9;

/// How far each further try moves out, in pixels.
const STEP: i32 = 17;

fn overlaps(a: PixelBox, b: PixelBox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

fn inside(a: PixelBox, bounds: PixelBox) -> bool {
    a.0 >= bounds.0 && a.1 >= bounds.1 && a.2 <= bounds.2 && a.3 <= bounds.3
}

/// The box of each label: `anchors[i]` is point `i` in pixels, `sizes[i]` its label's width
/// and height, `obstacles` what labels should not cover (markers, whiskers), `bounds` the
/// plotting area. Labels are placed in order; a later one avoids the earlier ones.
pub(crate) fn place_labels(
    anchors: &[(i32, i32)],
    sizes: &[(i32, i32)],
    obstacles: &[PixelBox],
    bounds: PixelBox,
) -> Vec<PixelBox> {
    let mut placed: Vec<PixelBox> = Vec::with_capacity(anchors.len());
    for (&(x, y), &(w, h)) in anchors.iter().zip(sizes) {
        let mut best: Option<(usize, PixelBox)> = None;
        'tries: for level in 0..4 {
            let d = GAP + level * STEP;
            for (sx, sy) in [(1, -1), (-1, -1), (1, 1), (-1, 1)] {
                let left = if sx > 0 { x + GAP } else { x - GAP - w };
                let top = if sy < 0 { y - d - h } else { y + d };
                let b = (left, top, left + w, top + h);
                let cost = 100 * usize::from(!inside(b, bounds))
                    + 10 * placed.iter().filter(|&&p| overlaps(b, p)).count()
                    + obstacles.iter().filter(|&&o| overlaps(b, o)).count();
                if best.is_none_or(|(c, _)| cost < c) {
                    best = Some((cost, b));
                }
                if cost == 0 {
                    break 'tries;
                }
            }
        }
        placed.extend(best.map(|(_, b)| b));
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: PixelBox = (0, 0, 400, 300);

    #[test]
    fn a_free_label_sits_up_right_of_its_point() {
        let b = place_labels(&[(100, 100)], &[(40, 14)], &[], BOUNDS);
        assert_eq!(b, vec![(109, 77, 149, 91)]);
    }

    #[test]
    fn labels_of_the_same_point_do_not_overlap_and_stay_inside() {
        let b = place_labels(
            &[(390, 100), (390, 100), (390, 100)],
            &[(60, 14); 3],
            &[],
            BOUNDS,
        );
        for (i, &x) in b.iter().enumerate() {
            assert!(inside(x, BOUNDS), "{x:?}");
            for &y in &b[..i] {
                assert!(!overlaps(x, y), "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn labels_avoid_obstacles() {
        let blocked = (100, 50, 200, 100);
        let b = place_labels(&[(100, 100)], &[(40, 14)], &[blocked], BOUNDS);
        assert!(!overlaps(b[0], blocked), "{:?}", b[0]);
    }
}
