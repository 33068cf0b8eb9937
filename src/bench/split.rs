//! Forget/retain splits (SPEC.md §2.1-2.2): for a forget ratio r, the `forget_r` and
//! `retain_{100-r}` folders, the Test_Set rows of the forget profiles, and the celebrities.

use crate::bench::{Bench, FtRow, Profile, ProfileId, FORGET_RATIOS};
use crate::{Error, Result};
use std::collections::HashSet;

/// The four evaluation sets for one forget ratio, checked for consistency.
///
/// ```
/// use mllmu::bench::{Bench, MiniConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let cfg = MiniConfig { profiles: 20, celebrities: 3, ..MiniConfig::default() };
/// let bench = Bench::open(mllmu::bench::mini::write(dir.path(), &cfg).unwrap()).unwrap();
/// let split = bench.split(10).unwrap();
/// assert_eq!(split.forget().len(), 2);           // 10 % of 20
/// assert_eq!(split.retain().len(), 18);
/// assert_eq!(split.test().len(), 2);             // the forget profiles in Test_Set
/// assert!(bench.split(7).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Split {
    ratio: u8,
    forget: Vec<Profile>,
    retain: Vec<Profile>,
    test: Vec<Profile>,
    celebrities: Vec<Profile>,
    ft_forget: Vec<FtRow>,
    ft_retain: Vec<FtRow>,
}

impl Split {
    /// The forget ratio in percent (5, 10 or 15).
    pub fn ratio(&self) -> u8 {
        self.ratio
    }

    /// `forget_{r}` rows, in file order.
    pub fn forget(&self) -> &[Profile] {
        &self.forget
    }

    /// `retain_{100-r}` rows (the "shared" retain set), in file order.
    pub fn retain(&self) -> &[Profile] {
        &self.retain
    }

    /// `Test_Set` rows of the forget profiles, in `Test_Set` order (as the reference's
    /// `df[df.ID.isin(ids)]`).
    pub fn test(&self) -> &[Profile] {
        &self.test
    }

    /// `Retain_Set` rows: the celebrities.
    pub fn celebrities(&self) -> &[Profile] {
        &self.celebrities
    }

    /// The forget IDs, in `forget_{r}` order.
    pub fn forget_ids(&self) -> Vec<ProfileId> {
        self.forget.iter().map(|p| p.id.clone()).collect()
    }

    /// The retain IDs, in `retain_{100-r}` order.
    pub fn retain_ids(&self) -> Vec<ProfileId> {
        self.retain.iter().map(|p| p.id.clone()).collect()
    }

    /// `ft_Data` rows of the forget profiles (empty without `ft_Data` or its `ID` column).
    pub fn ft_forget(&self) -> &[FtRow] {
        &self.ft_forget
    }

    /// `ft_Data` rows of the retain profiles (empty without `ft_Data` or its `ID` column).
    pub fn ft_retain(&self) -> &[FtRow] {
        &self.ft_retain
    }
}

impl Bench {
    /// The split for forget ratio `ratio` (5, 10 or 15).
    ///
    /// Checks that `forget_r` and `retain_{100-r}` are disjoint and together hold exactly the
    /// `Full_Set` IDs, and that every forget profile is in `Test_Set`.
    pub fn split(&self, ratio: u8) -> Result<Split> {
        if !FORGET_RATIOS.contains(&ratio) {
            return Err(Error::param(
                "forget ratio",
                ratio,
                "the benchmark ships forget ratios 5, 10 and 15 (percent)",
            ));
        }
        let forget_name = format!("forget_{ratio}");
        let retain_name = format!("retain_{}", 100 - ratio);
        let forget = self.set(&forget_name)?;
        let retain = self.set(&retain_name)?;
        let full = self.full_set()?;
        let test = self.test_set()?;
        let celebrities = self.celebrities()?;

        let forget_ids: HashSet<&str> = forget.profiles.iter().map(|p| p.id.as_str()).collect();
        for p in &retain.profiles {
            if forget_ids.contains(p.id.as_str()) {
                let file = format!("{forget_name} / {retain_name}");
                let message =
                    format!("is in both {forget_name} and {retain_name}; the two must be disjoint");
                return Err(Error::bad_data(file, p.id.as_str(), message));
            }
        }
        let unknown = |p: &Profile, from: &str, missing_in: &str| Error::UnknownProfile {
            id: p.id.to_string(),
            from: from.into(),
            missing_in: missing_in.into(),
        };
        let absent = |set: &crate::bench::EvalSet, p: &Profile| set.get(p.id.as_str()).is_none();
        if let Some(p) = (full.profiles.iter()).find(|p| absent(forget, p) && absent(retain, p)) {
            let union = format!("{forget_name} ∪ {retain_name}");
            return Err(unknown(p, "Full_Set", &union));
        }
        for p in forget.profiles.iter().chain(&retain.profiles) {
            if absent(full, p) {
                let from = if forget_ids.contains(p.id.as_str()) {
                    &forget_name
                } else {
                    &retain_name
                };
                return Err(unknown(p, from, "Full_Set"));
            }
        }
        if let Some(p) = forget.profiles.iter().find(|p| absent(test, p)) {
            return Err(unknown(p, &forget_name, "Test_Set"));
        }
        let test_rows = test
            .profiles
            .iter()
            .filter(|p| forget_ids.contains(p.id.as_str()))
            .cloned()
            .collect();
        let (ft_forget, ft_retain) = match self.ft_data() {
            Ok(ft) => (ft.rows_for(&forget.ids()), ft.rows_for(&retain.ids())),
            Err(_) => (Vec::new(), Vec::new()),
        };
        Ok(Split {
            ratio,
            forget: forget.profiles.clone(),
            retain: retain.profiles.clone(),
            test: test_rows,
            celebrities: celebrities.profiles.clone(),
            ft_forget,
            ft_retain,
        })
    }
}
