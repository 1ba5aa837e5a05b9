//! `karajan dashboard [WORKFLOW]`: print the URL that logs a browser into the running
//! daemon's dashboard (it sets the session cookie), and the daemon-side start of the
//! server (`karajan run --port N` or `server.port`).
//!
//! The daemon writes the address it bound to `<state dir>/dashboard.addr` (the port may
//! be ephemeral) and removes it when it stops; the token lives beside it in
//! `dashboard.token` (0600), generated at first start unless `server.token` is set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Exit;
use crate::config::{Secret, Workflow};
use crate::orchestrator::Handle;
use crate::store::Store;
use crate::web;

const ADDR_FILE: &str = "dashboard.addr";

pub(crate) fn addr_path(wf: &Workflow) -> PathBuf {
    web::token_path(&wf.store.path).with_file_name(ADDR_FILE)
}

fn token_of(wf: &Workflow) -> Result<Secret, Exit> {
    match &wf.server.token {
        Some(t) => Ok(t.clone()),
        None => {
            let path = web::token_path(&wf.store.path);
            web::load_or_create_token(&path).map_err(|e| {
                eprintln!("karajan: cannot read or create {}: {e}", path.display());
                Exit::Failure
            })
        }
    }
}

/// The verb.
pub fn run(workflow: &Path) -> Exit {
    let wf = match super::load_or_report(workflow) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let token = match token_of(&wf) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let running = std::fs::read_to_string(addr_path(&wf))
        .ok()
        .and_then(|s| s.trim().parse::<SocketAddr>().ok());
    let base = match (running, wf.server.port) {
        (Some(addr), _) => format!("http://{addr}"),
        (None, Some(port)) if port != 0 => {
            let host = wf.server.host.as_deref().unwrap_or("127.0.0.1");
            eprintln!("karajan: no running dashboard found; this is its configured address");
            format!("http://{host}:{port}")
        }
        _ => {
            eprintln!(
                "karajan: no dashboard is running for {}: start it with `karajan run --port 0` (or set `server.port`)",
                workflow.display()
            );
            return Exit::Failure;
        }
    };
    println!("{base}/auth?token={}", token.expose());
    Exit::Ok
}

/// A bound listener, waiting for the orchestrator's handle.
pub(crate) struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    loopback: bool,
    token: Secret,
}

/// Bind the server if `--port` or `server.port` asks for one. Refuses a non-loopback
/// host without a configured token.
pub(crate) async fn bind(wf: &Workflow, port: Option<u16>) -> Result<Option<Bound>, Exit> {
    let Some(port) = port.or(wf.server.port) else {
        return Ok(None);
    };
    let (listener, addr, loopback) =
        web::bind(wf.server.host.as_deref(), port, wf.server.token.is_some())
            .await
            .map_err(|e| {
                eprintln!("karajan: {e}");
                match e {
                    web::ServeError::ExposedWithoutToken(_) => Exit::Config,
                    web::ServeError::Bind { .. } => Exit::Failure,
                }
            })?;
    let token = token_of(wf)?;
    Ok(Some(Bound {
        listener,
        addr,
        loopback,
        token,
    }))
}

/// Writes `text` to `path` whole or not at all (a temporary file renamed over it): a
/// reader (`karajan dashboard`, a script waiting for the daemon) never sees the file
/// empty or cut, as it could between `write`'s truncation and its write.
fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("addr.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The running server: stop it with the daemon's token, then `finish`.
pub(crate) struct Serving {
    task: JoinHandle<std::io::Result<()>>,
    addr_file: PathBuf,
}

/// Serve the dashboard until `shutdown` is cancelled.
pub(crate) fn serve(
    bound: Bound,
    wf: &Arc<Workflow>,
    handle: Handle,
    store: Store,
    shutdown: CancellationToken,
) -> Serving {
    let addr_file = addr_path(wf);
    if let Err(e) = write_whole(&addr_file, &format!("{}\n", bound.addr)) {
        warn!(path = %addr_file.display(), error = %e, "cannot record the dashboard address");
    }
    info!(url = %format!("http://{}/", bound.addr), "dashboard: run `karajan dashboard` for the sign-in URL");
    let auth = web::Auth::new(bound.token, bound.loopback);
    let state = web::AppState::new(handle, store, auth, web::secrets_of(wf), shutdown.clone())
        .with_webhooks(wf);
    if let Some(w) = &wf.server.webhooks {
        info!(url = %format!("http://{}{}", bound.addr, w.path), "receiving Linear/GitHub webhooks");
    }
    let task = tokio::spawn(web::serve(bound.listener, web::router(state), shutdown));
    Serving { task, addr_file }
}

impl Serving {
    /// Wait (briefly) for the server to finish after shutdown, and forget the address.
    pub(crate) async fn finish(self) {
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "the dashboard server failed"),
            Ok(Err(e)) => warn!(error = %e, "the dashboard task failed"),
            Err(_) => warn!("the dashboard did not stop within 5s"),
        }
        let _ = std::fs::remove_file(&self.addr_file);
    }
}
