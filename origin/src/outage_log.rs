//! What the log says while the database is unreachable: the first failure at once, with its
//! cause, then one summary a window (the count and the window's first cause), never a line a
//! request, and a line when the database answers again. Under load an outage answers thousands
//! of 503s a second; their log must not grow with them.

use std::sync::Mutex;

/// How often an ongoing outage is summarized.
pub const WINDOW_SECS: u64 = 10;

/// A line to log, as [`OutageLog`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The first failure after a quiet window.
    Began { cause: String },
    /// `count` further failures in the `secs` before now, the first of them for `cause`.
    Continues { count: u64, secs: u64, cause: String },
    /// The database answers again, after `count` failures over `secs`.
    Ended { count: u64, secs: u64 },
}

impl Note {
    pub fn log(&self) {
        match self {
            Self::Began { cause } => {
                tracing::warn!(%cause, "database unavailable (answering 503; summarized every {WINDOW_SECS} s)");
            }
            Self::Continues { count, secs, cause } => {
                tracing::warn!(count, secs, first_cause = %cause, "database unavailable: {count} more answers 503");
            }
            Self::Ended { count, secs } => {
                tracing::info!(count, secs, "database available again after {count} answers 503 in {secs} s");
            }
        }
    }
}

#[derive(Debug)]
struct Window {
    /// When the outage's first failure was logged.
    began_at: u64,
    /// Failures since then, the first included.
    total: u64,
    opened_at: u64,
    count: u64,
    first_cause: Option<String>,
}

/// Counts the failures of an outage. [`OutageLog::failed`] on each one, [`OutageLog::tick`] every
/// second or so, [`OutageLog::recovered`] when the database answers during an outage; each
/// answers the line to log, if any. Times are the injected clock's seconds.
#[derive(Debug, Default)]
pub struct OutageLog {
    window: Mutex<Option<Window>>,
}

impl OutageLog {
    /// One request answered 503 at `now` for `cause` (made only when it is needed).
    pub fn failed(&self, now: u64, cause: impl FnOnce() -> String) -> Option<Note> {
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match window.as_mut() {
            None => {
                let cause = cause();
                *window = Some(Window { began_at: now, total: 1, opened_at: now, count: 0, first_cause: None });
                Some(Note::Began { cause })
            }
            Some(open) => {
                open.total += 1;
                open.count += 1;
                if open.first_cause.is_none() {
                    open.first_cause = Some(cause());
                }
                None
            }
        }
    }

    /// Closes the window once it is [`WINDOW_SECS`] old: its summary if it counted failures (and a
    /// new window opens), nothing if it was quiet (the next failure is news again).
    pub fn tick(&self, now: u64) -> Option<Note> {
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = window.as_mut()?;
        let secs = now.saturating_sub(open.opened_at);
        if secs < WINDOW_SECS {
            return None;
        }
        match open.first_cause.take() {
            Some(cause) => {
                let note = Note::Continues { count: open.count, secs, cause };
                *open = Window { opened_at: now, count: 0, first_cause: None, ..*open };
                Some(note)
            }
            None => {
                *window = None;
                None
            }
        }
    }
}

impl OutageLog {
    /// Whether an outage is being counted: then the database is worth asking whether it is back.
    pub fn in_outage(&self) -> bool {
        self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    /// The database answered at `now`: the outage, if one was being counted, is over (its line),
    /// and the next failure is news again.
    pub fn recovered(&self, now: u64) -> Option<Note> {
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let over = window.take()?;
        Some(Note::Ended { count: over.total, secs: now.saturating_sub(over.began_at) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause() -> String {
        "connection refused".to_owned()
    }

    #[test]
    fn the_first_failure_is_logged_at_once_and_the_rest_once_a_window() {
        let log = OutageLog::default();
        assert_eq!(log.failed(100, cause), Some(Note::Began { cause: cause() }));
        for _ in 0..5_000 {
            assert_eq!(log.failed(103, cause), None);
        }
        assert_eq!(log.tick(109), None, "the window is not over");
        let summary = log.tick(110);
        assert_eq!(summary, Some(Note::Continues { count: 5_000, secs: 10, cause: cause() }));
        assert_eq!(log.failed(111, || "timed out".to_owned()), None, "the outage goes on: counted, not logged");
        assert_eq!(log.tick(120), Some(Note::Continues { count: 1, secs: 10, cause: "timed out".to_owned() }));
    }

    #[test]
    fn a_quiet_window_ends_the_outage_and_the_next_failure_is_news() {
        let log = OutageLog::default();
        assert!(log.failed(100, cause).is_some());
        assert_eq!(log.tick(110), None, "no failure after the first: nothing to summarize");
        assert_eq!(log.tick(200), None);
        assert_eq!(log.failed(300, cause), Some(Note::Began { cause: cause() }));
    }

    #[test]
    fn the_database_answering_again_ends_the_outage_and_the_next_is_news_at_once() {
        let log = OutageLog::default();
        assert_eq!(log.recovered(99), None, "no outage, nothing to end");
        assert!(log.failed(100, cause).is_some());
        log.failed(101, cause);
        log.failed(102, cause);
        assert!(log.in_outage());
        assert_eq!(log.recovered(103), Some(Note::Ended { count: 3, secs: 3 }));
        assert!(!log.in_outage());
        assert_eq!(
            log.failed(106, || "terminating connection".to_owned()),
            Some(Note::Began { cause: "terminating connection".to_owned() })
        );
    }

    #[test]
    fn the_cause_is_only_rendered_when_it_is_logged() {
        let log = OutageLog::default();
        log.failed(0, cause);
        log.failed(1, cause);
        assert_eq!(log.failed(2, || unreachable!("the window already has its first cause")), None);
    }
}
