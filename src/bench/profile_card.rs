//! A profile as a person looks at it: the portrait, the facts of the biography, and every
//! question with its answer (the correct option marked), as HTML for notebooks and as text.

use crate::bench::schema::{Mcq, Modality, Profile};
use crate::display::{escape_html, print_evcxr};
use base64::Engine;

impl Profile {
    /// The profile as an HTML card: the portrait inline (a `data:` URI, no file needed),
    /// the biography's facts, and its questions with their answers.
    ///
    /// ```
    /// use mllmu::bench::{Bench, MiniConfig};
    /// let bench = Bench::mini(&MiniConfig { profiles: 4, ..MiniConfig::default() }).unwrap();
    /// let p = &bench.full_set().unwrap().profiles[0];
    /// let html = p.to_html();
    /// assert!(html.contains("data:image/png;base64,"));
    /// let q = &p.classification.image_textual[0].question;
    /// assert!(html.contains(&mllmu::display::escape_html(q)));
    /// ```
    pub fn to_html(&self) -> String {
        let mut s = String::from(
            "<div class=\"mllmu-profile\" style=\"display:flex;gap:16px;align-items:flex-start;font-size:13px\">",
        );
        if let Some(uri) = self.portrait().and_then(|p| p.bytes().ok()).map(|b| {
            format!(
                "data:{};base64,{}",
                mime_of(&b),
                base64::engine::general_purpose::STANDARD.encode(&b)
            )
        }) {
            s.push_str(&format!(
                "<img src=\"{uri}\" alt=\"portrait of profile {}\" style=\"width:128px;image-rendering:pixelated;border:1px solid #ccc\">",
                escape_html(self.id.as_str())
            ));
        }
        s.push_str("<div>");
        s.push_str(&format!(
            "<div style=\"font-weight:bold;font-size:15px\">Profile {}</div>",
            escape_html(self.id.as_str())
        ));
        let facts = self.facts();
        if !facts.is_empty() {
            s.push_str("<table class=\"mllmu\">");
            for (k, v) in &facts {
                s.push_str(&format!(
                    "<tr><th style=\"text-align:left\">{}</th><td>{}</td></tr>",
                    escape_html(k),
                    escape_html(v)
                ));
            }
            s.push_str("</table>");
        }
        s.push_str("<details><summary>questions</summary><ul>");
        for m in Modality::ALL {
            for q in self.classification.get(m) {
                s.push_str(&format!(
                    "<li>[{} · multiple choice] {} <b>{}</b></li>",
                    m.as_str(),
                    escape_html(&q.question),
                    escape_html(&answer_of(q))
                ));
            }
        }
        for (kind, list) in [("generation", &self.generation), ("cloze", &self.cloze)] {
            for q in list {
                s.push_str(&format!(
                    "<li>[{} · {kind}] {} <b>{}</b></li>",
                    escape_html(&q.kind),
                    escape_html(&q.question),
                    escape_html(&q.ground_truth)
                ));
            }
        }
        s.push_str("</ul></details></div></div>");
        s
    }

    /// The biography's facts as `(key, value)` pairs, in the biography's order: the keys of
    /// its JSON object, or one `biography` entry when it is plain text.
    ///
    /// ```
    /// use mllmu::bench::{Bench, MiniConfig};
    /// let bench = Bench::mini(&MiniConfig { profiles: 2, ..MiniConfig::default() }).unwrap();
    /// let facts = bench.full_set().unwrap().profiles[0].facts();
    /// assert_eq!(facts[0].0, "Name", "{facts:?}");
    /// ```
    pub fn facts(&self) -> Vec<(String, String)> {
        let Some(bio) = &self.biography else {
            return Vec::new();
        };
        match serde_json::from_str::<Ordered>(bio) {
            Ok(Ordered(pairs)) => pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
            Err(_) => vec![("biography".into(), bio.clone())],
        }
    }

    /// Rich display in evcxr notebooks: the card of [`Profile::to_html`].
    pub fn evcxr_display(&self) {
        print_evcxr("text/html", &self.to_html());
    }
}

fn answer_of(q: &Mcq) -> String {
    format!("{}. {}", q.correct, q.options[q.correct_index()].as_str())
}

fn mime_of(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    }
}

/// A JSON object's entries in document order (serde_json's map sorts its keys).
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    v.push(entry);
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(Entries)
    }
}
