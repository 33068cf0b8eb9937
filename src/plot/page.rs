//! [`Page`]: one self-contained HTML report (headings, text, tables, inline SVG figures,
//! settings as JSON) that opens in any browser with no server and no other file.

use crate::display::escape_html;
use crate::plot::Figure;
use crate::Result;
use std::path::Path;

/// An HTML page built section by section.
///
/// ```
/// use mllmu::plot::Page;
/// let mut page = Page::new("Unlearning run");
/// page.heading("Scores").text("Forget-set accuracy fell from 92 % to 31 %.");
/// page.json("Settings", &serde_json::json!({"lr": 1e-3}));
/// let html = page.to_html();
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// assert!(html.contains("<h2>Scores</h2>") && html.contains("&quot;lr&quot;"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Page {
    title: String,
    body: Vec<String>,
}

impl Page {
    /// An empty page with a title (shown as the first heading too).
    pub fn new(title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            body: Vec::new(),
        }
    }

    /// A section heading.
    pub fn heading(&mut self, text: &str) -> &mut Page {
        self.body.push(format!("<h2>{}</h2>", escape_html(text)));
        self
    }

    /// A paragraph of plain text (escaped).
    pub fn text(&mut self, text: &str) -> &mut Page {
        self.body.push(format!("<p>{}</p>", escape_html(text)));
        self
    }

    /// Trusted HTML made by mllmu itself, e.g. a table's `to_html()`.
    pub fn html(&mut self, html: String) -> &mut Page {
        self.body.push(html);
        self
    }

    /// A figure, inlined as SVG, with a caption.
    pub fn figure(&mut self, caption: &str, figure: &Figure) -> &mut Page {
        self.body.push(format!(
            "<figure>{}<figcaption>{}</figcaption></figure>",
            figure.to_svg(),
            escape_html(caption)
        ));
        self
    }

    /// A collapsible block of pretty-printed JSON (settings, manifests).
    pub fn json(&mut self, caption: &str, value: &serde_json::Value) -> &mut Page {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| e.to_string());
        self.body.push(format!(
            "<details><summary>{}</summary><pre>{}</pre></details>",
            escape_html(caption),
            escape_html(&text)
        ));
        self
    }

    /// The whole document.
    pub fn to_html(&self) -> String {
        let title = escape_html(&self.title);
        let body: String = self.body.iter().map(|part| format!("{part}\n")).collect();
        format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>{STYLE}</head><body><h1>{title}</h1>{body}</body></html>\n")
    }

    /// Writes the page (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_atomic(path.as_ref(), self.to_html().as_bytes())
    }

    /// Rich display in evcxr notebooks (the body, without the document head).
    pub fn evcxr_display(&self) {
        crate::display::print_evcxr("text/html", &crate::display::html_block(&self.body));
    }
}

const STYLE: &str = "<style>\
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1240px;margin:24px auto;padding:0 16px;color:#222}\
h1{font-size:26px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ddd}\
table.mllmu{margin:8px 0;font-size:13px}table.mllmu td,table.mllmu th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
table.mllmu td:first-child,table.mllmu th:first-child{text-align:left}\
figure{margin:12px 0}figure svg{max-width:100%;height:auto}figcaption{font-size:13px;color:#555}\
pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}\
</style>";
