//! Questions per evaluation folder, task and modality, as grouped bars.

use crate::bench::{FolderCounts, Summary};
use crate::plot::figure::{plot_err, Draw, Figure};
use crate::plot::font::FAMILY;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar series: a task and a modality.
struct Series {
    label: &'static str,
    colour: RGBColor,
    values: Vec<usize>,
}

/// The series' labels and colours, in the order of their bars.
const SERIES: [(&str, RGBColor); 6] = [
    ("classification · image", RGBColor(31, 119, 180)),
    ("classification · text", RGBColor(158, 198, 232)),
    ("generation · image", RGBColor(230, 110, 10)),
    ("generation · text", RGBColor(255, 190, 125)),
    ("cloze · image", RGBColor(44, 150, 44)),
    ("cloze · text", RGBColor(152, 223, 138)),
];

struct QuestionCounts {
    sets: Vec<String>,
    series: Vec<Series>,
}

impl Draw for QuestionCounts {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let n = self.sets.len() as f64;
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("Questions per set, task and modality", (FAMILY, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..n, 0f64..max * 1.12)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_desc("questions")
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        let k = self.series.len() as f64;
        let width = 0.8 / k;
        for (j, s) in self.series.iter().enumerate() {
            let colour = s.colour;
            let bars = s.values.iter().enumerate().map(move |(i, &v)| {
                let x0 = i as f64 + 0.1 + j as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v as f64)], colour.filled())
            });
            chart
                .draw_series(bars)
                .map_err(plot_err)?
                .label(s.label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        // Set names under the axis, centred on each group (drawn on the root area).
        let style =
            TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, name) in self.sets.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(name.clone(), (x, y + 8), style.clone()))
                .map_err(plot_err)?;
        }
        crate::plot::style::series_labels(&mut chart)
    }
}

/// Grouped bars: for every evaluation folder of `summary`, the number of classification,
/// generation and cloze questions, image-textual and pure-text side by side.
///
/// Errors if the summary holds no evaluation folder.
pub fn question_counts(summary: &Summary) -> Result<Figure> {
    let mut sets = Vec::new();
    let mut series: Vec<Series> = SERIES
        .iter()
        .map(|&(label, colour)| Series {
            label,
            colour,
            values: vec![],
        })
        .collect();
    let order: Vec<&String> = if summary.order.is_empty() {
        summary.folders.keys().collect()
    } else {
        summary.order.iter().collect()
    };
    for name in order {
        if let Some(FolderCounts::Eval(c)) = summary.folders.get(name) {
            sets.push(name.clone());
            let values = [
                c.classification.image_textual,
                c.classification.pure_text,
                c.generation.image_textual,
                c.generation.pure_text,
                c.cloze.image_textual,
                c.cloze.pure_text,
            ];
            for (s, v) in series.iter_mut().zip(values) {
                s.values.push(v);
            }
        }
    }
    if sets.is_empty() {
        return Err(Error::Plot(
            "question_counts: the summary holds no evaluation folder".into(),
        ));
    }
    let width = (140 + 100 * sets.len() as u32).max(640);
    Figure::render(&QuestionCounts { sets, series }, (width, 460))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{EvalCounts, ModalityCounts, TrainCounts};
    use std::collections::BTreeMap;

    fn summary() -> Summary {
        let counts = |n: usize| {
            let per = |k: usize| ModalityCounts {
                image_textual: k * n,
                pure_text: k * n,
                other: 0,
            };
            EvalCounts {
                rows: n,
                profiles: n,
                images: n,
                classification: per(5),
                generation: per(2),
                cloze: per(2),
            }
        };
        let mut folders = BTreeMap::new();
        folders.insert("Full_Set".to_string(), FolderCounts::Eval(counts(40)));
        folders.insert("forget_5".to_string(), FolderCounts::Eval(counts(2)));
        folders.insert(
            "ft_Data".to_string(),
            FolderCounts::Train(TrainCounts::default()),
        );
        Summary {
            root: "x".into(),
            folders,
            order: vec!["Full_Set".into(), "forget_5".into(), "ft_Data".into()],
        }
    }

    #[test]
    fn svg_has_text_labels_and_one_bar_per_set_and_series() {
        let fig = question_counts(&summary()).unwrap();
        let svg = fig.to_svg();
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap_or("")
                    .split('<')
                    .next()
                    .unwrap_or("")
                    .trim()
            })
            .collect();
        for label in [
            "Full_Set",
            "forget_5",
            "questions",
            "Questions per set, task and modality",
            "cloze · text",
            "200",
        ] {
            assert!(
                texts.contains(&label),
                "missing <text> {label:?} in {texts:?}"
            );
        }
        assert!(
            !texts.contains(&"ft_Data"),
            "training folders have no questions to plot"
        );
        // 2 sets x 6 series bars + 6 legend swatches (+ background rectangles).
        assert!(svg.matches("<rect").count() >= 18);
        assert!(fig.png_bytes().starts_with(b"\x89PNG"));
        let img = image::load_from_memory(fig.png_bytes()).unwrap();
        assert_eq!((img.width(), img.height()), fig.size());
        assert!(fig.to_html().contains("<svg"));
    }

    #[test]
    fn figures_save_atomically_and_empty_summaries_fail() {
        let fig = question_counts(&summary()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        fig.save_svg(dir.path().join("q.svg")).unwrap();
        fig.save_png(dir.path().join("q.png")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("q.svg")).unwrap(),
            fig.to_svg()
        );
        assert_eq!(
            std::fs::read(dir.path().join("q.png")).unwrap(),
            fig.png_bytes()
        );
        let empty = Summary {
            root: String::new(),
            folders: BTreeMap::new(),
            order: vec![],
        };
        assert!(question_counts(&empty)
            .unwrap_err()
            .to_string()
            .contains("no evaluation folder"));
    }
}
