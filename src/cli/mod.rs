//! The command line: one file per verb. Each verb returns an `Exit` code; `main` maps it
//! to the process exit status.

mod check;
mod dashboard;
mod dry_run;
mod history;
mod init;
mod preflight;
mod recover;
mod run;
mod status;
pub mod telemetry;
mod verify;

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
    about = "Drive tickets through a workflow of coding agents and human gates, with a verifiable record."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `karajan=debug`.
    #[arg(long, global = true, env = "KARAJAN_LOG")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (or one tick with --once, or plan only with --dry-run).
    Run(run::RunArgs),
    /// Validate the workflow, render every stage prompt against a sample ticket, and check
    /// the tracker's columns (read-only).
    Check {
        /// The workflow file.
        #[arg(default_value = "workflow.yaml")]
        workflow: PathBuf,
        /// Skip the tracker's read-only check (no network at all).
        #[arg(long)]
        offline: bool,
    },
    /// Re-hash the event chain and compare it with the checkpoints.
    Verify {
        /// The workflow file (its `store` section locates the database).
        #[arg(default_value = "workflow.yaml")]
        workflow: PathBuf,
    },
    /// Where every ticket stands, and totals per state and per day, from the store.
    Status {
        /// The workflow file.
        #[arg(default_value = "workflow.yaml")]
        workflow: PathBuf,
    },
    /// Print a ticket's timeline from the store, hash-linked.
    History {
        /// The ticket identifier, e.g. `ENG-42`.
        ticket: String,
        /// The workflow file.
        #[arg(long, default_value = "workflow.yaml")]
        workflow: PathBuf,
    },
    /// Rebuild a lost store from the hidden markers of karajan's tracker comments.
    Recover {
        /// The workflow file.
        #[arg(default_value = "workflow.yaml")]
        workflow: PathBuf,
    },
    /// Print the URL that signs a browser into the running daemon's dashboard.
    Dashboard {
        /// The workflow file.
        #[arg(default_value = "workflow.yaml")]
        workflow: PathBuf,
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
        /// `DIR/workflow.yaml` (a GitHub tracker in labels mode) needs.
        #[arg(long)]
        github_labels: bool,
    },
}

pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Check { workflow, offline } => check::run(&workflow, offline).await,
        Command::Verify { workflow } => verify::run(&workflow).await,
        Command::Status { workflow } => status::run(&workflow).await,
        Command::History { ticket, workflow } => history::run(&workflow, &ticket).await,
        Command::Recover { workflow } => recover::run(&workflow).await,
        Command::Dashboard { workflow } => dashboard::run(&workflow),
        Command::Init {
            dir,
            github_labels: true,
            ..
        } => init::github_labels(&dir.join("workflow.yaml")).await,
        Command::Init { dir, force, .. } => init::run(&dir, force),
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
            crate::config::StoreConfig {
                path: dir.join("karajan.db"),
                postgres: None,
                checkpoints: dir.join("checkpoints"),
                logs: dir.join("logs"),
            }
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
