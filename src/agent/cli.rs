//! The driver shared by the agent CLI runners (`claude`, `codex`, `gemini`).
//!
//! Each CLI differs in three things only — its argv, its stream format and how it says
//! "I do not know that session" — so a runner is a [`CliFlavor`] and this module does
//! the rest the same way for all: supervise the process (`process::supervise`: own
//! process group, stall/turn timeouts, SIGTERM → grace → SIGKILL, stdout and stderr
//! drained concurrently, every line of either stream counting as activity), turn the
//! stream into `RunEvent`s, enforce the turn limit where the CLI has no flag for it,
//! fall back ONCE to a fresh session when the session to resume is unknown, and account
//! tokens, cost, turns and duration into the `RunOutcome`.
//!
//! Accounting says how exact it is (`RunOutcome::accounting`): a run's own share of a
//! session's cumulative usage (Codex), usage that is partial or unknown because the run
//! ended before the CLI's final report, and a cost that is the CLI's own, priced from
//! the dated table (`prices`), estimated, or unknown. An unknown cost is recorded as the
//! run's cap (marked `counted_at_cap`) so budgets count the run conservatively.
//!
//! Events are forwarded through the same unbounded hand-off as the `command` runner, so
//! a slow consumer never stalls the draining of the pipes. Every JSON line is appended
//! raw to `events.jsonl`; `RunEvent::Json` carries it parsed, except that lines longer
//! than [`MAX_EVENT_BYTES`] are forwarded as a stub (`type` plus
//! `karajan_truncated_bytes`) so a 10 MB line does not travel through the store.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::command::{Queued, forward, summarize};
use super::prices::{PRICES_AS_OF, quote};
use super::process::{self, Ending, Observer, ProcessExit, ProcessSpec, Stream};
use super::stream::{self, Note, StreamParser};
use super::{AgentError, AgentRunner, RunEvent, RunOutcome, RunRequest};
use crate::config::RunnerConfig;
use crate::domain::run::{Accounting, CostBasis, UsageBasis};
use crate::domain::{RunStatus, TokenUsage};

/// JSON lines longer than this are forwarded as a stub (they are still logged whole).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// What makes one agent CLI different from the others.
pub trait CliFlavor: Send + Sync {
    fn config(&self) -> &RunnerConfig;
    /// The CLI's program name when `command` is empty.
    fn default_program(&self) -> &'static str;
    /// The arguments after the program (and after `command`'s own extra elements).
    fn args(&self, req: &RunRequest, resume: Option<&str>) -> Vec<String>;
    /// Variables the CLI needs on top of the request's environment.
    fn extra_env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn parser(&self) -> Box<dyn StreamParser>;
    /// Whether karajan must enforce `max_turns` itself (the CLI has no flag for it).
    fn enforces_turns(&self) -> bool;
}

/// The program and the leading arguments: `command` when configured, else the CLI name.
fn program(flavor: &dyn CliFlavor) -> (String, Vec<String>) {
    match flavor.config().command.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (flavor.default_program().to_string(), Vec::new()),
    }
}

/// The full argv for `req` (resuming `req.resume_session` when set).
pub fn command_line(flavor: &dyn CliFlavor, req: &RunRequest) -> Vec<String> {
    let (program, mut argv) = program(flavor);
    argv.insert(0, program);
    argv.extend(flavor.args(req, req.resume_session.as_deref()));
    argv
}

/// An [`AgentRunner`] around a flavor.
pub struct CliRunner<F: CliFlavor> {
    pub flavor: F,
}

#[async_trait]
impl<F: CliFlavor + 'static> AgentRunner for CliRunner<F> {
    fn kind(&self) -> &'static str {
        self.flavor.config().kind.as_str()
    }

    fn command_line(&self, req: &RunRequest) -> Vec<String> {
        command_line(&self.flavor, req)
    }

    async fn run(
        &self,
        req: RunRequest,
        events: mpsc::Sender<RunEvent>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, AgentError> {
        run(&self.flavor, req, events, cancel).await
    }
}

/// Run one turn, with the fallback to a fresh session when the resumed one is unknown.
pub async fn run(
    flavor: &dyn CliFlavor,
    req: RunRequest,
    events: mpsc::Sender<RunEvent>,
    cancel: CancellationToken,
) -> Result<RunOutcome, AgentError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(forward(rx, events, req.log_dir.join("events.jsonl")));
    let result = attempts(flavor, &req, &tx, &cancel).await;
    drop(tx);
    if let Err(e) = forwarder.await {
        tracing::warn!(error = %e, "event forwarder failed");
    }
    result
}

async fn attempts(
    flavor: &dyn CliFlavor,
    req: &RunRequest,
    tx: &mpsc::UnboundedSender<Queued>,
    cancel: &CancellationToken,
) -> Result<RunOutcome, AgentError> {
    let prior = req.resume_usage.filter(|_| req.resume_session.is_some());
    let first = attempt(
        flavor,
        req,
        req.resume_session.as_deref(),
        prior,
        tx,
        cancel,
    )
    .await?;
    let Some(requested) = req.resume_session.as_deref() else {
        return Ok(outcome(flavor, first, None));
    };
    let unknown = first.exit.ending == Ending::Exited && first.parser.tally().unknown_session;
    if !unknown {
        let t = first.parser.tally();
        if t.thread_cumulative && t.usage_final && prior.is_none() {
            tracing::warn!(run_id = %req.run_id, session = requested, "no earlier total of the resumed session is recorded: the run records the session's whole usage as its own");
        }
        return Ok(outcome(flavor, first, None));
    }
    let note = format!(
        "{} does not know session {requested}; starting a fresh session",
        flavor.default_program()
    );
    tracing::warn!(run_id = %req.run_id, session = requested, "{note}");
    let _ = tx.send((
        RunEvent::Activity {
            at: Utc::now(),
            summary: note,
        },
        None,
    ));
    let earlier = first.exit.duration;
    // A fresh session: nothing of its usage came before.
    let mut second = attempt(flavor, req, None, None, tx, cancel).await?;
    second.exit.duration += earlier;
    Ok(outcome(flavor, second, Some(requested.to_string())))
}

struct Attempt {
    exit: ProcessExit,
    parser: Box<dyn StreamParser>,
    hit_turn_limit: bool,
    hit_budget: bool,
    max_cost_usd: Option<f64>,
    prior: Option<TokenUsage>,
}

async fn attempt(
    flavor: &dyn CliFlavor,
    req: &RunRequest,
    resume: Option<&str>,
    prior: Option<TokenUsage>,
    tx: &mpsc::UnboundedSender<Queued>,
    cancel: &CancellationToken,
) -> Result<Attempt, AgentError> {
    let (program, mut args) = program(flavor);
    args.extend(flavor.args(req, resume));
    let mut env = req.env.clone();
    for (k, v) in flavor.extra_env() {
        env.retain(|(name, _)| *name != k);
        env.push((k, v));
    }
    let spec = ProcessSpec {
        program,
        args,
        env,
        cwd: req.workspace.clone(),
        stdin: req.prompt.clone().into_bytes(),
        log_dir: Some(req.log_dir.clone()),
        stall_timeout: Some(req.stall_timeout),
        turn_timeout: Some(req.turn_timeout),
        grace: req.grace,
    };
    let stop = cancel.child_token();
    let limit = (flavor.enforces_turns() && req.max_turns > 0).then_some(req.max_turns);
    let mut watch = Watch {
        parser: flavor.parser(),
        tx: tx.clone(),
        config: flavor.config(),
        turn_limit: limit,
        cost_limit: req.max_cost_usd,
        stop: stop.clone(),
        hit_turn_limit: false,
        hit_budget: false,
        prior,
        reported: None,
    };
    let exit = process::supervise(spec, &mut watch, stop).await?;
    let cancelled = cancel.is_cancelled();
    Ok(Attempt {
        exit,
        hit_turn_limit: watch.hit_turn_limit && !cancelled,
        hit_budget: watch.hit_budget && !cancelled,
        max_cost_usd: req.max_cost_usd,
        parser: watch.parser,
        prior,
    })
}

fn outcome(flavor: &dyn CliFlavor, a: Attempt, resume_fallback: Option<String>) -> RunOutcome {
    let cfg = flavor.config();
    let tally = a.parser.tally();
    let status = if a.hit_turn_limit {
        RunStatus::MaxTurns
    } else {
        stream::status(&a.exit, a.parser.as_ref())
    };
    let mut f = figures(cfg, tally, a.prior.as_ref());
    // The stop karajan itself made for the budget shows as a cancellation: it is not.
    let status = match (a.max_cost_usd, f.cost_usd, &status) {
        _ if a.hit_budget => over_budget(a.max_cost_usd, f.cost_usd),
        (_, _, RunStatus::Cancelled { .. } | RunStatus::BudgetExceeded { .. }) => status,
        (Some(cap), Some(c), _) if c > cap => over_budget(Some(cap), Some(c)),
        _ => status,
    };
    // A cost nobody knows is counted at the run's cap, so budgets stay conservative.
    if f.cost_usd.is_none() && f.accounting.cost == Some(CostBasis::Unknown) {
        match a.max_cost_usd {
            Some(cap) => {
                f.cost_usd = Some(cap);
                f.accounting.counted_at_cap = true;
            }
            None => tracing::warn!(
                runner = %cfg.name,
                "the run's cost is unknown and it has no cost cap: budgets cannot count it (set budget.per_run_usd)"
            ),
        }
    }
    RunOutcome {
        status,
        exit_code: a.exit.exit_code,
        signal: a.exit.signal,
        duration: a.exit.duration,
        tokens: f.tokens,
        cost_usd: f.cost_usd,
        turns: tally.turns,
        session_id: tally.session_id.clone(),
        resume_fallback,
        accounting: f.accounting,
        final_message: tally.final_message.text().map(str::to_string),
        model: tally.model.clone().or_else(|| cfg.model.clone()),
    }
}

/// A run's figures as far as they are known.
struct Figures {
    /// The run's own tokens.
    tokens: TokenUsage,
    cost_usd: Option<f64>,
    accounting: Accounting,
}

/// The run's figures so far: its own share of the tokens (a CLI that reports the
/// session's cumulative usage has `prior` subtracted), and its cost: what the CLI
/// reported, else the tokens priced by the table (per model when the CLI breaks them
/// down), marked as estimated or unknown when the table cannot price them exactly.
fn figures(cfg: &RunnerConfig, tally: &stream::Tally, prior: Option<&TokenUsage>) -> Figures {
    let usage = tally.usage_basis();
    let mut acc = Accounting {
        usage,
        ..Accounting::default()
    };
    let mut tokens = tally.tokens;
    if tally.thread_cumulative && tally.usage_final {
        acc.thread_tokens = Some(tally.tokens);
        if let Some(prior) = prior {
            tokens = tally.tokens.since(prior);
        }
    }
    if let Some(c) = tally.cost_usd {
        acc.cost = Some(CostBasis::Reported);
        return Figures {
            tokens,
            cost_usd: Some(c),
            accounting: acc,
        };
    }
    if usage == UsageBasis::Unknown {
        acc.cost = Some(CostBasis::Unknown);
        return Figures {
            tokens,
            cost_usd: None,
            accounting: acc,
        };
    }
    let over = cfg.cli.price.as_ref();
    let configured = cfg.model.as_deref();
    let parts: Vec<(Option<&str>, TokenUsage)> = if !tally.models.is_empty() {
        tally
            .models
            .iter()
            .filter(|(_, t)| !t.is_zero())
            .map(|(m, t)| (Some(m.as_str()), *t))
            .collect()
    } else if !tokens.is_zero() {
        vec![(tally.model.as_deref().or(configured), tokens)]
    } else {
        Vec::new()
    };
    if parts.is_empty() {
        return Figures {
            tokens,
            cost_usd: None,
            accounting: acc,
        };
    }
    let mut total = Some(0.0);
    let mut basis = CostBasis::Priced;
    for (model, t) in parts {
        let q = quote(cfg.kind, model, over);
        if matches!(q.basis, CostBasis::Estimated | CostBasis::Unknown) {
            acc.unpriced_models
                .push(model.unwrap_or("(no model named)").to_string());
        }
        basis = worse(basis, q.basis);
        total = match (total, q.price) {
            (Some(sum), Some(p)) => Some(sum + p.cost(&t)),
            _ => None,
        };
    }
    acc.cost = Some(basis);
    if matches!(basis, CostBasis::Priced | CostBasis::Estimated) {
        acc.prices_as_of = Some(PRICES_AS_OF.to_string());
    }
    Figures {
        tokens,
        cost_usd: total,
        accounting: acc,
    }
}

/// The less exact of two cost bases.
fn worse(a: CostBasis, b: CostBasis) -> CostBasis {
    let rank = |c: CostBasis| match c {
        CostBasis::Reported | CostBasis::Override | CostBasis::Priced => 0,
        CostBasis::Estimated => 1,
        CostBasis::Unknown => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn over_budget(cap: Option<f64>, cost: Option<f64>) -> RunStatus {
    RunStatus::BudgetExceeded {
        reason: format!(
            "the run cost ${:.4}, above its budget of ${:.4} (budget.per_run_usd)",
            cost.unwrap_or(0.0),
            cap.unwrap_or(0.0)
        ),
    }
}

/// Feeds lines to the parser, forwards events, and stops the process at the turn limit
/// or the cost cap.
struct Watch<'a> {
    parser: Box<dyn StreamParser>,
    tx: mpsc::UnboundedSender<Queued>,
    config: &'a RunnerConfig,
    turn_limit: Option<u32>,
    cost_limit: Option<f64>,
    stop: CancellationToken,
    hit_turn_limit: bool,
    hit_budget: bool,
    /// The session's usage before this run (see `RunRequest::resume_usage`).
    prior: Option<TokenUsage>,
    /// The tally's usage last sent as `RunEvent::Usage` (tokens, turns, CLI cost).
    reported: Option<(TokenUsage, Option<u32>, Option<f64>)>,
}

impl Watch<'_> {
    fn emit(&self, event: RunEvent, raw: Option<Vec<u8>>) {
        // The receiver lives until `run` drops the sender.
        let _ = self.tx.send((event, raw));
    }

    /// Send the usage so far when the stream reported more since the last time.
    fn usage(&mut self) {
        let t = self.parser.tally();
        let now = (t.tokens, t.turns, t.cost_usd);
        if self.reported == Some(now) || (t.tokens.is_zero() && t.turns.is_none()) {
            return;
        }
        self.reported = Some(now);
        let f = figures(self.config, t, self.prior.as_ref());
        self.emit(
            RunEvent::Usage {
                tokens: f.tokens,
                turns: t.turns,
                cost_usd: f.cost_usd,
            },
            None,
        );
    }

    fn notes(&mut self, notes: Vec<Note>) {
        self.usage();
        for n in notes {
            let event = match n {
                Note::Session(id) => RunEvent::Session { id },
                Note::Activity(summary) => RunEvent::Activity {
                    at: Utc::now(),
                    summary,
                },
            };
            self.emit(event, None);
        }
        if let (Some(limit), Some(turns)) = (self.turn_limit, self.parser.tally().turns) {
            if turns > limit && !self.hit_turn_limit {
                self.hit_turn_limit = true;
                self.emit(
                    RunEvent::Activity {
                        at: Utc::now(),
                        summary: format!("turn limit {limit} reached; stopping the agent"),
                    },
                    None,
                );
                self.stop.cancel();
            }
        }
        if let Some(cap) = self.cost_limit {
            let spent = figures(self.config, self.parser.tally(), self.prior.as_ref()).cost_usd;
            if spent.is_some_and(|c| c > cap) && !self.hit_budget && !self.hit_turn_limit {
                self.hit_budget = true;
                self.emit(
                    RunEvent::Activity {
                        at: Utc::now(),
                        summary: format!("budget ${cap:.4} exceeded; stopping the agent"),
                    },
                    None,
                );
                self.stop.cancel();
            }
        }
    }
}

impl Observer for Watch<'_> {
    fn spawned(&mut self, pid: u32) {
        self.emit(RunEvent::Spawned { pid }, None);
    }

    fn line(&mut self, stream: Stream, line: &[u8]) {
        let mut notes = Vec::new();
        match stream {
            Stream::Stdout => {
                if let Some(obj) = stream::stdout_line(self.parser.as_mut(), line, &mut notes) {
                    let value = if line.len() > MAX_EVENT_BYTES {
                        let mut stub = serde_json::Map::new();
                        stub.insert(
                            "type".into(),
                            obj.get("type").cloned().unwrap_or(Value::Null),
                        );
                        stub.insert("karajan_truncated_bytes".into(), line.len().into());
                        Value::Object(stub)
                    } else {
                        Value::Object(obj)
                    };
                    self.emit(
                        RunEvent::Json {
                            at: Utc::now(),
                            value,
                        },
                        Some(line.to_vec()),
                    );
                }
            }
            Stream::Stderr => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return;
                }
                let text = summarize(line);
                self.parser.stderr(&text);
                notes.push(Note::Activity(format!("stderr: {text}")));
            }
        }
        self.notes(notes);
    }
}

/// The model to pass to a CLI of `kind`: the configured one, unless it belongs to
/// another vendor (a Codex state never inherits a Claude model name); then none, with a
/// warning (`check` reports it as an error beforehand).
pub fn model_for(cfg: &RunnerConfig) -> Option<&str> {
    let model = cfg.model.as_deref()?;
    if super::settings::model_fits(cfg.kind, model) {
        Some(model)
    } else {
        tracing::warn!(runner = %cfg.name, model, "model belongs to another CLI's vendor; not passing it");
        None
    }
}
