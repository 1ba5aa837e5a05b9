//! `verify --logs`: re-hash the log files whose SHA-256 the chain holds.
//!
//! Each finished run records a `run_evidence` event naming its log directory and the
//! SHA-256 of every file in it (see `domain::evidence`). The chain proves those digests
//! were recorded when the run finished (`verify` checks the events themselves); this
//! check proves the files on disk are still the ones that were hashed. A file that
//! changed or is gone is reported with its run; a file added to a log directory after
//! the run is reported too (it was not part of the run's output). Runs with no
//! `run_evidence` (recorded before it existed, aborted before their agent started, or
//! orphaned by a daemon that died) have no digests and are not checked.

use std::path::Path;

use super::backend::{DbRow, on_pool};

use super::{Store, StoreError};
use crate::domain::evidence::RunEvidence;

/// One log file that does not match the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogProblem {
    /// The seq of the `run_evidence` event that holds the digest.
    pub seq: i64,
    pub run_id: String,
    pub file: String,
    /// `changed`, `missing` or `unrecorded`.
    pub problem: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogsReport {
    /// Runs with recorded digests.
    pub runs: u64,
    /// Log files re-hashed.
    pub files: u64,
    pub problems: Vec<LogProblem>,
    /// Runs a cluster node ran whose log folder is not on this host (each node keeps
    /// its own): not checked here, by node.
    pub elsewhere: std::collections::BTreeMap<String, u64>,
}

impl LogsReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compare one run's recorded digests with the files under its log directory.
pub fn check_run(seq: i64, evidence: &RunEvidence, report: &mut LogsReport) {
    if let Some(node) = &evidence.node
        && !Path::new(&evidence.log_dir).exists()
    {
        *report.elsewhere.entry(node.clone()).or_default() += 1;
        return;
    }
    report.runs += 1;
    let now = crate::orchestrator::evidence::hash_dir(Path::new(&evidence.log_dir));
    let mut push = |file: &str, problem| {
        report.problems.push(LogProblem {
            seq,
            run_id: evidence.run_id.clone(),
            file: file.to_string(),
            problem,
        })
    };
    for (file, digest) in &evidence.logs {
        match now.get(file) {
            None => push(file, "missing"),
            Some(d) if d != digest => push(file, "changed"),
            Some(_) => {}
        }
    }
    for file in now.keys().filter(|f| !evidence.logs.contains_key(*f)) {
        push(file, "unrecorded");
    }
    report.files += evidence.logs.len() as u64;
}

impl Store {
    /// Re-hash every log file the chain holds a digest of (see the module doc).
    pub async fn verify_logs(&self) -> Result<LogsReport, StoreError> {
        let sql = "SELECT seq, payload FROM events WHERE kind = 'run_evidence' ORDER BY seq";
        let rows: Vec<(i64, String)> = on_pool!(&self.readers, |p| {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.col("seq")?, r.col("payload")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut report = LogsReport::default();
        for (seq, payload) in rows {
            let evidence: RunEvidence =
                super::sqlite::from_json(&payload, &format!("event {seq} payload"))?;
            // Reading files: the CLI's own process, no async peers to starve.
            check_run(seq, &evidence, &mut report);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn evidence(dir: &Path, logs: BTreeMap<String, String>) -> RunEvidence {
        RunEvidence {
            run_id: "r-1".into(),
            agent: crate::domain::evidence::AgentCli {
                kind: "command".into(),
                program: "./a.sh".into(),
                version: None,
                note: None,
            },
            model: None,
            head_before: None,
            head_after: None,
            diff: None,
            log_dir: dir.display().to_string(),
            logs,
            node: None,
        }
    }

    #[test]
    fn a_changed_missing_or_added_log_file_is_reported_and_an_intact_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["stdout.log", "stderr.log", "prompt.md"] {
            std::fs::write(dir.path().join(f), format!("{f} é 🦀 <")).unwrap();
        }
        let ev = evidence(
            dir.path(),
            crate::orchestrator::evidence::hash_dir(dir.path()),
        );
        let mut ok = LogsReport::default();
        check_run(7, &ev, &mut ok);
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!((ok.runs, ok.files), (1, 3));

        std::fs::write(dir.path().join("stdout.log"), "stdout.log é 🦀 >").unwrap();
        std::fs::remove_file(dir.path().join("stderr.log")).unwrap();
        std::fs::write(dir.path().join("extra"), "x").unwrap();
        let mut bad = LogsReport::default();
        check_run(7, &ev, &mut bad);
        let found: Vec<_> = bad
            .problems
            .iter()
            .map(|p| (p.seq, p.file.as_str(), p.problem))
            .collect();
        assert_eq!(
            found,
            vec![
                (7, "stderr.log", "missing"),
                (7, "stdout.log", "changed"),
                (7, "extra", "unrecorded"),
            ]
        );
    }

    #[test]
    fn a_cluster_nodes_logs_on_another_host_are_counted_apart_and_checked_where_present() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stdout.log"), "x").unwrap();
        let logs = crate::orchestrator::evidence::hash_dir(dir.path());
        let mut here = evidence(dir.path(), logs.clone());
        here.node = Some("n1".into());
        let mut there = evidence(&dir.path().join("gone"), logs);
        there.node = Some("n2".into());
        let mut report = LogsReport::default();
        check_run(1, &here, &mut report);
        check_run(2, &there, &mut report);
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.runs, 1);
        assert_eq!(report.elsewhere.get("n2"), Some(&1));
        // A single daemon's run whose folder is gone is a problem, as before.
        let mut report = LogsReport::default();
        check_run(
            3,
            &evidence(&dir.path().join("gone"), there.logs.clone()),
            &mut report,
        );
        assert_eq!(report.problems.len(), 1);
    }
}
