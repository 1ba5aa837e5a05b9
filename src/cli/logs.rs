//! `karajan logs TICKET [--run N|RUN_ID] [--stderr] [-f]`: an agent run's output, read
//! from the run's log folder (`store.logs`), with or without a running daemon.
//!
//! The run is the ticket's latest unless `--run` names one: `N` is its position among
//! the ticket's runs (1 = the first, as `karajan runs` numbers them), or its run id.
//! `-f` follows the file while the run is live (the store says when it finished) and
//! stops once the run has finished and its output is printed.
//!
//! The log files hold the agent's output raw; what is printed has every secret the
//! workflow holds blanked, line by line (a line is printed once it is whole, so a
//! secret is never split across two reads).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Exit;
use crate::redact::Redactor;
use crate::store::{RunRow, Store};

/// How often `-f` looks for more output and for the run's end.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The ticket identifier, e.g. `ENG-42`.
    pub ticket: String,
    /// Which run: its position among the ticket's runs (1 = the first) or its run id;
    /// default: the latest.
    #[arg(long)]
    pub run: Option<String>,
    /// The agent's stderr instead of its stdout.
    #[arg(long)]
    pub stderr: bool,
    /// Follow the output while the run is live.
    #[arg(long, short)]
    pub follow: bool,
}

pub async fn run(workflow: &Path, args: &LogsArgs) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let runs = match store.runs_for(&args.ticket).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    let run = match pick(&runs, args.run.as_deref()) {
        Ok(r) => r.clone(),
        Err(e) => {
            eprintln!("karajan: {}: {e}", args.ticket);
            return Exit::Failure;
        }
    };
    let secrets = crate::workflow_load::load_unrendered_file(workflow)
        .map(|wf| crate::redact::secrets_of(&wf))
        .unwrap_or_default();
    let redactor = Redactor::new(secrets);
    let file = Path::new(&run.log_dir).join(if args.stderr {
        "stderr.log"
    } else {
        "stdout.log"
    });
    let mut tail = Tail::new(file);
    loop {
        // Whether the run had finished before this read: then the read is the last.
        let finished = !args.follow || run_finished(&store, &run).await;
        if let Err(e) = tail.print(&redactor, finished) {
            eprintln!("karajan: cannot read {}: {e}", tail.path.display());
            return Exit::Failure;
        }
        if finished {
            return Exit::Ok;
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// The run `which` names among a ticket's runs (oldest first), or why none.
fn pick<'a>(runs: &'a [RunRow], which: Option<&str>) -> Result<&'a RunRow, String> {
    if runs.is_empty() {
        return Err("no runs in the store (is the identifier right? see `karajan runs`)".into());
    }
    match which {
        None => Ok(runs.last().expect("not empty")),
        Some(w) => match w.parse::<usize>() {
            Ok(n) => n
                .checked_sub(1)
                .and_then(|i| runs.get(i))
                .ok_or_else(|| format!("no run {n}: it has runs 1 to {}", runs.len())),
            Err(_) => runs
                .iter()
                .find(|r| r.run_id == w)
                .ok_or_else(|| format!("no run `{w}`")),
        },
    }
}

async fn run_finished(store: &Store, run: &RunRow) -> bool {
    match store.runs_for(&run.identifier).await {
        Ok(runs) => runs
            .iter()
            .find(|r| r.run_id == run.run_id)
            .is_none_or(|r| r.finished_at.is_some()),
        // The store unreadable: stop rather than follow forever.
        Err(_) => true,
    }
}

/// A log file read from where the last read stopped.
struct Tail {
    path: PathBuf,
    offset: u64,
    /// A line not yet ended.
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Print the whole lines added since the last call (and the unfinished last line
    /// when `last`). A file not written yet is empty.
    fn print(&mut self, redactor: &Redactor, last: bool) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut fresh = Vec::new();
        match std::fs::File::open(&self.path) {
            Ok(mut f) => {
                f.seek(SeekFrom::Start(self.offset))?;
                f.read_to_end(&mut fresh)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.offset += fresh.len() as u64;
        self.partial.extend_from_slice(&fresh);
        let cut = if last {
            self.partial.len()
        } else {
            self.partial
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
        };
        let ready: Vec<u8> = self.partial.drain(..cut).collect();
        if ready.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&ready);
        let mut out = std::io::stdout().lock();
        out.write_all(redactor.raw(&text).as_bytes())?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> RunRow {
        RunRow {
            run_id: id.into(),
            identifier: "QS-1".into(),
            state: "implement".into(),
            run_number: 1,
            attempt: 1,
            runner: "command".into(),
            pid: None,
            started_at: chrono::Utc::now(),
            finished_at: None,
            status: None,
            exit_code: None,
            duration_ms: None,
            tokens: Default::default(),
            cost_usd: None,
            config_digest: String::new(),
            prompt_digest: String::new(),
            workspace: String::new(),
            log_dir: String::new(),
        }
    }

    #[test]
    fn runs_are_picked_by_position_or_id_and_the_latest_by_default() {
        let runs = vec![row("r-a"), row("r-b")];
        assert_eq!(pick(&runs, None).unwrap().run_id, "r-b");
        assert_eq!(pick(&runs, Some("1")).unwrap().run_id, "r-a");
        assert_eq!(pick(&runs, Some("r-b")).unwrap().run_id, "r-b");
        assert_eq!(
            pick(&runs, Some("3")).unwrap_err(),
            "no run 3: it has runs 1 to 2"
        );
        assert_eq!(
            pick(&runs, Some("0")).unwrap_err(),
            "no run 0: it has runs 1 to 2"
        );
        assert_eq!(pick(&runs, Some("r-z")).unwrap_err(), "no run `r-z`");
        assert!(pick(&[], None).unwrap_err().contains("no runs"));
    }
}
