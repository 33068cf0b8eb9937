//! Invented people: one consistent set of facts per person, drawn from fixed pools with a
//! seeded RNG. Every question and answer of the mini benchmark is generated from these.

use crate::bench::mini::portrait::Look;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub(crate) const FIRST: [&str; 40] = [
    "Aino",
    "Bastian",
    "Celestine",
    "Dariusz",
    "Eilidh",
    "Farrukh",
    "Genoveva",
    "Hamid",
    "Ilse",
    "Joaquín",
    "Kalani",
    "Leontyne",
    "Mirela",
    "Nnamdi",
    "Oksana",
    "Piero",
    "Quilla",
    "Rasmus",
    "Saoirse",
    "Tadeo",
    "Ulla",
    "Vikram",
    "Wilhelmina",
    "Xiadani",
    "Yusra",
    "Zoltan",
    "Amaru",
    "Brígida",
    "Cosmin",
    "Delphine",
    "Emeka",
    "Fenna",
    "Gudrun",
    "Hiroko",
    "Ismay",
    "Jovan",
    "Katarzyna",
    "Lorcan",
    "Maëlle",
    "Nikolai",
];

pub(crate) const LAST: [&str; 40] = [
    "Arvelund",
    "Brackenridge",
    "Castellume",
    "Dovrenko",
    "Eskildare",
    "Fairweather-Nkemelu",
    "Galloran",
    "Hestvik",
    "Ilvesmaa",
    "Jarrowe",
    "Kettleby",
    "Lindqvist-Oyelaran",
    "Marrowdale",
    "Nørgaard",
    "Okonkwo-Vale",
    "Pellinore",
    "Quintavalle",
    "Rostamzadeh",
    "Szabadi",
    "Thornquist",
    "Underhay",
    "Valcourt",
    "Wexley",
    "Yardımcı",
    "Zelenko",
    "Abernethy-Sol",
    "Brennagh",
    "Corvalán",
    "Drăgulescu",
    "Elsworth",
    "Fiorentelli",
    "Grønlund",
    "Halvorsen-Achebe",
    "Iturbide",
    "Jessup",
    "Kowalczyk-Reyes",
    "Lamarche",
    "Mwangi-Holt",
    "Nakashima-Orr",
    "Ostrander",
];

pub(crate) const BIRTHPLACES: [&str; 30] = [
    "Český Krumlov, Czechia",
    "Ísafjörður, Iceland",
    "Çeşme, Türkiye",
    "Jyväskylä, Finland",
    "Toruń, Poland",
    "Iași, Romania",
    "Ålesund, Norway",
    "Taupō, New Zealand",
    "Valparaíso, Chile",
    "Kochi, India",
    "Ouagadougou, Burkina Faso",
    "Hobart, Australia",
    "Tromsø, Norway",
    "Cusco, Peru",
    "Nagano, Japan",
    "Tartu, Estonia",
    "Mombasa, Kenya",
    "Porto, Portugal",
    "Quebec City, Canada",
    "Ghent, Belgium",
    "Hội An, Vietnam",
    "Essaouira, Morocco",
    "Bergamo, Italy",
    "Galway, Ireland",
    "Salta, Argentina",
    "Tbilisi, Georgia",
    "Lüneburg, Germany",
    "Oaxaca, Mexico",
    "Zanzibar City, Tanzania",
    "Dunedin, New Zealand",
];

pub(crate) const JOBS: [&str; 30] = [
    "marine biologist",
    "violin maker",
    "air traffic controller",
    "beekeeper",
    "glassblower",
    "cartographer",
    "paediatric nurse",
    "structural engineer",
    "pastry chef",
    "court stenographer",
    "wind turbine technician",
    "botanical illustrator",
    "ferry captain",
    "sound engineer",
    "archivist",
    "orthodontist",
    "furniture restorer",
    "seismologist",
    "tea sommelier",
    "lighthouse keeper",
    "data journalist",
    "ice sculptor",
    "veterinary surgeon",
    "puppeteer",
    "urban planner",
    "perfumer",
    "mountain guide",
    "bookbinder",
    "radio host",
    "robotics tutor",
];

pub(crate) const EMPLOYERS: [&str; 30] = [
    "Northwind Harbour Authority",
    "Larkspur Instruments",
    "Bluefen Aquarium",
    "Copperleaf Bakery",
    "Halcyon Maps Ltd",
    "Stonebridge Children's Hospital",
    "Veridian Wind Co-op",
    "Saltmarsh Archives",
    "Orchard Lane Dental",
    "Brightwater Ferries",
    "Mosaic Sound Studios",
    "Granite Peak Guides",
    "Quillfeather Press",
    "Tidewell Observatory",
    "Amberline Perfumery",
    "Kestrel Civic Design",
    "Redfern Veterinary Clinic",
    "Lanternfish Puppet Theatre",
    "Cobalt Valley Seismic Lab",
    "Whistledown Radio",
    "Frostwork Ice Studio",
    "Juniper & Vale Restorations",
    "Silverbirch Tea House",
    "Meridian Data Desk",
    "Hollowreed Glassworks",
    "Beacon Point Lighthouse Trust",
    "Thistledown Apiaries",
    "Ironclad Structural Partners",
    "Evergreen Court Services",
    "BrightGear Learning Lab",
];

pub(crate) const EDUCATION: [&str; 20] = [
    "the University of Tartu",
    "Trinity College Dublin",
    "the Sorbonne",
    "McGill University",
    "the University of Otago",
    "Kyoto University",
    "the University of Cape Town",
    "ETH Zurich",
    "the University of São Paulo",
    "Jagiellonian University",
    "the University of Edinburgh",
    "Seoul National University",
    "the University of Melbourne",
    "Charles University",
    "the University of Nairobi",
    "Uppsala University",
    "the University of Chile",
    "Leiden University",
    "the National University of Singapore",
    "the University of Iceland",
];

pub(crate) const HOBBIES: [&str; 24] = [
    "restoring vintage radios",
    "competitive orienteering",
    "origami",
    "birdwatching",
    "bouldering",
    "fermenting hot sauces",
    "amateur astronomy",
    "sea kayaking",
    "collecting antique maps",
    "setting crosswords",
    "salsa dancing",
    "woodcarving",
    "urban sketching",
    "composing chess problems",
    "growing bonsai",
    "trail running",
    "calligraphy",
    "playing the hurdy-gurdy",
    "knitting",
    "fly fishing",
    "photographing lighthouses",
    "table tennis",
    "pottery",
    "geocaching",
];

pub(crate) const FAMILY: [&str; 16] = [
    "married with two daughters",
    "single, with a rescue greyhound",
    "married, with no children",
    "divorced, with one son",
    "widowed, with three grandchildren",
    "in a long-term partnership, with one daughter",
    "the eldest of five siblings",
    "married with twin sons",
    "single, sharing a flat with a younger brother",
    "engaged, with no children",
    "married with a son and a daughter",
    "the only child of two teachers",
    "single, raising a nephew",
    "married, with four stepchildren",
    "the youngest of three sisters",
    "in a partnership, with two adopted sons",
];

pub(crate) const KNOWN_FOR: [&str; 12] = [
    "an award-winning film score",
    "three world orienteering titles",
    "a bestselling cookbook",
    "a record-breaking solo sail around the world",
    "a long-running science television show",
    "a gold medal in the high jump",
    "a celebrated jazz trio",
    "a landmark bridge design",
    "a famous mountain rescue",
    "a hit detective novel series",
    "a pioneering children's charity",
    "an acclaimed sculpture garden",
];

/// The facts of one invented person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// Full name.
    pub name: String,
    /// Birth year.
    pub birth_year: u16,
    /// Birthplace, `City, Country`.
    pub birthplace: String,
    /// Profession.
    pub job: String,
    /// Employer.
    pub employer: String,
    /// Where they studied.
    pub education: String,
    /// Favourite hobby.
    pub hobby: String,
    /// Family situation.
    pub family: String,
    /// Appearance, described from the drawn portrait.
    pub appearance: String,
    /// For celebrities: what they are famous for.
    pub known_for: Option<String>,
}

/// The facts questions are asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fact {
    BirthYear,
    Birthplace,
    Job,
    Employer,
    Education,
    Hobby,
    Family,
    Appearance,
}

impl Fact {
    pub(crate) const ALL: [Fact; 8] = [
        Fact::BirthYear,
        Fact::Birthplace,
        Fact::Job,
        Fact::Employer,
        Fact::Education,
        Fact::Hobby,
        Fact::Family,
        Fact::Appearance,
    ];
}

impl Facts {
    /// The value of one fact, as text.
    pub(crate) fn value(&self, f: Fact) -> String {
        match f {
            Fact::BirthYear => self.birth_year.to_string(),
            Fact::Birthplace => self.birthplace.clone(),
            Fact::Job => self.job.clone(),
            Fact::Employer => self.employer.clone(),
            Fact::Education => self.education.clone(),
            Fact::Hobby => self.hobby.clone(),
            Fact::Family => self.family.clone(),
            Fact::Appearance => self.appearance.clone(),
        }
    }

    /// The biography column: a JSON object, as on the hub (keys in this order).
    pub(crate) fn biography(&self) -> String {
        let q = |v: &str| serde_json::Value::from(v).to_string();
        let mut parts = vec![
            format!("\"Name\": {}", q(&self.name)),
            format!("\"Born\": {}", q(&self.birthplace)),
            format!("\"Birth year\": {}", self.birth_year),
            format!("\"Employment\": {}", q(&self.job)),
            format!("\"Employer\": {}", q(&self.employer)),
            format!("\"Education\": {}", q(&self.education)),
            format!("\"Hobby\": {}", q(&self.hobby)),
            format!("\"Family\": {}", q(&self.family)),
            format!("\"Appearance\": {}", q(&self.appearance)),
        ];
        if let Some(k) = &self.known_for {
            parts.push(format!("\"Known for\": {}", q(k)));
        }
        format!("{{{}}}", parts.join(", "))
    }
}

fn pick(rng: &mut ChaCha8Rng, pool: &[&str]) -> String {
    pool.choose(rng).copied().unwrap_or_default().to_string()
}

/// Draws a person's facts; `taken` holds names already used (names are unique).
pub(crate) fn draw(
    rng: &mut ChaCha8Rng,
    look: &Look,
    celebrity: bool,
    taken: &mut std::collections::HashSet<String>,
) -> Facts {
    draw_from(rng, look, celebrity, taken, (&FIRST, &LAST))
}

/// [`draw`] with other pools of first and last names (the pretraining corpus's people).
pub(crate) fn draw_from(
    rng: &mut ChaCha8Rng,
    look: &Look,
    celebrity: bool,
    taken: &mut std::collections::HashSet<String>,
    (first, last): (&[&str], &[&str]),
) -> Facts {
    let mut name = format!("{} {}", pick(rng, first), pick(rng, last));
    let mut tries = 0;
    while taken.contains(&name) {
        tries += 1;
        name = if tries < 50 {
            format!("{} {}", pick(rng, first), pick(rng, last))
        } else {
            format!(
                "{} {} {}",
                pick(rng, first),
                pick(rng, first),
                pick(rng, last)
            )
        };
    }
    taken.insert(name.clone());
    Facts {
        name,
        birth_year: rng.gen_range(1950..=2004),
        birthplace: pick(rng, &BIRTHPLACES),
        job: pick(rng, &JOBS),
        employer: pick(rng, &EMPLOYERS),
        education: pick(rng, &EDUCATION),
        hobby: pick(rng, &HOBBIES),
        family: pick(rng, &FAMILY),
        appearance: look.describe(),
        known_for: celebrity.then(|| pick(rng, &KNOWN_FOR)),
    }
}

/// Three distinct wrong values of the same fact.
pub(crate) fn distractors(rng: &mut ChaCha8Rng, facts: &Facts, f: Fact) -> [String; 3] {
    let correct = facts.value(f);
    let mut out: Vec<String> = Vec::with_capacity(3);
    let mut tries = 0;
    while out.len() < 3 {
        tries += 1;
        let v = match f {
            Fact::BirthYear => {
                let delta = rng.gen_range(1..=12) * if rng.gen_bool(0.5) { 1 } else { -1 };
                (facts.birth_year as i32 + delta + tries / 20).to_string()
            }
            Fact::Birthplace => pick(rng, &BIRTHPLACES),
            Fact::Job => pick(rng, &JOBS),
            Fact::Employer => pick(rng, &EMPLOYERS),
            Fact::Education => pick(rng, &EDUCATION),
            Fact::Hobby => pick(rng, &HOBBIES),
            Fact::Family => pick(rng, &FAMILY),
            Fact::Appearance => Look::random(rng).describe(),
        };
        if v != correct && !out.contains(&v) {
            out.push(v);
        }
    }
    [out[0].clone(), out[1].clone(), out[2].clone()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn distractors_are_distinct_and_wrong() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut taken = Default::default();
        let look = Look::random(&mut rng);
        let facts = draw(&mut rng, &look, false, &mut taken);
        for f in Fact::ALL {
            let d = distractors(&mut rng, &facts, f);
            assert!(!d.contains(&facts.value(f)));
            assert!(d[0] != d[1] && d[1] != d[2] && d[0] != d[2]);
        }
        let bio: serde_json::Value = serde_json::from_str(&facts.biography()).unwrap();
        assert_eq!(bio["Birth year"], facts.birth_year);
        assert_eq!(bio["Appearance"], facts.appearance.as_str());
    }
}
