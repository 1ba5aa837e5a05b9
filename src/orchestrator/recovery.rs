//! Start-up recovery: runs that started and never finished belong to a daemon that
//! died. Every process of such a run is stopped before anything is retried: its
//! recorded process group if it is still alive (only when a member still carries the
//! run's `KARAJAN_RUN_ID`, so a reused pid is never killed), and every process carrying
//! that run id, whether or not its pid was recorded (a daemon killed between an agent's
//! spawn and `run_spawned` never recorded it) and wherever it went (`setsid`). Then the
//! runs are recorded `interrupted`, and the normal retry path starts them again, once.

use tracing::warn;

use super::engine::{Engine, RunDone};
use super::run_task::interrupted_outcome;
use crate::store::{EventKind, NewEvent, StoreError};

impl Engine {
    pub(crate) async fn recover(&mut self) -> Result<(), StoreError> {
        let grace = self.workflow.agent.kill_grace;
        for run in self.store.open_runs().await? {
            let group_killed = match run.pid {
                Some(pid) => {
                    crate::agent::process::kill_orphan_group(pid, &run.run_id, grace).await
                }
                None => false,
            };
            let stray = crate::agent::reap::stop_run(&run.run_id, grace).await;
            let killed = group_killed || !stray.is_empty();
            warn!(ticket = %run.identifier, run = %run.run_id, pid = ?run.pid, killed, "found a run interrupted by a daemon stop");
            self.record(vec![NewEvent::for_issue(
                &run.identifier,
                EventKind::RunOrphaned {
                    run_id: run.run_id.clone(),
                    pid: run.pid,
                    killed,
                },
            )])
            .await?;
            let duration = (self.now() - run.started_at).to_std().unwrap_or_default();
            let done =
                RunDone::without_agent(&run.identifier, &run.run_id, interrupted_outcome(duration));
            self.finish_run(done).await?;
        }
        Ok(())
    }
}
