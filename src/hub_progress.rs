//! Download progress for hf-hub: a [`hf_hub::progress::ProgressHandler`] that feeds
//! [`crate::progress::Progress`], so a model or dataset download shows a bar on a terminal and
//! throttled `progress:` lines in a notebook or a log (bytes done of the total, rate, time left).

use crate::progress::Progress;
use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
use std::collections::HashMap;
use std::sync::Mutex;

/// Turns hf-hub's download events into one [`Progress`] over the bytes of a snapshot.
///
/// ```
/// use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
/// let p = mllmu::hub_progress::DownloadProgress::new("MLLMMU/MLLMU-Bench", false);
/// p.on_progress(&ProgressEvent::Download(DownloadEvent::Start { total_files: 1, total_bytes: 10 }));
/// p.on_progress(&ProgressEvent::Download(DownloadEvent::AggregateProgress {
///     bytes_completed: 4, total_bytes: 10, bytes_per_sec: None,
/// }));
/// assert_eq!(p.bytes_done(), 4);
/// ```
pub struct DownloadProgress {
    what: String,
    enabled: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bar: Option<Progress>,
    /// Bytes per file (hf-hub sends per-file deltas: the latest count of the files that moved).
    files: HashMap<String, u64>,
    /// Bytes of the in-flight xet batch (hf-hub reports those as one aggregate).
    aggregate: u64,
    /// What the display shows: the larger of the two counts.
    done: u64,
}

impl DownloadProgress {
    /// A handler for the download of `what` (a repository id); `enabled` shows the display.
    pub fn new(what: &str, enabled: bool) -> Self {
        DownloadProgress {
            what: format!("download {what}"),
            enabled,
            state: Mutex::new(State::default()),
        }
    }

    /// Bytes downloaded so far, as the display shows them.
    pub fn bytes_done(&self) -> u64 {
        self.lock().done
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ProgressHandler for DownloadProgress {
    fn on_progress(&self, event: &ProgressEvent) {
        let ProgressEvent::Download(event) = event else {
            return;
        };
        let mut s = self.lock();
        match event {
            DownloadEvent::Start { total_bytes, .. } => {
                s.bar = Some(Progress::new(
                    self.enabled,
                    &self.what,
                    "bytes",
                    *total_bytes,
                ));
            }
            DownloadEvent::Progress { files } => {
                for f in files {
                    s.files.insert(f.filename.clone(), f.bytes_completed);
                }
            }
            DownloadEvent::AggregateProgress {
                bytes_completed, ..
            } => s.aggregate = *bytes_completed,
            DownloadEvent::Complete => {
                if let Some(bar) = s.bar.take() {
                    bar.finish();
                }
                return;
            }
        }
        s.done = s.files.values().sum::<u64>().max(s.aggregate);
        if let Some(bar) = &s.bar {
            bar.set_position(s.done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hf_hub::progress::{FileProgress, FileStatus};

    fn file(name: &str, bytes: u64) -> FileProgress {
        FileProgress {
            filename: name.into(),
            bytes_completed: bytes,
            total_bytes: 100,
            status: FileStatus::InProgress,
        }
    }

    fn send(p: &DownloadProgress, e: DownloadEvent) {
        p.on_progress(&ProgressEvent::Download(e));
    }

    #[test]
    fn per_file_deltas_and_the_xet_aggregate_add_up_to_the_bytes_shown() {
        let p = DownloadProgress::new("owner/name", true);
        send(
            &p,
            DownloadEvent::Start {
                total_files: 2,
                total_bytes: 200,
            },
        );
        let moved = |files| send(&p, DownloadEvent::Progress { files });
        moved(vec![file("a", 30), file("b", 20)]);
        assert_eq!(p.bytes_done(), 50);
        // A delta names only the file that moved; the other keeps its count.
        moved(vec![file("a", 60)]);
        assert_eq!(p.bytes_done(), 80);
        send(
            &p,
            DownloadEvent::AggregateProgress {
                bytes_completed: 150,
                total_bytes: 200,
                bytes_per_sec: Some(1e6),
            },
        );
        assert_eq!(p.bytes_done(), 150);
        assert_eq!(p.lock().bar.as_ref().map(Progress::position), Some(150));
        send(&p, DownloadEvent::Complete);
        assert!(p.lock().bar.is_none(), "the display ends with the download");
    }
}
