//! [`Progress`]: one progress display for training, evaluation and the judge. On a terminal
//! it is an indicatif bar; anywhere else (a notebook, a log file under `nohup`, a batch
//! scheduler) it prints plain lines on stderr, one per 10 seconds or per 5 % of the work (but
//! not more than one per 2 seconds), each starting with `progress:` and giving done/total,
//! the rate and the time left.
//!
//! ```
//! let p = mllmu::progress::Progress::lines("eval", "generations", 200);
//! p.inc(10);
//! p.set_message("forget classification");
//! assert_eq!(p.position(), 10);
//! let line = p.line();
//! assert!(line.starts_with("progress: eval 10/200 generations (5.0 %)"), "{line}");
//! p.finish();
//! ```

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds between two plain lines at most.
const EVERY: Duration = Duration::from_secs(10);
/// Fraction of the work between two plain lines at most.
const STEP: f64 = 0.05;
/// Seconds between two lines at least (a short run advances 5 % every step).
const GAP: Duration = Duration::from_secs(2);

/// A progress display: a bar on a terminal, throttled lines elsewhere, or nothing.
#[derive(Debug)]
pub struct Progress {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Hidden,
    Bar(indicatif::ProgressBar),
    Lines(Mutex<Lines>),
}

#[derive(Debug)]
struct Lines {
    what: String,
    unit: String,
    total: u64,
    pos: u64,
    start_pos: u64,
    message: String,
    started: Instant,
    printed_at: Instant,
    printed_frac: f64,
    gap: Duration,
}

impl Progress {
    /// The display for `total` units of `what` (`"train"`, `"eval"`, `"judge"`): hidden when
    /// `enabled` is false or `total` is 0, a bar when stderr is a terminal, lines otherwise.
    pub fn new(enabled: bool, what: &str, unit: &str, total: u64) -> Progress {
        if !enabled || total == 0 {
            return Progress { kind: Kind::Hidden };
        }
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            let template = format!(
                "{what} {{bar:30}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            return Progress {
                kind: Kind::Bar(bar),
            };
        }
        Progress::lines(what, unit, total)
    }

    /// Plain throttled lines whatever stderr is (what [`Progress::new`] picks off a
    /// terminal).
    pub fn lines(what: &str, unit: &str, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            kind: Kind::Lines(Mutex::new(Lines {
                what: what.into(),
                unit: unit.into(),
                total,
                pos: 0,
                start_pos: 0,
                message: String::new(),
                started: now,
                printed_at: now,
                printed_frac: 0.0,
                gap: GAP,
            })),
        }
    }

    /// A display that shows nothing.
    pub fn hidden() -> Progress {
        Progress { kind: Kind::Hidden }
    }

    /// Moves to `pos` (a resumed run starts past 0: its rate counts from there).
    pub fn set_position(&self, pos: u64) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Bar(b) => b.set_position(pos),
            Kind::Lines(l) => {
                let mut l = lock(l);
                if l.pos == 0 && l.start_pos == 0 && pos > 0 && l.started.elapsed() < EVERY {
                    l.start_pos = pos;
                    l.printed_frac = pos as f64 / l.total.max(1) as f64;
                }
                l.pos = pos;
                l.maybe_print();
            }
        }
    }

    /// Advances by `n`.
    pub fn inc(&self, n: u64) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Bar(b) => b.inc(n),
            Kind::Lines(l) => {
                let mut l = lock(l);
                l.pos += n;
                l.maybe_print();
            }
        }
    }

    /// Sets the text after the counts (the loss, the task being run).
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        match &self.kind {
            Kind::Hidden => {}
            Kind::Bar(b) => b.set_message(msg),
            Kind::Lines(l) => lock(l).message = msg,
        }
    }

    /// Units done so far.
    pub fn position(&self) -> u64 {
        match &self.kind {
            Kind::Hidden => 0,
            Kind::Bar(b) => b.position(),
            Kind::Lines(l) => lock(l).pos,
        }
    }

    /// The line that would be printed now (empty for a bar or a hidden display).
    pub fn line(&self) -> String {
        match &self.kind {
            Kind::Lines(l) => lock(l).render(),
            _ => String::new(),
        }
    }

    /// Ends the display: clears a bar; prints a last line when any work was done.
    pub fn finish(&self) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Bar(b) => b.finish_and_clear(),
            Kind::Lines(l) => {
                let l = lock(l);
                if l.pos > l.start_pos {
                    eprintln!("{}", l.render());
                }
            }
        }
    }
}

fn lock(l: &Mutex<Lines>) -> std::sync::MutexGuard<'_, Lines> {
    l.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Lines {
    fn maybe_print(&mut self) {
        let frac = self.pos as f64 / self.total.max(1) as f64;
        let since = self.printed_at.elapsed();
        let due = since >= EVERY || (frac - self.printed_frac >= STEP && since >= self.gap);
        if due && self.pos < self.total {
            eprintln!("{}", self.render());
            self.printed_at = Instant::now();
            self.printed_frac = frac;
        }
    }

    fn render(&self) -> String {
        let pct = 100.0 * self.pos as f64 / self.total.max(1) as f64;
        let secs = self.started.elapsed().as_secs_f64();
        let done = self.pos.saturating_sub(self.start_pos);
        let mut s = format!(
            "progress: {} {}/{} {} ({pct:.1} %)",
            self.what, self.pos, self.total, self.unit
        );
        if done > 0 && secs > 0.0 {
            let rate = done as f64 / secs;
            let left = self.total.saturating_sub(self.pos) as f64 / rate;
            s.push_str(&format!(
                ", {rate:.2} {}/s, {} left",
                self.unit,
                clock(left)
            ));
        }
        if !self.message.is_empty() {
            s.push_str(&format!(", {}", self.message));
        }
        s
    }
}

/// `1h02m`, `4m05s`, `12s`.
fn clock(secs: f64) -> String {
    let s = secs.round().max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_throttled_to_five_percent_steps() {
        let p = Progress::lines("train", "steps", 100);
        let Kind::Lines(l) = &p.kind else {
            unreachable!()
        };
        lock(l).gap = Duration::ZERO;
        (0..4).for_each(|_| p.inc(1));
        assert_eq!(lock(l).printed_frac, 0.0, "printed before 5 %");
        p.inc(1);
        assert_eq!(lock(l).printed_frac, 0.05);
        p.inc(3);
        assert_eq!(lock(l).printed_frac, 0.05);
    }

    #[test]
    fn a_short_run_prints_at_most_one_line_per_two_seconds() {
        let p = Progress::lines("train", "steps", 10);
        let Kind::Lines(l) = &p.kind else {
            unreachable!()
        };
        (0..9).for_each(|_| p.inc(1));
        // Each step is 10 % of the work, but no 2 s passed: nothing printed yet.
        assert_eq!(lock(l).printed_frac, 0.0);
    }

    #[test]
    fn a_resumed_run_counts_its_rate_from_where_it_started() {
        let p = Progress::lines("train", "steps", 100);
        p.set_position(40);
        assert!(!p.line().contains("/s"), "{}", p.line());
        p.inc(1);
        std::thread::sleep(Duration::from_millis(5));
        let line = p.line();
        assert!(
            line.contains("41/100 steps (41.0 %)") && line.contains("steps/s"),
            "{line}"
        );
    }

    #[test]
    fn clock_reads_like_a_person_would() {
        assert_eq!(clock(12.4), "12s");
        assert_eq!(clock(245.0), "4m05s");
        assert_eq!(clock(3720.0), "1h02m");
    }

    #[test]
    fn hidden_shows_nothing() {
        let p = Progress::new(false, "eval", "generations", 10);
        p.inc(3);
        assert_eq!((p.position(), p.line()), (0, String::new()));
    }
}
