//! The measured process: `karajan run` in the scratch folder, its log, and its stop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::linear::fake::KEY;
use crate::setup;

/// The environment variable the workflow's `server.webhooks.secret` names.
pub const SECRET_VAR: &str = "KARAJAN_WEBHOOK_SECRET";

pub struct Daemon {
    pub child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

/// A port nobody listens on now, for `server.port` (the daemon binds it a moment later).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether this binary knows `server.webhooks` (its own `check --offline` of the
/// webhook workflow says); an older build given as `BENCH_KARAJAN_BIN` may not.
pub fn webhooks_known(bin: &Path, dir: &Path, secret: &str) -> bool {
    Command::new(bin)
        .args(["check", "--offline"])
        .arg(setup::workflow_path(dir))
        .current_dir(dir)
        .env("LINEAR_API_KEY", KEY)
        .env(SECRET_VAR, secret)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The daemon, or with `callgrind` the daemon under valgrind's callgrind, writing its
/// output to `callgrind.<pid>` in the scratch folder (see `order.rs`).
pub fn spawn(bin: &Path, dir: &Path, secret: &str, callgrind: bool) -> Result<Daemon, String> {
    let log = dir.join("karajan.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut command = if callgrind {
        let mut c = Command::new("valgrind");
        c.args(["--tool=callgrind", "--demangle=no"])
            .arg(format!("--dump-before={}", crate::order::STARTED))
            .arg(format!(
                "--callgrind-out-file={}/callgrind.%p",
                dir.display()
            ))
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let child = command
        .arg("run")
        .arg(setup::workflow_path(dir))
        .current_dir(dir)
        .env("LINEAR_API_KEY", KEY)
        .env(SECRET_VAR, secret)
        // `BENCH_LOG=debug` for a diagnosis (the log is in the kept scratch folder).
        .env(
            "KARAJAN_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| {
            if callgrind {
                format!("spawn valgrind (BENCH_SYMBOL_ORDER needs it): {e}")
            } else {
                format!("spawn {}: {e}", bin.display())
            }
        })?;
    let pid = child.id();
    Ok(Daemon { child, pid, log })
}

impl Daemon {
    /// `Some` when the daemon has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last 30 lines of its log.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then SIGKILL if the daemon has not stopped within 30 s.
    pub fn stop(mut self) {
        if let Ok(raw) = i32::try_from(self.pid) {
            let pid = nix::unistd::Pid::from_raw(raw);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
