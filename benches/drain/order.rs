//! The functions a drain runs, for `link/symbol-order.txt` (`BENCH_SYMBOL_ORDER=FILE`).
//!
//! The daemon then runs under valgrind's callgrind (`--demangle=no`, so the names are
//! the binary's own symbols, as the linker's `--symbol-ordering-file` wants them), and
//! this module reads callgrind's output: every function of the karajan binary that ran
//! (a `fn=` of the binary with its own instruction counts, or a `cfn=` it was called
//! as), with its own instructions.
//!
//! Callgrind dumps a first part when the daemon enters [`STARTED`], the function that
//! gives start-up's pages back to the kernel (`src/resident.rs`): that part is start-up,
//! the rest is the running daemon (and its shutdown). Two files come out: `FILE`, the
//! functions the running daemon ran, hottest first, and `startup-order.txt` beside it,
//! those only start-up ran. The linker lays them out in that order, ahead of the code
//! the drain never ran, so the pages the kernel maps back after start-up are the running
//! code's, not start-up's interleaved with them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The function callgrind dumps its first part before (a pattern of its mangled name).
pub const STARTED: &str = "*release_startup_pages*";

/// The functions that ran, by phase, with their own instructions.
#[derive(Debug, Default)]
pub struct Profile {
    pub startup: HashMap<String, u64>,
    pub running: HashMap<String, u64>,
    /// The functions each profile added here ran once started (one per mode).
    pub modes: Vec<HashSet<String>>,
}

impl Profile {
    /// `more`'s functions added to these, phase by phase; `more` is another mode's.
    pub fn add(&mut self, more: Profile) {
        if !more.running.is_empty() {
            self.modes.push(more.running.keys().cloned().collect());
        }
        add(&mut self.startup, more.startup);
        add(&mut self.running, more.running);
    }

    pub fn is_empty(&self) -> bool {
        self.startup.is_empty() && self.running.is_empty()
    }
}

/// Every function of `binary` that callgrind saw run, from the `callgrind.<pid>[.N]`
/// files the drain had it write into `dir` (see `daemon::spawn`): a part dumped at
/// [`STARTED`] is start-up's.
pub fn read_outputs(dir: &Path, binary: &Path) -> Result<Profile, String> {
    let mut profile = Profile::default();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let is_output = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("callgrind."));
        if is_output {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let phase = if is_startup_part(&text) {
                &mut profile.startup
            } else {
                &mut profile.running
            };
            add(phase, functions_of(&text, binary));
        }
    }
    Ok(profile)
}

/// Whether a callgrind part was dumped on entering [`STARTED`] (its `desc: Trigger:`
/// header line names the option).
pub fn is_startup_part(callgrind: &str) -> bool {
    callgrind
        .lines()
        .take_while(|l| !l.starts_with("fn="))
        .any(|l| l.starts_with("desc: Trigger:") && l.contains("--dump-before"))
}

/// `more`'s instructions added to `all`'s, function by function.
pub fn add(all: &mut HashMap<String, u64>, more: HashMap<String, u64>) {
    for (name, ir) in more {
        *all.entry(name).or_insert(0) += ir;
    }
}

/// Instructions executed in each function of `binary`, from one callgrind output file.
pub fn functions_of(callgrind: &str, binary: &Path) -> HashMap<String, u64> {
    let binary = binary.to_string_lossy();
    let mut names: HashMap<(&str, String), String> = HashMap::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut ob = String::new();
    let mut current: Option<String> = None;
    let mut called_ob: Option<String> = None;
    // The cost line after `calls=` is the call's inclusive cost, not the caller's own.
    let mut after_calls = false;
    for line in callgrind.lines() {
        if let Some((key, rest)) = line.split_once('=')
            && let Some(table) = table_of(key)
        {
            let value = resolve(&mut names, table, rest);
            match key {
                "ob" => ob = value,
                "cob" => called_ob = Some(value),
                "fn" => {
                    current = (ob == binary).then_some(value);
                    if let Some(f) = &current {
                        counts.entry(f.clone()).or_default();
                    }
                }
                "cfn" => {
                    let called = called_ob.take();
                    if called.as_deref().unwrap_or(&ob) == binary {
                        counts.entry(value).or_default();
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with("calls=") {
            after_calls = true;
            continue;
        }
        let cost_line = line
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '+' || c == '-' || c == '*');
        if !cost_line {
            continue;
        }
        if std::mem::take(&mut after_calls) {
            continue;
        }
        if let (Some(f), Some(ir)) = (
            &current,
            line.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok()),
        ) {
            *counts.entry(f.clone()).or_default() += ir;
        }
    }
    counts.retain(|name, _| !name.starts_with("0x") && !name.is_empty());
    counts
}

/// Which name table a key's compressed `(id)` refers to: objects or functions.
fn table_of(key: &str) -> Option<&'static str> {
    match key {
        "ob" | "cob" => Some("ob"),
        "fn" | "cfn" => Some("fn"),
        _ => None,
    }
}

/// `(12) name` defines id 12 and returns the name; `(12)` looks it up. Callgrind marks a
/// function's recursion depth with `'N`, which is not part of the symbol.
fn resolve(
    names: &mut HashMap<(&'static str, String), String>,
    table: &'static str,
    rest: &str,
) -> String {
    let rest = rest.trim();
    let (id, name) = match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
        Some((id, name)) => (id.to_string(), name.trim()),
        None => return strip_depth(rest).to_string(),
    };
    if name.is_empty() {
        return names.get(&(table, id)).cloned().unwrap_or_default();
    }
    let name = strip_depth(name).to_string();
    names.insert((table, id), name.clone());
    name
}

fn strip_depth(name: &str) -> &str {
    match name.rsplit_once('\'') {
        Some((base, depth)) if !depth.is_empty() && depth.bytes().all(|b| b.is_ascii_digit()) => {
            base
        }
        _ => name,
    }
}

/// The ordering files' texts: the functions the running daemon ran, then those only
/// start-up ran; each hottest first, ties by name, one symbol a line.
///
/// The running functions go by the modes that ran them: those every mode ran first,
/// then each mode's own (the first mode's, then the second's). A daemon runs one mode,
/// so its code is the common part and its mode's, each contiguous; ordered by heat
/// alone, the other mode's functions sat among them and took room in the windows the
/// kernel maps (fault-around).
pub fn order_texts(profile: &Profile) -> (String, String) {
    let startup_only: HashMap<String, u64> = profile
        .startup
        .iter()
        .filter(|(name, _)| !profile.running.contains_key(*name))
        .map(|(n, ir)| (n.clone(), *ir))
        .collect();
    let mut running = String::new();
    for group in mode_groups(profile) {
        running.push_str(&order_text(&group));
    }
    (running, order_text(&startup_only))
}

/// The running functions in groups: those every mode ran, then those of each mode in
/// turn that an earlier group does not hold. One group when fewer than two modes ran.
fn mode_groups(profile: &Profile) -> Vec<HashMap<String, u64>> {
    if profile.modes.len() < 2 {
        return vec![profile.running.clone()];
    }
    let in_group = |pick: &dyn Fn(&str) -> bool| -> HashMap<String, u64> {
        profile
            .running
            .iter()
            .filter(|(name, _)| pick(name))
            .map(|(n, ir)| (n.clone(), *ir))
            .collect()
    };
    let every = |name: &str| profile.modes.iter().all(|m| m.contains(name));
    let mut groups = vec![in_group(&every)];
    for (i, mode) in profile.modes.iter().enumerate() {
        let earlier = &profile.modes[..i];
        groups.push(in_group(&|name| {
            mode.contains(name) && !every(name) && !earlier.iter().any(|m| m.contains(name))
        }));
    }
    groups
}

/// Hottest first, ties by name, one symbol a line.
pub fn order_text(counts: &HashMap<String, u64>) -> String {
    let mut all: Vec<(&String, &u64)> = counts.iter().collect();
    all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut text = String::new();
    for (name, _) in all {
        text.push_str(name);
        text.push('\n');
    }
    text
}
