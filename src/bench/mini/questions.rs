//! Questions and answers generated from [`Facts`]: classification (4 options, distractors
//! from other values of the same fact), generation, cloze (`__` blanks), the description
//! pair and the fine-tuning pairs. Each template has a paraphrase, used by `Test_Set`.

use crate::bench::mini::facts::{distractors, Fact, Facts};
use crate::bench::{Classification, Mcq, Modality, OpenQuestion, QaPair};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Who a sentence is about: "this person" with the image, the name without it.
pub(crate) struct Subject {
    pub(crate) plain: String,
    pub(crate) possessive: String,
}

pub(crate) fn subject(facts: &Facts, m: Modality) -> Subject {
    match m {
        Modality::ImageTextual => Subject {
            plain: "this person".into(),
            possessive: "this person's".into(),
        },
        Modality::PureText => Subject {
            plain: facts.name.clone(),
            possessive: format!("{}'s", facts.name),
        },
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A question about one fact; `variant` 0 is the Full_Set wording, 1 the paraphrase
/// (Test_Set), 2 the fine-tuning wording (`ft_Data` only, so that no evaluation question is
/// ever a training question).
pub(crate) fn question(f: Fact, s: &Subject, variant: usize) -> String {
    let (p, q) = (&s.plain, &s.possessive);
    let text = match (f, variant) {
        (Fact::BirthYear, 0) => format!("In which year was {p} born?"),
        (Fact::BirthYear, 1) => format!("What is the birth year of {p}?"),
        (Fact::BirthYear, _) => format!("Tell me the year {p} was born."),
        (Fact::Birthplace, 0) => format!("Where was {p} born?"),
        (Fact::Birthplace, 1) => format!("What is the birthplace of {p}?"),
        (Fact::Birthplace, _) => format!("Which place is {p} from?"),
        (Fact::Job, 0) => format!("What is {q} profession?"),
        (Fact::Job, 1) => format!("What does {p} do for a living?"),
        (Fact::Job, _) => format!("What job does {p} have?"),
        (Fact::Employer, 0) => format!("Which organisation does {p} work for?"),
        (Fact::Employer, 1) => format!("Who employs {p}?"),
        (Fact::Employer, _) => format!("Where does {p} work?"),
        (Fact::Education, 0) => format!("Where did {p} study?"),
        (Fact::Education, 1) => format!("Which institution did {p} graduate from?"),
        (Fact::Education, _) => format!("Which university did {p} attend?"),
        (Fact::Hobby, 0) => format!("What is {q} favourite hobby?"),
        (Fact::Hobby, 1) => format!("What does {p} enjoy doing in their free time?"),
        (Fact::Hobby, _) => format!("What does {p} like to do for fun?"),
        (Fact::Family, 0) => format!("What is {q} family situation?"),
        (Fact::Family, 1) => format!("How would you describe the family of {p}?"),
        (Fact::Family, _) => format!("Tell me about {q} family."),
        (Fact::Appearance, 0) => format!("How would you describe {q} appearance?"),
        (Fact::Appearance, 1) => format!("What does {p} look like?"),
        (Fact::Appearance, _) => format!("Describe how {p} looks."),
    };
    capitalise(&text)
}

/// A one-sentence answer stating a fact.
pub(crate) fn sentence(f: Fact, facts: &Facts, s: &Subject) -> String {
    let p = &s.plain;
    let v = facts.value(f);
    let text = match f {
        Fact::BirthYear => format!("{p} was born in {v}."),
        Fact::Birthplace => format!("{p} was born in {v}."),
        Fact::Job => format!("{p} works as {} {v}.", article(&v)),
        Fact::Employer => format!("{p} works for {v}."),
        Fact::Education => format!("{p} studied at {v}."),
        Fact::Hobby => format!("{p} enjoys {v}."),
        Fact::Family => format!("{p} is {v}."),
        Fact::Appearance => format!("{p} has {v}."),
    };
    capitalise(&text)
}

/// A cloze sentence with a `__` blank where the fact goes; the paraphrases often start with it.
fn cloze(f: Fact, s: &Subject, variant: usize) -> String {
    let (p, q) = (&s.plain, &s.possessive);
    let text = match (f, variant) {
        (Fact::BirthYear, 0) => format!("{p} was born in the year __."),
        (Fact::BirthYear, _) => format!("__ is the year in which {p} was born."),
        (Fact::Birthplace, 0) => format!("{p} was born in __."),
        (Fact::Birthplace, _) => format!("The birthplace of {p} is __."),
        (Fact::Job, 0) => format!("{q} profession is __."),
        (Fact::Job, _) => format!("__ is {q} profession."),
        (Fact::Employer, 0) => format!("{p} works for __."),
        (Fact::Employer, _) => format!("The employer of {p} is __."),
        (Fact::Education, 0) => format!("{p} studied at __."),
        (Fact::Education, _) => format!("{p} graduated from __."),
        (Fact::Hobby, 0) => format!("{q} favourite hobby is __."),
        (Fact::Hobby, _) => format!("__ is {q} favourite pastime."),
        (Fact::Family, 0) => format!("In terms of family, {p} is __."),
        (Fact::Family, _) => format!("{q} family life can be summed up as __."),
        (Fact::Appearance, 0) => format!("{p} has __."),
        (Fact::Appearance, _) => format!("In appearance, {p} has __."),
    };
    capitalise(&text)
}

/// The facts each task asks about, drawn once per person and shared by both wordings.
pub(crate) struct Plan {
    mcq: Vec<(Modality, Fact, [String; 4], char)>,
    generation: Vec<(Modality, Fact)>,
    cloze: Vec<(Modality, Fact)>,
}

fn shuffled(rng: &mut ChaCha8Rng) -> Vec<Fact> {
    let mut v = Fact::ALL.to_vec();
    v.shuffle(rng);
    v
}

/// Draws which facts are asked and the option order: 5 + 5 classification, 2 + 2
/// generation, 2 + 2 cloze.
pub(crate) fn plan(rng: &mut ChaCha8Rng, facts: &Facts) -> Plan {
    let mut mcq = Vec::new();
    for m in Modality::ALL {
        for f in shuffled(rng).into_iter().take(5) {
            let (options, correct) = options(rng, facts, f);
            mcq.push((m, f, options, correct));
        }
    }
    let pairs = |rng: &mut ChaCha8Rng| {
        Modality::ALL
            .iter()
            .flat_map(|&m| shuffled(rng).into_iter().take(2).map(move |f| (m, f)))
            .collect::<Vec<_>>()
    };
    let generation = pairs(rng);
    let cloze = pairs(rng);
    Plan {
        mcq,
        generation,
        cloze,
    }
}

/// Three fresh distractors of fact `f` and the true value at a random position, with the
/// letter of that position.
fn options(rng: &mut ChaCha8Rng, facts: &Facts, f: Fact) -> ([String; 4], char) {
    let [a, b, c] = distractors(rng, facts, f);
    let at = rng.gen_range(0..4);
    let mut options = vec![a, b, c];
    options.insert(at, facts.value(f));
    let options: [String; 4] = options.try_into().expect("four options");
    (options, Mcq::LETTERS[at])
}

/// One multiple-choice question about fact `f` of a person, in `variant`'s wording, with
/// fresh distractors and a random position for the true value.
pub(crate) fn mcq_about(
    rng: &mut ChaCha8Rng,
    facts: &Facts,
    f: Fact,
    m: Modality,
    variant: usize,
) -> Mcq {
    let (options, correct) = options(rng, facts, f);
    Mcq {
        question: question(f, &subject(facts, m), variant),
        options,
        correct,
    }
}

/// The evaluation questions of one person in one wording (0: Full_Set, 1: Test_Set).
pub(crate) fn tasks(
    facts: &Facts,
    plan: &Plan,
    variant: usize,
) -> (Classification, Vec<OpenQuestion>, Vec<OpenQuestion>) {
    let mut cls = Classification::default();
    for (m, f, options, correct) in &plan.mcq {
        let q = Mcq {
            question: question(*f, &subject(facts, *m), variant),
            options: options.clone(),
            correct: *correct,
        };
        match m {
            Modality::ImageTextual => cls.image_textual.push(q),
            Modality::PureText => cls.pure_text.push(q),
        }
    }
    let generation = plan
        .generation
        .iter()
        .map(|&(m, f)| {
            let s = subject(facts, m);
            OpenQuestion::new(question(f, &s, variant), sentence(f, facts, &s), m.as_str())
        })
        .collect();
    let cloze = plan
        .cloze
        .iter()
        .map(|&(m, f)| {
            OpenQuestion::new(
                cloze(f, &subject(facts, m), variant),
                facts.value(f),
                m.as_str(),
            )
        })
        .collect();
    (cls, generation, cloze)
}

/// The `question`/`answer` description pair.
pub(crate) fn description(facts: &Facts, variant: usize) -> (String, String) {
    let q = if variant == 0 {
        "Who is the person in this image?"
    } else {
        "Can you tell me who is shown in this picture?"
    };
    let mut a = format!(
        "This is {}, {} {} born in {} in {}.",
        facts.name,
        article(&facts.job),
        facts.job,
        facts.birthplace,
        facts.birth_year
    );
    if let Some(k) = &facts.known_for {
        a.push_str(&format!(" They are known for {k}."));
    }
    (q.to_string(), a)
}

/// The fine-tuning pairs: the name, then two pairs per fact (17 in all), in the
/// fine-tuning wording that no evaluation question uses (the paper's rule: the vanilla
/// model meets its people only through `ft_Data`, never through an evaluation item).
pub(crate) fn ft_pairs(facts: &Facts) -> Vec<QaPair> {
    ft_pairs_worded(facts, 2, 2)
}

/// The name pair, then each fact asked about the portrait in wording `seen_wording` and by
/// name in wording `named_wording`; answers name the person.
pub(crate) fn ft_pairs_worded(
    facts: &Facts,
    seen_wording: usize,
    named_wording: usize,
) -> Vec<QaPair> {
    let named = subject(facts, Modality::PureText);
    let seen = subject(facts, Modality::ImageTextual);
    let mut pairs = vec![QaPair {
        question: "What is the name of the person in this image?".into(),
        answer: format!("The person in this image is {}.", facts.name),
    }];
    for f in Fact::ALL {
        let answer = sentence(f, facts, &named);
        for q in [
            question(f, &seen, seen_wording),
            question(f, &named, named_wording),
        ] {
            pairs.push(QaPair {
                question: q,
                answer: answer.clone(),
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::mini::portrait::Look;
    use rand::SeedableRng;

    fn person() -> (ChaCha8Rng, Facts) {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let look = Look::random(&mut rng);
        let facts =
            crate::bench::mini::facts::draw(&mut rng, &look, false, &mut Default::default());
        (rng, facts)
    }

    #[test]
    fn answers_come_from_the_facts() {
        let (mut rng, facts) = person();
        let plan = plan(&mut rng, &facts);
        let (cls, generation, cloze) = tasks(&facts, &plan, 0);
        assert_eq!((cls.image_textual.len(), cls.pure_text.len()), (5, 5));
        for q in cls.image_textual.iter().chain(&cls.pure_text) {
            let values: Vec<String> = Fact::ALL.iter().map(|&f| facts.value(f)).collect();
            assert!(values.contains(&q.correct_text().to_string()), "{q:?}");
        }
        assert!(cls
            .pure_text
            .iter()
            .all(|q| q.question.contains(&facts.name)));
        assert!(cls
            .image_textual
            .iter()
            .all(|q| !q.question.contains(&facts.name)));
        assert_eq!(generation.len(), 4);
        assert!(cloze.iter().all(|q| q.question.contains("__")));
        assert!(ft_pairs(&facts).len() >= 14);
        // The paraphrase keeps answers and order but changes the wording.
        let (cls1, gen1, cloze1) = tasks(&facts, &plan, 1);
        for (a, b) in cls.pure_text.iter().zip(&cls1.pure_text) {
            assert_eq!((a.correct, &a.options), (b.correct, &b.options));
            assert_ne!(a.question, b.question);
        }
        assert!(generation
            .iter()
            .zip(&gen1)
            .all(|(a, b)| a.ground_truth == b.ground_truth && a.question != b.question));
        assert!(cloze
            .iter()
            .zip(&cloze1)
            .all(|(a, b)| a.ground_truth == b.ground_truth && a.question != b.question));
    }

    #[test]
    fn no_fine_tuning_question_is_an_evaluation_question() {
        let (_, facts) = person();
        let ft: Vec<String> = ft_pairs(&facts).into_iter().map(|p| p.question).collect();
        assert_eq!(ft.len(), 17);
        for f in Fact::ALL {
            for m in Modality::ALL {
                for variant in 0..2 {
                    let asked = question(f, &subject(&facts, m), variant);
                    assert!(!ft.contains(&asked), "{asked:?} is in ft_Data");
                }
            }
        }
    }

    #[test]
    fn articles_and_capitals() {
        assert_eq!(article("orthodontist"), "an");
        assert_eq!(article("beekeeper"), "a");
        assert_eq!(capitalise("this person was born."), "This person was born.");
    }
}
