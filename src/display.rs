//! Rich output for the evcxr Jupyter kernel, in one place.
//!
//! evcxr shows a cell's last expression through an inherent `evcxr_display(&self)` method,
//! which prints `EVCXR_BEGIN_CONTENT <mime>\n...\nEVCXR_END_CONTENT`. All blocks of one cell
//! merge into one bundle keyed by MIME type, so every mllmu value prints exactly one
//! `text/html` block (tables, inline SVG figures) and never panics: a failure becomes a
//! message inside the HTML.
//!
//! Text tables follow polars: a title with counts, a header, and the head and tail around
//! an ellipsis row when there are more than [`max_rows`] rows.

/// Rows shown by default before eliding the middle (head + tail). Ten rows fit a notebook
/// cell without scrolling; set `MLLMU_FMT_MAX_ROWS` to change it.
pub const DEFAULT_MAX_ROWS: usize = 10;

/// The row limit in effect: `MLLMU_FMT_MAX_ROWS` if set and valid, else [`DEFAULT_MAX_ROWS`].
///
/// ```
/// assert!(mllmu::display::max_rows() >= 1);
/// ```
pub fn max_rows() -> usize {
    std::env::var("MLLMU_FMT_MAX_ROWS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n >= 2)
        .unwrap_or(DEFAULT_MAX_ROWS)
}

/// Prints one evcxr rich-output block.
pub fn print_evcxr(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attributes.
///
/// ```
/// assert_eq!(mllmu::display::escape_html("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
/// ```
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A plain table: a title, column names and rows of cells, rendered as text or HTML.
///
/// ```
/// use mllmu::display::Table;
/// let t = Table::new("sets", ["set", "rows"]).row(["forget_5", "25"]);
/// assert!(t.to_string().contains("forget_5"));
/// assert!(t.to_html().contains("<td>25</td>"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Shown above the table.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row-major.
    pub rows: Vec<Vec<String>>,
    /// Show every row, whatever [`max_rows`] says (report pages, files).
    pub show_all: bool,
}

impl Table {
    /// A table with a title and column names.
    pub fn new<I, S>(title: impl Into<String>, header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table {
            title: title.into(),
            header: header.into_iter().map(Into::into).collect(),
            ..Table::default()
        }
    }

    /// The same table showing every row (for report pages and files).
    ///
    /// ```
    /// let mut t = mllmu::display::Table::new("", ["i"]);
    /// for i in 0..500 { t.push([i.to_string()]); }
    /// assert!(t.to_html().contains('…'));
    /// assert!(!t.all_rows().to_html().contains('…'));
    /// ```
    pub fn all_rows(mut self) -> Self {
        self.show_all = true;
        self
    }

    /// Appends a row.
    pub fn row<I, S>(mut self, cells: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push(cells);
        self
    }

    /// Appends a row in place.
    pub fn push<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Indices of the rows to show, `None` marking the ellipsis.
    fn visible(&self) -> Vec<Option<usize>> {
        let n = self.rows.len();
        let max = max_rows();
        if n <= max || self.show_all {
            return (0..n).map(Some).collect();
        }
        let head = max.div_ceil(2);
        let tail = max - head;
        let mut v: Vec<Option<usize>> = (0..head).map(Some).collect();
        v.push(None);
        v.extend((n - tail..n).map(Some));
        v
    }

    /// A GitHub-flavoured Markdown table (every row; `|` escaped).
    ///
    /// ```
    /// let t = mllmu::display::Table::new("", ["a", "b"]).row(["1", "x|y"]);
    /// assert_eq!(t.to_markdown(), "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
    /// ```
    pub fn to_markdown(&self) -> String {
        let line = |cells: &[String]| {
            let c: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", c.join(" | "))
        };
        let mut s = line(&self.header);
        s.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        s.extend(self.rows.iter().map(|r| line(r)));
        s
    }

    /// A LaTeX `tabular` (booktabs rules; `& % _ # $` escaped), every row.
    ///
    /// ```
    /// let t = mllmu::display::Table::new("", ["method", "forget_MC"]).row(["GA", "31.0 %"]);
    /// let tex = t.to_latex();
    /// assert!(tex.contains("method & forget\\_MC \\\\"));
    /// assert!(tex.contains("GA & 31.0 \\% \\\\"));
    /// ```
    pub fn to_latex(&self) -> String {
        let esc = |c: &String| -> String {
            let escaped = |ch| "&%_#$".contains(ch).then_some('\\').into_iter().chain([ch]);
            c.chars().flat_map(escaped).collect()
        };
        let line = |cells: &[String]| {
            format!(
                "{} \\\\\n",
                cells.iter().map(esc).collect::<Vec<_>>().join(" & ")
            )
        };
        let mut s = format!(
            "\\begin{{tabular}}{{l{}}}\n\\toprule\n",
            "r".repeat(self.header.len().saturating_sub(1))
        );
        s.push_str(&line(&self.header));
        s.push_str("\\midrule\n");
        s.extend(self.rows.iter().map(|r| line(r)));
        s.push_str("\\bottomrule\n\\end{tabular}\n");
        s
    }

    /// Rich display in evcxr notebooks (the table of [`Table::to_html`]).
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }

    /// One `text/html` table (with a caption) for notebooks.
    pub fn to_html(&self) -> String {
        let mut s = String::from("<table class=\"mllmu\" style=\"border-collapse:collapse\">");
        if !self.title.is_empty() {
            s.push_str(&format!(
                "<caption style=\"text-align:left;font-weight:bold\">{}</caption>",
                escape_html(&self.title)
            ));
        }
        s.push_str("<thead><tr>");
        for h in &self.header {
            s.push_str(&format!("<th>{}</th>", escape_html(h)));
        }
        s.push_str("</tr></thead><tbody>");
        let ellipsis = vec!["…".to_string(); self.header.len()];
        for r in self.visible() {
            s.push_str("<tr>");
            for c in r.map_or(&ellipsis, |i| &self.rows[i]) {
                s.push_str(&format!("<td>{}</td>", escape_html(c)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
        s
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cols = self.header.len();
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        if !self.title.is_empty() {
            writeln!(f, "{} ({} rows)", self.title, self.rows.len())?;
        }
        let line = |f: &mut std::fmt::Formatter<'_>, cells: &[String]| -> std::fmt::Result {
            let cell = |i: usize| cells.get(i).map_or("", String::as_str);
            let parts: Vec<String> = (width.iter().enumerate())
                .map(|(i, w)| format!("{:<w$}", cell(i)))
                .collect();
            writeln!(f, "{}", parts.join("  ").trim_end())
        };
        line(f, &self.header)?;
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &rule)?;
        for r in self.visible() {
            match r {
                Some(i) => line(f, &self.rows[i])?,
                None => line(f, &vec!["…".to_string(); cols])?,
            }
        }
        Ok(())
    }
}

/// Wraps HTML fragments (tables, inline `<svg>`, `<img>`) into one block for a cell.
///
/// ```
/// let html = mllmu::display::html_block(&["<p>a</p>".into(), "<p>b</p>".into()]);
/// assert!(html.starts_with("<div"));
/// ```
pub fn html_block(parts: &[String]) -> String {
    format!("<div class=\"mllmu-output\">{}</div>", parts.concat())
}

/// An error rendered as HTML, for a display method that must not panic.
pub fn html_error(what: &str, err: &dyn std::fmt::Display) -> String {
    format!(
        "<pre style=\"color:#b00\">mllmu: cannot display {}: {}</pre>",
        escape_html(what),
        escape_html(&err.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tables_elide_the_middle() {
        let mut t = Table::new("t", ["i"]);
        for i in 0..100 {
            t.push([i.to_string()]);
        }
        let text = t.to_string();
        assert!(text.contains("…"));
        assert!(text.contains("\n0\n") && text.contains("\n99\n"));
        assert!(!text.contains("\n50\n"));
        assert_eq!(
            t.to_html().matches("<tr>").count(),
            1 + DEFAULT_MAX_ROWS + 1
        );
    }

    #[test]
    fn html_is_escaped() {
        let t = Table::new("<x>", ["a"]).row(["<script>"]);
        assert!(!t.to_html().contains("<script>"));
    }
}
