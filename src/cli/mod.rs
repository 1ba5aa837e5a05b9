//! The command line: one file per verb. Each verb returns an `Exit` code; `main` maps it
//! to the process exit status.
//!
//! Every verb finds its workflow the same way (`locate`: argument, `-w`,
//! `KARAJAN_WORKFLOW`, discovery upwards). Verbs that read (`status`, `history`, `runs`,
//! `logs`) open the store read-only and work with or without a daemon; verbs that act
//! (`approve`, `rework`, `pause`, `resume`, `refresh`, `top`'s keys) go through the
//! running daemon's API (`daemon`), because only the daemon writes the record.

mod act;
mod anchors;
mod bundle;
mod check;
mod daemon;
mod dashboard;
mod docs;
mod dry_run;
mod export;
mod graph;
mod history;
mod history_proof;
mod init;
mod key;
pub mod locate;
mod logs;
mod migrate;
mod preflight;
mod recover;
mod recover_pr;
mod run;
mod run_cluster;
mod runs;
mod stall;
mod status;
pub mod telemetry;
mod top;
mod verify;
mod verify_bundle;
mod verify_logs;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// Process exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// A runtime failure: the store, the file system, an unreachable tracker.
    Failure = 1,
    /// A usage error: the command line contradicts itself (clap's own errors exit 2 too).
    Usage = 2,
    /// The workflow (or a prompt) is invalid.
    Config = 3,
    /// `verify` found a break in the event chain.
    Tampered = 4,
    /// The tracker does not match the workflow (missing columns, bad credentials).
    Tracker = 5,
    /// `run --once`: a run failed or a ticket was escalated (the summary says which).
    RunFailed = 6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "karajan",
    version,
    about = "Drive tickets through a workflow of coding agents and human gates, with a verifiable record.",
    after_help = "The workflow: the verb's WORKFLOW argument, else -w/--workflow, else $KARAJAN_WORKFLOW, \
                  else workflow.yaml in the current folder or the nearest folder above it."
)]
pub struct Cli {
    /// The workflow file (or its folder), for every verb; default: $KARAJAN_WORKFLOW,
    /// else workflow.yaml in this folder or the nearest one above it.
    #[arg(
        short = 'w',
        long = "workflow",
        id = "workflow_flag",
        global = true,
        value_name = "WORKFLOW"
    )]
    pub workflow: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `karajan=debug`; overrides
    /// -q and -v.
    #[arg(long, global = true, env = "KARAJAN_LOG", value_parser = telemetry::parse_filter)]
    pub log: Option<String>,
    /// Log errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log more: -v debug, -vv trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour the logs: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: telemetry::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How loud the logs are.
    pub fn verbosity(&self) -> telemetry::Verbosity {
        telemetry::Verbosity {
            filter: self.log.clone(),
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }
}

/// A verb's optional positional workflow.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkflowArg {
    /// The workflow file or its folder (see -w/--workflow for the default).
    #[arg(value_name = "WORKFLOW")]
    pub workflow: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (or one tick with --once, or plan only with --dry-run).
    Run(run::RunArgs),
    /// Validate the workflow, render every stage prompt against a sample ticket, and check
    /// the tracker's columns (read-only).
    Check {
        #[command(flatten)]
        workflow: WorkflowArg,
        /// Skip the tracker's read-only check (no network at all).
        #[arg(long)]
        offline: bool,
    },
    /// Re-hash the event chain, compare it with the checkpoints and check their
    /// signatures.
    Verify {
        #[command(flatten)]
        workflow: WorkflowArg,
        /// Also re-hash the runs' log files against the SHA-256 the chain holds.
        #[arg(long, conflicts_with = "bundle")]
        logs: bool,
        /// Check an evidence bundle written by `karajan export` instead (no store or
        /// workflow needed).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Check the signatures with this public key (what `karajan key` prints) instead
        /// of the store's own key: for someone who does not hold the private key.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// Also check the chain heads anchored in karajan's tracker comments (reads
        /// every comment of every ticket): catches a store replaced wholesale.
        #[arg(long)]
        against_tracker: bool,
    },
    /// Print the public key that verifies the store's signed checkpoints.
    Key {
        #[command(flatten)]
        workflow: WorkflowArg,
    },
    /// Write an evidence bundle (events, log files, checkpoints, manifest; redacted) that
    /// `karajan verify --bundle` checks elsewhere.
    Export(export::ExportArgs),
    /// Where every ticket stands, and totals per state and per day, from the store.
    Status {
        #[command(flatten)]
        workflow: WorkflowArg,
        /// Print JSON (the shape the README documents) instead of text.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// A live view of the running daemon instead (the same as `karajan top`).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        top: top::TopArgs,
    },
    /// A live view of the running daemon: running agents, gates, retries, held tickets,
    /// recent transitions, today's spend; keys to act. Plain text when not a terminal.
    Top(top::TopArgs),
    /// Print a ticket's timeline from the store: each event's hash link, whether a
    /// signed checkpoint seals it and a tracker anchor covers it.
    History {
        /// The ticket identifier, e.g. `ENG-42`.
        ticket: String,
        /// Print JSON (the shape the README documents) instead of text.
        #[arg(long)]
        json: bool,
        /// Check the checkpoints' signatures with this public key (what `karajan key`
        /// prints) instead of the store's own key.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Recent runs with their outcome, tokens and cost, from the store.
    Runs(runs::RunsArgs),
    /// An agent run's output (the latest run of the ticket unless --run says), from its
    /// log files; -f follows it live.
    Logs(logs::LogsArgs),
    /// Approve a ticket waiting at a gate (through the running daemon).
    Approve {
        /// The ticket identifier, e.g. `ENG-42`.
        ticket: String,
        /// Who decides, as recorded (default: $USER, else `cli`).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Send a ticket at a gate back for rework, with feedback for the agent (through the
    /// running daemon).
    Rework {
        /// The ticket identifier, e.g. `ENG-42`.
        ticket: String,
        /// The feedback the agent gets.
        #[arg(short = 'm', long = "message", value_name = "FEEDBACK")]
        message: String,
        /// Who decides, as recorded (default: $USER, else `cli`).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Stop dispatching new runs (running agents go on), through the running daemon.
    Pause,
    /// Dispatch again after `pause`, through the running daemon.
    Resume,
    /// Ask the running daemon to poll the tracker and reconcile now.
    Refresh,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page karajan(1) in roff, or write one page per verb to --dir.
    Man {
        /// Write karajan.1, karajan-run.1, … into this folder instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Rebuild a lost store from the hidden markers of karajan's tracker comments.
    Recover {
        #[command(flatten)]
        workflow: WorkflowArg,
    },
    /// Copy the workflow's SQLite store into an empty PostgreSQL store and verify the
    /// copy byte for byte (then set `store.url`, as it says).
    Migrate(migrate::MigrateArgs),
    /// Print the URL that signs a browser into the running daemon's dashboard.
    Dashboard {
        #[command(flatten)]
        workflow: WorkflowArg,
    },
    /// Write a starter workflow.yaml, prompts and a tickets folder.
    Init {
        /// Where to write them.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
        /// Instead of writing files: create the state labels that the existing
        /// `DIR/workflow.yaml` (a GitHub tracker in labels mode) needs (or the one
        /// -w/--workflow names).
        #[arg(long)]
        github_labels: bool,
    },
    /// Print the workflow's state machine as a Mermaid flowchart or Graphviz DOT (for a
    /// README: see the README's "Pictures of the workflow").
    Graph(graph::GraphArgs),
    /// Print the JSON Schema of workflow.yaml (for editors: see the README's "Editor
    /// support").
    Schema,
}

pub async fn run(cli: Cli) -> Exit {
    let flag = cli.workflow.as_deref();
    let resolve = |positional: Option<&Path>| locate::resolve(positional, flag);
    macro_rules! workflow {
        ($positional:expr) => {
            match resolve($positional) {
                Ok(path) => path,
                Err(code) => return code,
            }
        };
    }
    match cli.command {
        Command::Run(args) => {
            let path = workflow!(args.workflow.as_deref());
            run::run(&path, args).await
        }
        Command::Check { workflow, offline } => {
            check::run(&workflow!(workflow.workflow.as_deref()), offline).await
        }
        Command::Verify {
            bundle: Some(dir),
            public_key,
            ..
        } => verify_bundle::run(&dir, public_key.as_deref()),
        Command::Verify {
            workflow,
            logs,
            public_key,
            against_tracker,
            ..
        } => {
            let path = workflow!(workflow.workflow.as_deref());
            let chain = verify::run(&path, public_key.as_deref(), against_tracker).await;
            if !logs || chain == Exit::Failure {
                return chain;
            }
            match verify_logs::run(&path).await {
                Exit::Ok => chain,
                other => other,
            }
        }
        Command::Export(args) => {
            let (positional, out) = match args.paths.as_slice() {
                [out] => (None, out.clone()),
                [wf, out] => (Some(wf.as_path()), out.clone()),
                _ => {
                    eprintln!("karajan: export needs [WORKFLOW] OUT");
                    return Exit::Usage;
                }
            };
            export::run(&workflow!(positional), &out, &args).await
        }
        Command::Key { workflow } => key::run(&workflow!(workflow.workflow.as_deref())),
        Command::Status {
            workflow,
            watch: true,
            top,
            ..
        } => top::run(&workflow!(workflow.workflow.as_deref()), &top).await,
        Command::Status { workflow, json, .. } => {
            status::run(&workflow!(workflow.workflow.as_deref()), json).await
        }
        Command::Top(args) => top::run(&workflow!(None), &args).await,
        Command::History {
            ticket,
            json,
            public_key,
        } => history::run(&workflow!(None), &ticket, json, public_key.as_deref()).await,
        Command::Runs(args) => runs::run(&workflow!(None), &args).await,
        Command::Logs(args) => logs::run(&workflow!(None), &args).await,
        Command::Approve { ticket, actor } => {
            act::run(
                &workflow!(None),
                act::Action::Approve { ticket },
                actor.as_deref(),
            )
            .await
        }
        Command::Rework {
            ticket,
            message,
            actor,
        } => {
            if message.trim().is_empty() {
                eprintln!("karajan: rework needs feedback for the agent: -m FEEDBACK");
                return Exit::Usage;
            }
            let action = act::Action::Rework {
                ticket,
                feedback: message,
            };
            act::run(&workflow!(None), action, actor.as_deref()).await
        }
        Command::Pause => act::run(&workflow!(None), act::Action::Pause, None).await,
        Command::Resume => act::run(&workflow!(None), act::Action::Resume, None).await,
        Command::Refresh => act::run(&workflow!(None), act::Action::Refresh, None).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        Command::Recover { workflow } => {
            recover::run(&workflow!(workflow.workflow.as_deref())).await
        }
        Command::Migrate(args) => migrate::run(&workflow!(args.workflow.as_deref()), &args).await,
        Command::Dashboard { workflow } => dashboard::run(&workflow!(workflow.workflow.as_deref())),
        Command::Init {
            dir,
            github_labels: true,
            ..
        } => {
            let path = match flag {
                Some(_) => workflow!(None),
                None => dir.join(locate::FILE_NAME),
            };
            init::github_labels(&path).await
        }
        Command::Init { .. } if flag.is_some() => {
            eprintln!(
                "karajan: `init` writes into DIR; -w/--workflow only goes with --github-labels"
            );
            Exit::Usage
        }
        Command::Init { dir, force, .. } => init::run(&dir, force),
        Command::Graph(args) => {
            graph::run(&workflow!(args.workflow.workflow.as_deref()), args.format)
        }
        Command::Schema => {
            let text = crate::workflow_load::json_schema_text() + "\n";
            match std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()) {
                Ok(()) => Exit::Ok,
                Err(_) => Exit::Failure,
            }
        }
    }
}

/// Load the workflow or print every problem with it.
pub(crate) fn load_or_report(path: &Path) -> Result<crate::config::Workflow, Exit> {
    crate::workflow_load::load(path).map_err(|errors| {
        eprintln!("karajan: {} is invalid:\n{errors}", path.display());
        Exit::Config
    })
}

/// Where the store of a workflow lives, even when the workflow no longer loads.
pub(crate) fn store_paths(path: &Path) -> crate::config::StoreConfig {
    // Unrendered: a prompt that does not render must not hide where the store is.
    match crate::workflow_load::load_unrendered_file(path) {
        Ok(wf) => wf.store,
        Err(_) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(".karajan");
            let db = dir.join("karajan.db");
            let env = |k: &str| std::env::var(k).ok();
            crate::config::StoreConfig {
                signing_key: crate::config::default_signing_key(&env, &db),
                path: db,
                postgres: None,
                cluster: None,
                checkpoints: dir.join("checkpoints"),
                logs: dir.join("logs"),
            }
        }
    }
}

/// Print `value` as pretty JSON on stdout, with every secret the workflow holds
/// blanked (the store holds none, but an export is where a leak would last).
pub(crate) fn print_json<T: serde::Serialize>(workflow: &Path, value: &T) -> Exit {
    let secrets = crate::workflow_load::load_unrendered_file(workflow)
        .map(|wf| crate::redact::secrets_of(&wf))
        .unwrap_or_default();
    let redactor = crate::redact::Redactor::new(secrets);
    match redactor
        .scrub(value)
        .and_then(|v| serde_json::to_string_pretty(&v))
    {
        Ok(text) => {
            println!("{text}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("karajan: cannot write JSON: {e}");
            Exit::Failure
        }
    }
}

/// Open a workflow's store read-only for a reporting verb, or say why not.
pub(crate) async fn open_store(workflow: &Path) -> Result<crate::store::Store, Exit> {
    let paths = store_paths(workflow);
    let location = crate::store::Location::from(&paths);
    match crate::store::Store::open_read_only_at(&location).await {
        Ok(Some(s)) => Ok(s.with_checkpoints(&paths.checkpoints)),
        Ok(None) => {
            eprintln!("karajan: no store at {location}");
            Err(Exit::Failure)
        }
        Err(e) => {
            eprintln!("karajan: cannot open the store: {e}");
            Err(Exit::Failure)
        }
    }
}
