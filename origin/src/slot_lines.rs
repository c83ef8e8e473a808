//! The lines login attempts stand in while they wait for a throttle counter's slot
//! (`auth::limits`): per process, first come, first let in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The lines of attempts waiting for a counter's slot, one per counter with waiters, in this
/// process: first come, first let in (tokio's mutex is fair).
#[derive(Default)]
pub struct SlotLines(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl SlotLines {
    pub fn of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // A line nobody stands in any more is dropped: the map holds only counters with waiters.
        lines.retain(|_, line| Arc::strong_count(line) > 1);
        lines.entry(key.to_owned()).or_default().clone()
    }
}
