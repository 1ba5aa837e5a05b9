//! Identifiers for runs and intents: random, short, and safe in file names.

pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}
