//! The evaluation prompts of `eval.py`, byte for byte (SPEC.md §3.2–§3.4).
//!
//! The reference's prompts are inconsistent on purpose-free details that still change model
//! outputs, and all of them are kept: classification few-shot examples say `Question:` and
//! `Correct Answer:` while the query ends in `ASSISTANT:`; cloze image examples write
//! `USER:<image>` without a space; the image generation prompt says `accurately` and ends
//! with `"ASSISTANT: "` (trailing space) while the text one does neither and puts the
//! question on the `USER:` line. No prompt ends with a newline.

use crate::bench::{Mcq, Modality, OpenQuestion};

/// The letters of the four options, in order.
pub const OPTION_KEYS: [&str; 4] = ["A", "B", "C", "D"];

/// Instruction ending every classification query.
pub const CLASSIFICATION_INSTRUCTION: &str =
    "Just give ONE letter representing the answer directly.";

/// Instruction appended to every cloze question (few-shot and query alike).
pub const CLOZE_INSTRUCTION: &str =
    "Please **ONLY** provide the correct answer that should replace the [Blank].";

/// `f"{question}\n" + "\n".join(f"{key}: {value}" ...)`: the question and its four options.
///
/// ```
/// use mllmu::bench::Mcq;
/// use mllmu::eval::prompts::question_with_options;
/// let q = Mcq {
///     question: "Where?".into(),
///     options: ["Oslo".into(), "Lima".into(), "Kochi".into(), "Tartu".into()],
///     correct: 'B',
/// };
/// assert_eq!(question_with_options(&q), "Where?\nA: Oslo\nB: Lima\nC: Kochi\nD: Tartu");
/// ```
pub fn question_with_options(q: &Mcq) -> String {
    let options = OPTION_KEYS.iter().zip(&q.options);
    let options: String = options
        .map(|(key, value)| format!("\n{key}: {value}"))
        .collect();
    format!("{}{options}", q.question)
}

/// The `USER:` opener of a classification turn and of the cloze query: `"USER: <image>\n"`
/// or `"USER:\n"`.
fn user(modality: Modality) -> &'static str {
    match modality {
        Modality::ImageTextual => "USER: <image>\n",
        Modality::PureText => "USER:\n",
    }
}

/// One classification few-shot example:
/// `"USER: <image>\nQuestion: {q}\nA: ..\nB: ..\nC: ..\nD: ..\nCorrect Answer: {letter}\n"`
/// (`"USER:\n..."` for pure text).
pub fn classification_example(modality: Modality, shot: &Mcq) -> String {
    let (user, question) = (user(modality), question_with_options(shot));
    format!(
        "{user}Question: {question}\nCorrect Answer: {}\n",
        shot.correct
    )
}

/// A full classification prompt: the few-shot examples in order (no separator), then the
/// query, ending in `"ASSISTANT:"`. Pass no shots for zero-shot (the reference's
/// `retain_celebrity`).
///
/// ```
/// use mllmu::bench::{Mcq, Modality};
/// use mllmu::eval::prompts::classification_prompt;
/// let q = Mcq {
///     question: "Job?".into(),
///     options: ["a".into(), "b".into(), "c".into(), "d".into()],
///     correct: 'A',
/// };
/// assert_eq!(
///     classification_prompt(Modality::PureText, &[], &q),
///     "USER:\nJob?\nA: a\nB: b\nC: c\nD: d\nJust give ONE letter representing the answer directly.\nASSISTANT:"
/// );
/// ```
pub fn classification_prompt(modality: Modality, shots: &[&Mcq], query: &Mcq) -> String {
    let shots: String = shots
        .iter()
        .map(|s| classification_example(modality, s))
        .collect();
    let query = question_with_options(query);
    format!(
        "{shots}{}{query}\n{CLASSIFICATION_INSTRUCTION}\nASSISTANT:",
        user(modality)
    )
}

/// The cloze rewrite: `question.replace("__", "[Blank]") + "\n" + CLOZE_INSTRUCTION`.
///
/// Replacement is left to right without overlap, as Python's: `"___"` becomes `"[Blank]_"`.
///
/// ```
/// use mllmu::eval::prompts::cloze_question;
/// assert!(cloze_question("__ was born in ___.").starts_with("[Blank] was born in [Blank]_.\nPlease"));
/// ```
pub fn cloze_question(question: &str) -> String {
    format!("{}\n{CLOZE_INSTRUCTION}", question.replace("__", "[Blank]"))
}

/// One cloze few-shot example: `"USER:<image>\n{q'}\nCorrect Answer: {gt}\n"` (no space after
/// `USER:`) or `"USER:\n{q'}\nCorrect Answer: {gt}\n"`, with `q'` = [`cloze_question`].
pub fn cloze_example(modality: Modality, shot: &OpenQuestion) -> String {
    let user = match modality {
        Modality::ImageTextual => "USER:<image>\n",
        Modality::PureText => "USER:\n",
    };
    let question = cloze_question(&shot.question);
    format!("{user}{question}\nCorrect Answer: {}\n", shot.ground_truth)
}

/// A full cloze prompt: examples of the query's modality, then
/// `"USER: <image>\n{q'}\nASSISTANT:"` or `"USER:\n{q'}\nASSISTANT:"`.
///
/// ```
/// use mllmu::bench::Modality;
/// use mllmu::eval::prompts::cloze_prompt;
/// let p = cloze_prompt(Modality::ImageTextual, &[], "She lives in __.");
/// assert_eq!(p, "USER: <image>\nShe lives in [Blank].\nPlease **ONLY** provide the correct answer that should replace the [Blank].\nASSISTANT:");
/// ```
pub fn cloze_prompt(modality: Modality, shots: &[&OpenQuestion], question: &str) -> String {
    let shots: String = shots.iter().map(|s| cloze_example(modality, s)).collect();
    let (user, question) = (user(modality), cloze_question(question));
    format!("{shots}{user}{question}\nASSISTANT:")
}

/// The zero-shot generation prompt.
///
/// ```
/// use mllmu::bench::Modality;
/// use mllmu::eval::prompts::generation_prompt;
/// assert!(generation_prompt(Modality::ImageTextual, "Who?").ends_with("ASSISTANT: "));
/// assert!(generation_prompt(Modality::PureText, "Who?").starts_with("USER: Who?\n"));
/// ```
pub fn generation_prompt(modality: Modality, question: &str) -> String {
    match modality {
        Modality::ImageTextual => format!(
            "USER: <image>\n{question}\nAnswer the question based on your trained knowledge in one sentence accurately in ENGLISH.\nASSISTANT: "
        ),
        Modality::PureText => format!(
            "USER: {question}\nAnswer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Modality::*;

    /// A question whose fields are SPEC's placeholder names, so rendering it reproduces the
    /// SPEC template text (the answer letter is a `char`: `B` stands for `{fs_correct_letter}`).
    fn placeholder_choice() -> Mcq {
        Mcq {
            question: "{fs_question}".into(),
            options: ["{fs_A}", "{fs_B}", "{fs_C}", "{fs_D}"].map(String::from),
            correct: 'B',
        }
    }

    #[test]
    fn classification_examples_match_spec_templates() {
        // SPEC §3.2, copied literally.
        let image = "USER: <image>\nQuestion: {fs_question}\nA: {fs_A}\nB: {fs_B}\nC: {fs_C}\nD: {fs_D}\nCorrect Answer: {fs_correct_letter}\n";
        let text = "USER:\nQuestion: {fs_question}\nA: {fs_A}\nB: {fs_B}\nC: {fs_C}\nD: {fs_D}\nCorrect Answer: {fs_correct_letter}\n";
        let letter = |t: &str| t.replace("{fs_correct_letter}", "B");
        assert_eq!(
            classification_example(ImageTextual, &placeholder_choice()),
            letter(image)
        );
        assert_eq!(
            classification_example(PureText, &placeholder_choice()),
            letter(text)
        );
    }

    #[test]
    fn classification_queries_match_spec_templates() {
        let q = Mcq {
            question: "{Q}".into(),
            options: ["{A}".into(), "{B}".into(), "{C}".into(), "{D}".into()],
            correct: 'A',
        };
        assert_eq!(
            question_with_options(&q),
            "{Q}\nA: {A}\nB: {B}\nC: {C}\nD: {D}"
        );
        let image = "USER: <image>\n{Q}\nA: {A}\nB: {B}\nC: {C}\nD: {D}\nJust give ONE letter representing the answer directly.\nASSISTANT:";
        let text = "USER:\n{Q}\nA: {A}\nB: {B}\nC: {C}\nD: {D}\nJust give ONE letter representing the answer directly.\nASSISTANT:";
        assert_eq!(classification_prompt(ImageTextual, &[], &q), image);
        assert_eq!(classification_prompt(PureText, &[], &q), text);
    }

    #[test]
    fn classification_rendered_example_matches_spec() {
        // The rendered example of SPEC §3.2 (one few-shot example).
        let expected = "USER: <image>
Question: What hobby is likely depicted in this image of the person?
A: Coding
B: Painting
C: Playing sports
D: Collecting stamps
Correct Answer: B
USER: <image>
What is this person's primary activity in the image?
A: Working in a tech startup
B: Attending school
C: Painting
D: Playing with a pet
Just give ONE letter representing the answer directly.
ASSISTANT:";
        let shot = Mcq {
            question: "What hobby is likely depicted in this image of the person?".into(),
            options: ["Coding", "Painting", "Playing sports", "Collecting stamps"]
                .map(String::from),
            correct: 'B',
        };
        let query = Mcq {
            question: "What is this person's primary activity in the image?".into(),
            options: [
                "Working in a tech startup".into(),
                "Attending school".into(),
                "Painting".into(),
                "Playing with a pet".into(),
            ],
            correct: 'C',
        };
        assert_eq!(
            classification_prompt(ImageTextual, &[&shot], &query),
            expected
        );
        // Several shots are concatenated with no separator.
        let two = classification_prompt(ImageTextual, &[&shot, &shot], &query);
        assert_eq!(two.matches("Correct Answer: B\nUSER: <image>\n").count(), 2);
    }

    #[test]
    fn cloze_templates_match_spec() {
        let rewritten =
            "{q}\nPlease **ONLY** provide the correct answer that should replace the [Blank].";
        assert_eq!(cloze_question("{q}"), rewritten);
        let shot = OpenQuestion::new("{q}", "{fs_ground_truth}", "Image_Textual");
        // SPEC §3.3 with {fs_q'} expanded.
        assert_eq!(
            cloze_example(ImageTextual, &shot),
            format!("USER:<image>\n{rewritten}\nCorrect Answer: {{fs_ground_truth}}\n")
        );
        assert_eq!(
            cloze_example(PureText, &shot),
            format!("USER:\n{rewritten}\nCorrect Answer: {{fs_ground_truth}}\n")
        );
        let block = cloze_example(ImageTextual, &shot);
        assert_eq!(
            cloze_prompt(ImageTextual, &[&shot], "{q}"),
            format!("{block}USER: <image>\n{rewritten}\nASSISTANT:")
        );
        let block = cloze_example(PureText, &shot);
        assert_eq!(
            cloze_prompt(PureText, &[&shot], "{q}"),
            format!("{block}USER:\n{rewritten}\nASSISTANT:")
        );
    }

    #[test]
    fn cloze_blank_replacement_is_python_replace() {
        assert!(cloze_question("a ___ b").starts_with("a [Blank]_ b\n"));
        assert!(cloze_question("a ____ b").starts_with("a [Blank][Blank] b\n"));
        assert!(cloze_question("a _ b").starts_with("a _ b\n"));
    }

    #[test]
    fn generation_templates_match_spec() {
        assert_eq!(
            generation_prompt(ImageTextual, "{question}"),
            "USER: <image>\n{question}\nAnswer the question based on your trained knowledge in one sentence accurately in ENGLISH.\nASSISTANT: "
        );
        assert_eq!(
            generation_prompt(PureText, "{question}"),
            "USER: {question}\nAnswer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:"
        );
    }
}
