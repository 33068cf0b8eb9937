//! The numbers of [`BeyondRun`]s as one table: one row per number, one column per run
//! (a report alone, or every method of `mllmu compare` and the demo).

use crate::display::Table;
use crate::eval::beyond::measure::{per_set, BeyondRun};
use crate::eval::metrics::bootstrap::ConfidenceInterval;

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| {
        if v != 0.0 && v.abs() < 1e-3 {
            format!("{v:.2e}")
        } else {
            format!("{v:.4}")
        }
    })
}

fn with_ci(v: Option<f64>, ci: Option<ConfidenceInterval>) -> String {
    match (v, ci) {
        (Some(v), Some(c)) => format!("{v:.4} [{:.4}, {:.4}]", c.low, c.high),
        (v, _) => num(v),
    }
}

/// One row per number (truth ratios with their 95 % interval over profiles, forget
/// quality, the four MIA AUCs, PrivLeak in percent, cross-modal consistency), one column
/// per named run (`-` where a number was not computed).
///
/// ```
/// let t = mllmu::eval::beyond::table::beyond_table(&[]);
/// assert!(t.to_html().contains("forget quality"));
/// ```
pub fn beyond_table(runs: &[(&str, &BeyondRun)]) -> Table {
    let mut header = vec!["number".to_string()];
    header.extend(runs.iter().map(|(n, _)| n.to_string()));
    let mut t = Table::new(
        "Beyond MLLMU-Bench: truth ratio (95 % CI over profiles), forget quality (KS p against the retain-only model), membership-inference AUC (forget vs non-members), PrivLeak (%), cross-modal consistency",
        header,
    );
    let mut row = |name: &str, f: &dyn Fn(&BeyondRun) -> String| {
        let mut r = vec![name.to_string()];
        r.extend(runs.iter().map(|(_, b)| f(b)));
        t.push(r);
    };
    for (k, name) in ["forget", "test", "retain"].into_iter().enumerate() {
        row(&format!("truth ratio {name}"), &|b| {
            with_ci(
                per_set(&b.beyond.truth_ratio)[k].1,
                per_set(&b.ci95.truth_ratio)[k].1,
            )
        });
    }
    row("forget quality", &|b| num(b.beyond.forget_quality));
    row("MIA AUC LOSS", &|b| num(b.beyond.mia_auc.map(|a| a.loss)));
    row("MIA AUC zlib", &|b| num(b.beyond.mia_auc.map(|a| a.zlib)));
    row("MIA AUC Min-K%", &|b| {
        num(b.beyond.mia_auc.map(|a| a.min_k))
    });
    row("MIA AUC Min-K%++", &|b| {
        num(b.beyond.mia_auc.map(|a| a.min_k_pp))
    });
    row("PrivLeak (%)", &|b| num(b.beyond.privleak));
    row("cross-modal consistency", &|b| {
        with_ci(
            b.beyond.cross_modal_consistency,
            b.ci95.cross_modal_consistency,
        )
    });
    row("MIA non-members", &|b| b.measured.non_members.clone());
    t.all_rows()
}
