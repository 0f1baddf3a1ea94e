//! Limit states in this process's memory (SQLite, or a shared store that cannot be reached).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::LimitState;

/// Expired states are swept once the map grows past this.
const SWEEP_ABOVE: usize = 50_000;

#[derive(Default)]
pub(super) struct MemoryLimits {
    /// (name, key) → (state, expires at µs).
    states: Mutex<HashMap<(String, String), (LimitState, i64)>>,
}

impl MemoryLimits {
    pub(super) fn step(
        &self,
        name: &str,
        key: &str,
        now: i64,
        expires: i64,
        step: &(dyn Fn(Option<LimitState>, i64) -> Result<Option<LimitState>, Duration> + Send + Sync),
    ) -> Result<(), Duration> {
        // A panic elsewhere while holding the lock cannot leave a state half-written.
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if states.len() > SWEEP_ABOVE {
            states.retain(|_, (_, until)| *until > now);
        }
        let id = (name.to_string(), key.to_string());
        let current = states.get(&id).filter(|(_, until)| *until > now).map(|(s, _)| *s);
        match step(current, now)? {
            Some(next) => {
                states.insert(id, (next, expires));
            }
            None => {
                states.remove(&id);
            }
        }
        Ok(())
    }
}
