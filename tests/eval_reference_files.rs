//! The reference output files: exact keys, key order, omission rules and formatting,
//! compared byte for byte with what Python's `json.dump` prints for the same values (the
//! expected texts below were produced with CPython 3.11 `json.dumps(..., indent=4)`).

use mllmu::eval::items::EvalMode;
use mllmu::eval::metrics::TextScores;
use mllmu::eval::reference_files::{
    Accuracy, ClassificationAccuracy, ClozeAccuracy, FinalResults, GenerationAverages,
    GenerationRecord, GenerationResults, SetResults,
};

const FINAL_PY: &str = r#"{
    "Forget Set Results": {
        "fill_in_the_blank": {
            "image_textual_accuracy": 75.0,
            "pure_text_accuracy": 28.26086956521739
        },
        "classification": {
            "Image-Textual Question Accuracy": 49.166666666666664,
            "Pure Text Question Accuracy": 0
        },
        "generation": {
            "Average ROUGE-1 (Image_Textual)": 0.5,
            "Average ROUGE-2 (Image_Textual)": 0.25,
            "Average ROUGE-L (Image_Textual)": 0.5,
            "Average BLEU (Image_Textual)": 1.5e-05
        }
    },
    "Test Set Results": {
        "fill_in_the_blank": {
            "image_textual_accuracy": 0,
            "pure_text_accuracy": 0
        },
        "classification": {
            "Image-Textual Question Accuracy": 0,
            "Pure Text Question Accuracy": 0
        },
        "generation": {}
    },
    "Retain Set (shared dataset) Results": {
        "fill_in_the_blank": {
            "image_textual_accuracy": 0,
            "pure_text_accuracy": 0
        },
        "classification": {
            "Image-Textual Question Accuracy": 0,
            "Pure Text Question Accuracy": 0
        },
        "generation": {}
    },
    "Retain Set (real person) Results": {
        "fill_in_the_blank": {
            "image_textual_accuracy": 0.0,
            "pure_text_accuracy": 100.0
        },
        "classification": {
            "Image-Textual Question Accuracy": 33.33333333333333,
            "Pure Text Question Accuracy": 66.66666666666666
        },
        "generation": {
            "Average ROUGE-1 (Pure_Text)": 1.0,
            "Average ROUGE-2 (Pure_Text)": 0.0,
            "Average ROUGE-L (Pure_Text)": 0.3333333333333333,
            "Average BLEU (Pure_Text)": 0.1778279410038923
        }
    }
}"#;

const GENERATION_PY: &str = r#"{
    "Generation_Questions": [
        {
            "image_id": "001",
            "question type": "Image_Textual",
            "question": "Where was Tobiah born?",
            "generated_answer": "In \u00cdsafj\u00f6r\u00f0ur, Iceland \ud83e\ude81.",
            "ground_truth": "Tobiah was born in 1970 in \u00cdsafj\u00f6r\u00f0ur, Iceland."
        }
    ]
}"#;

fn ts(rouge1: f64, rouge2: f64, rouge_l: f64, bleu: f64) -> TextScores {
    TextScores {
        rouge1,
        rouge2,
        rouge_l,
        bleu,
    }
}

fn sample_results() -> FinalResults {
    let mut r = FinalResults::default();
    *r.section_mut(EvalMode::Forget) = SetResults {
        fill_in_the_blank: ClozeAccuracy {
            image_textual_accuracy: Accuracy::from_counts(3, 4),
            pure_text_accuracy: Accuracy::from_counts(13, 46),
        },
        classification: ClassificationAccuracy {
            image_textual: Accuracy::from_counts(59, 120),
            pure_text: Accuracy::from_counts(0, 0),
        },
        generation: GenerationAverages::from_scores(
            &[ts(1.0, 0.5, 1.0, 3e-5), ts(0.0, 0.0, 0.0, 0.0)],
            &[],
        ),
    };
    *r.section_mut(EvalMode::RetainCelebrity) = SetResults {
        fill_in_the_blank: ClozeAccuracy {
            image_textual_accuracy: Accuracy::from_counts(0, 2),
            pure_text_accuracy: Accuracy::from_counts(2, 2),
        },
        classification: ClassificationAccuracy {
            image_textual: Accuracy::from_counts(1, 3),
            pure_text: Accuracy::from_counts(2, 3),
        },
        generation: GenerationAverages::from_scores(
            &[],
            &[ts(1.0, 0.0, 1.0 / 3.0, 0.1778279410038923)],
        ),
    };
    r
}

#[test]
fn final_results_file_is_byte_identical_to_python() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_results().write(dir.path(), "llava_vanilla").unwrap();
    assert_eq!(
        path,
        dir.path()
            .join("llava_vanilla_final_evaluation_results.json")
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FINAL_PY);
}

#[test]
fn final_results_read_back_distinguishes_empty_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("py_final_evaluation_results.json");
    std::fs::write(&p, FINAL_PY).unwrap();
    let r = FinalResults::read(&p).unwrap();
    assert_eq!(r, sample_results());
    assert_eq!(r.forget.classification.pure_text, Accuracy(None));
    assert_eq!(
        r.retain_celebrity.fill_in_the_blank.image_textual_accuracy,
        Accuracy(Some(0.0))
    );
    assert_eq!(r.test.generation, GenerationAverages::default());
}

#[test]
fn key_order_and_omission_rule() {
    let text = sample_results().to_json().unwrap();
    let sections: Vec<usize> = EvalMode::ALL
        .iter()
        .map(|m| text.find(m.section_name()).unwrap())
        .collect();
    assert!(
        sections.windows(2).all(|w| w[0] < w[1]),
        "sections out of order"
    );
    // Image-only generation: exactly the four image keys, in order.
    let forget = &text[sections[0]..sections[1]];
    let keys = ["ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU"]
        .map(|m| format!("\"Average {m} (Image_Textual)\""));
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| forget.find(k.as_str()).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]));
    assert!(!forget.contains("(Pure_Text)"));
    let a = forget.find("fill_in_the_blank").unwrap();
    let b = forget.find("classification").unwrap();
    let c = forget.find("generation").unwrap();
    assert!(a < b && b < c);
    // Accuracy keys are present even for empty sets.
    let test = &text[sections[1]..sections[2]];
    for k in [
        "image_textual_accuracy",
        "pure_text_accuracy",
        "Image-Textual Question Accuracy",
        "Pure Text Question Accuracy",
    ] {
        assert!(test.contains(&format!("\"{k}\": 0")), "{k}");
    }
}

#[test]
fn generation_dump_is_ascii_escaped_like_python() {
    let dir = tempfile::tempdir().unwrap();
    let results = GenerationResults {
        generation_questions: vec![GenerationRecord {
            image_id: "001".into(),
            question_type: "Image_Textual".into(),
            question: "Where was Tobiah born?".into(),
            generated_answer: "In Ísafjörður, Iceland 🪁.".into(),
            ground_truth: "Tobiah was born in 1970 in Ísafjörður, Iceland.".into(),
        }],
    };
    let path = results.write(dir.path(), EvalMode::Forget).unwrap();
    assert_eq!(path.file_name().unwrap(), "forget_generation_results.json");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), GENERATION_PY);
    let back: GenerationResults = mllmu::io::read_json(&path).unwrap();
    assert_eq!(back, results);
    let empty = GenerationResults::default()
        .write(dir.path(), EvalMode::Test)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(empty).unwrap(),
        "{\n    \"Generation_Questions\": []\n}"
    );
}

#[test]
fn results_display_as_a_table() {
    let r = sample_results();
    let text = r.to_string();
    assert!(
        text.contains("retain_celebrity") && text.contains("49.17"),
        "{text}"
    );
    assert!(r.to_html().contains("<td>forget</td>"));
}
