//! The event vocabulary: every fact karajan records. Events are the source of truth;
//! the projections (ticket records, runs, retry queue, sessions, rework counts, pending
//! intents) are a fold over them, updated in the same transaction as the append.
//!
//! Events carry their results explicitly (a `RunFinished` says which phase the ticket is
//! in afterwards) so folding them needs no configuration and no randomness: replaying
//! the chain always rebuilds the same projections.

use serde::{Deserialize, Serialize};

use crate::domain::{Cause, Phase, RunStatus, StateKind, TokenUsage};

/// A write karajan owes the outside world, recorded before it is made (the outbox): a
/// tracker write, or the push of a ticket's branch to the forge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IntentOp {
    Move {
        tracker_id: String,
        column: String,
    },
    Comment {
        tracker_id: String,
        body: String,
    },
    /// Attach `url` (the ticket's pull request) to the ticket in the tracker (Linear),
    /// under `title`. Attaching the same URL again updates it.
    Attach {
        tracker_id: String,
        url: String,
        title: String,
    },
    /// Push `commit` of the ticket's workspace to `refs/heads/<branch>` of `remote` (a
    /// URL or a local path; never a credential), fast-forward only.
    Push {
        branch: String,
        remote: String,
        commit: String,
    },
    /// Open the ticket's pull request from `branch` of `repo` (`owner/name`), or update
    /// the one it has (one per ticket: a retry or a rework never opens a second). The
    /// title and body are rendered when the intent is recorded; `base: None` is the
    /// repository's default branch.
    PullRequest {
        repo: String,
        branch: String,
        base: Option<String>,
        title: String,
        body: String,
        draft: bool,
    },
    /// Merge pull request `number` of `repo` with `method` (`merge`, `squash`,
    /// `rebase`), only while its head is still `head` (the commit karajan last pushed):
    /// a branch someone pushed to since is not merged blindly.
    Merge {
        repo: String,
        number: u64,
        head: Option<String>,
        method: String,
    },
    /// Take draft pull request `number` of `repo` out of draft (the ticket entered
    /// `forge.pull_request.ready_in`).
    ReadyForReview {
        repo: String,
        number: u64,
    },
    /// A review agent's verdict posted on pull request `number` of `repo`: `event`
    /// `APPROVE` or `REQUEST_CHANGES` on `commit`, the body ending with the run's marker
    /// (`forge::review_post`), a line comment per finding with a path and a line.
    PostReview {
        repo: String,
        number: u64,
        run_id: String,
        event: String,
        commit: Option<String>,
        body: String,
        notes: Vec<crate::forge::review_post::LineNote>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    DaemonStarted {
        version: String,
        pid: u32,
    },
    DaemonStopped {
        reason: String,
    },
    ConfigApplied {
        path: String,
        digest: String,
    },
    ConfigRejected {
        path: String,
        errors: Vec<String>,
    },
    /// The ticket entered `to`. Creates the ticket's record when it has none.
    Transition {
        tracker_id: String,
        from: Option<String>,
        to: String,
        to_kind: StateKind,
        #[serde(flatten)]
        cause: Cause,
        /// Who caused it: `karajan`, `tracker` (a human moved the ticket), or
        /// `dashboard:<who>`.
        actor: String,
        /// Rework feedback gathered from the ticket's human comments.
        feedback: Option<String>,
        /// A review's request for revision, whole (summary, findings, round) for the
        /// next run's prompt (`review.*`). Additive: absent otherwise, and in events
        /// recorded before it existed, which hash unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review: Option<crate::domain::verdict::Verdict>,
    },
    /// The ticket sits in a column its state does not expect.
    Held {
        column: String,
    },
    /// The ticket is back where its state expects it.
    Resumed {
        state_kind: StateKind,
    },
    /// A human decision is needed.
    Escalated {
        reason: String,
    },
    RunStarted {
        run_id: String,
        state: String,
        run_number: u32,
        attempt: u32,
        runner: String,
        command: Vec<String>,
        config_digest: String,
        prompt_digest: String,
        prompt_bytes: u64,
        workspace: String,
        log_dir: String,
        resume_session: Option<String>,
        /// The workspace's commit (HEAD) before the agent ran; absent when it had none
        /// (an empty repository, an attempt that ended before its agent started) and in
        /// events recorded before it existed, which hash unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head: Option<String>,
    },
    RunSpawned {
        run_id: String,
        pid: u32,
    },
    /// One structured line the agent printed.
    AgentEvent {
        run_id: String,
        event: serde_json::Value,
    },
    RunFinished {
        run_id: String,
        #[serde(flatten)]
        status: RunStatus,
        exit_code: Option<i32>,
        signal: Option<i32>,
        duration_ms: u64,
        tokens: TokenUsage,
        cost_usd: Option<f64>,
        turns: Option<u32>,
        session_id: Option<String>,
        /// The ticket's phase after this run (retry due time included).
        phase_after: Phase,
        /// Failed attempts in the current visit of the state, after this run.
        attempts_after: u32,
        /// How exact the figures are (partial or unknown usage, estimated or unknown
        /// cost, the price table's date) and, for Codex, the thread's cumulative usage.
        /// Additive: absent in events recorded before it existed, which hash unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accounting: Option<crate::domain::run::Accounting>,
        /// The session the run was asked to resume but the CLI no longer knew; the run
        /// went on in a fresh session (without the earlier conversation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_fallback: Option<String>,
        /// The workspace's commit (HEAD) after the run (and its `after_run` hook): with
        /// `head` of `RunStarted`, what the run committed. Additive like `accounting`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head: Option<String>,
    },
    /// What a run did, provably (agent CLI and version, model, diff stat, the SHA-256
    /// of its log files): recorded in the same transaction as its `run_finished`. A new
    /// kind, so events recorded before it existed hash unchanged.
    RunEvidence(crate::domain::evidence::RunEvidence),
    /// A run that was live when the daemon died, found at start.
    RunOrphaned {
        run_id: String,
        pid: Option<u32>,
        killed: bool,
    },
    IntentRecorded {
        intent_id: String,
        #[serde(flatten)]
        op: IntentOp,
    },
    IntentCompleted {
        intent_id: String,
        /// The tracker already showed the effect (a retried write after a crash).
        already_done: bool,
    },
    IntentFailed {
        intent_id: String,
        error: String,
        retryable: bool,
    },
    HookRan {
        hook: String,
        state: Option<String>,
        ok: bool,
        exit_code: Option<i32>,
        timed_out: bool,
        duration_ms: u64,
        output_tail: String,
    },
    WorkspaceCreated {
        path: String,
        branch: String,
    },
    WorkspaceRemoved {
        path: String,
    },
    /// A workspace was due for removal but kept: its branch has commits that are
    /// neither on the forge nor on the repository it was cloned from (or that could not
    /// be checked). Nothing an agent committed is deleted unpushed.
    WorkspaceKept {
        path: String,
        branch: String,
        head: String,
        reason: String,
    },
    /// The ticket's pull request exists: opened now (`created`), or found and updated.
    PullRequestOpened {
        repo: String,
        number: u64,
        url: String,
        branch: String,
        created: bool,
        /// Its head commit as GitHub answered (the commit just pushed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head: Option<String>,
    },
    /// The ticket's pull request is merged (`sha`: the merge commit, when karajan merged
    /// it; `None` when it was found merged).
    PullRequestMerged {
        repo: String,
        number: u64,
        sha: Option<String>,
    },
    /// A reviewer's verdict (an agent state with `verdicts:`), recorded in the same
    /// transaction as its run's `run_finished`. The summary is kept; the findings by
    /// count and SHA-256 digest (they travel whole in the rework transition's `review`).
    Verdict {
        run_id: String,
        state: String,
        verdict: crate::domain::verdict::VerdictKind,
        summary: String,
        findings: u32,
        findings_digest: String,
        /// The reviewer's runner (its name in `runners:`) and the model it used.
        runner: String,
        model: Option<String>,
        /// `file` (`KARAJAN_VERDICT_FILE`) or `message` (a fenced block of its final
        /// message).
        source: crate::domain::verdict::Source,
    },
    TrackerError {
        error: String,
    },
    /// A budget stopped a run, refused one, or paused dispatch (or dispatch resumed).
    BudgetDecision {
        /// `run`, `ticket` or `day`.
        scope: String,
        limit_usd: f64,
        spent_usd: f64,
        /// `refused_run`, `stopped_run`, `dispatch_paused`, `dispatch_resumed`.
        action: String,
        /// For a paused dispatch: when it resumes.
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A runner's agent CLI reported its plan or quota limit: no run of this runner is
    /// dispatched before `until` (runs of other runners go on).
    RunnerPaused {
        runner: String,
        until: chrono::DateTime<chrono::Utc>,
        reason: String,
        /// The run that hit the limit.
        run_id: Option<String>,
    },
    /// A runner's usage-limit pause ended (its `until` passed).
    RunnerResumed {
        runner: String,
    },
    /// A webhook delivery was refused (bad or missing signature, replayed delivery id,
    /// timestamp outside the replay window, malformed or too large). Coalesced: at most
    /// one per source and reason a minute; `suppressed` counts the refusals of that kind
    /// not recorded since the previous one.
    WebhookRefused {
        /// `linear`, `github`, or `unknown` (no recognizable headers).
        source: String,
        reason: String,
        /// The delivery id the sender claimed (untrusted; shortened), if any.
        delivery: Option<String>,
        suppressed: u64,
    },
    /// A notification reached its `notify:` target (by name; never its URL).
    NotificationSent {
        target: String,
        /// `escalated`, `gate_waiting`, ...
        event: String,
        attempts: u32,
    },
    /// A notification could not be delivered (refused, or out of attempts).
    NotificationFailed {
        target: String,
        event: String,
        attempts: u32,
        error: String,
    },
    /// A ticket's place rebuilt from the hidden markers of karajan's comments in the
    /// tracker (`karajan recover`, after the store was lost).
    Recovered {
        tracker_id: String,
        state: String,
        to_kind: StateKind,
        /// Runs started per state.
        runs: std::collections::BTreeMap<String, u32>,
        /// Rework requests per gate.
        rework: std::collections::BTreeMap<String, u32>,
        /// When the marker it was rebuilt from was written.
        marker_at: chrono::DateTime<chrono::Utc>,
    },
}

impl EventKind {
    /// The `kind` column value (the serde tag).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::DaemonStarted { .. } => "daemon_started",
            EventKind::DaemonStopped { .. } => "daemon_stopped",
            EventKind::ConfigApplied { .. } => "config_applied",
            EventKind::ConfigRejected { .. } => "config_rejected",
            EventKind::Transition { .. } => "transition",
            EventKind::Held { .. } => "held",
            EventKind::Resumed { .. } => "resumed",
            EventKind::Escalated { .. } => "escalated",
            EventKind::RunStarted { .. } => "run_started",
            EventKind::RunSpawned { .. } => "run_spawned",
            EventKind::AgentEvent { .. } => "agent_event",
            EventKind::RunFinished { .. } => "run_finished",
            EventKind::RunEvidence(_) => "run_evidence",
            EventKind::RunOrphaned { .. } => "run_orphaned",
            EventKind::IntentRecorded { .. } => "intent_recorded",
            EventKind::IntentCompleted { .. } => "intent_completed",
            EventKind::IntentFailed { .. } => "intent_failed",
            EventKind::HookRan { .. } => "hook_ran",
            EventKind::WorkspaceCreated { .. } => "workspace_created",
            EventKind::WorkspaceRemoved { .. } => "workspace_removed",
            EventKind::WorkspaceKept { .. } => "workspace_kept",
            EventKind::PullRequestOpened { .. } => "pull_request_opened",
            EventKind::PullRequestMerged { .. } => "pull_request_merged",
            EventKind::Verdict { .. } => "verdict",
            EventKind::TrackerError { .. } => "tracker_error",
            EventKind::Recovered { .. } => "recovered",
            EventKind::BudgetDecision { .. } => "budget_decision",
            EventKind::RunnerPaused { .. } => "runner_paused",
            EventKind::RunnerResumed { .. } => "runner_resumed",
            EventKind::WebhookRefused { .. } => "webhook_refused",
            EventKind::NotificationSent { .. } => "notification_sent",
            EventKind::NotificationFailed { .. } => "notification_failed",
        }
    }
}

/// One event to append: the ticket it concerns (if any) and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub issue: Option<String>,
    pub kind: EventKind,
}

impl NewEvent {
    pub fn for_issue(issue: &str, kind: EventKind) -> Self {
        NewEvent {
            issue: Some(issue.to_string()),
            kind,
        }
    }

    pub fn global(kind: EventKind) -> Self {
        NewEvent { issue: None, kind }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events recorded before `head` existed read back without it and serialize to the
    /// same payload, so their hashes do not change.
    #[test]
    fn runs_recorded_before_heads_existed_read_and_hash_unchanged() {
        let started = r#"{"kind":"run_started","run_id":"r-1","state":"implement","run_number":1,"attempt":1,"runner":"command","command":["./agent.sh"],"config_digest":"c","prompt_digest":"p","prompt_bytes":3,"workspace":"/w","log_dir":"/l","resume_session":null}"#;
        let kind: EventKind = serde_json::from_str(started).unwrap();
        assert!(matches!(&kind, EventKind::RunStarted { head: None, .. }));
        assert_eq!(serde_json::to_string(&kind).unwrap(), started);
        let finished = r#"{"kind":"run_finished","run_id":"r-1","status":"succeeded","exit_code":0,"signal":null,"duration_ms":5,"tokens":{"input":0,"output":0,"cache_read":0,"cache_write":0},"cost_usd":null,"turns":null,"session_id":null,"phase_after":{"phase":"waiting"},"attempts_after":0}"#;
        let kind: EventKind = serde_json::from_str(finished).unwrap();
        assert!(matches!(&kind, EventKind::RunFinished { head: None, .. }));
        assert_eq!(serde_json::to_string(&kind).unwrap(), finished);
    }

    #[test]
    fn a_push_intent_names_branch_remote_and_commit() {
        let kind = EventKind::IntentRecorded {
            intent_id: "i-1".into(),
            op: IntentOp::Push {
                branch: "karajan/QS-1".into(),
                remote: "/r.git".into(),
                commit: "abc".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&kind).unwrap(),
            serde_json::json!({"kind": "intent_recorded", "intent_id": "i-1", "op": "push",
                "branch": "karajan/QS-1", "remote": "/r.git", "commit": "abc"})
        );
    }
}
