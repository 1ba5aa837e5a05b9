//! `karajan migrate [WORKFLOW] --to postgres://…`: move a workflow's SQLite store into an
//! empty PostgreSQL store, and prove the copy (issue 14, item 5).
//!
//! In order, stopping at the first refusal:
//! 1. the workflow's store must be SQLite, `--to` a valid PostgreSQL URL (`$VAR` expanded
//!    as in `store.url`; never printed: messages name `host:port/database`);
//! 2. the SQLite store's lock (see `store::lock`) is taken and held to the end, so no
//!    daemon writes it meanwhile (one running is a refusal naming it);
//! 3. the source is verified first (with its checkpoint file and key): a broken chain is
//!    not carried over;
//! 4. the target's advisory lock (`store::pg_lock`) is taken, its schema created, and
//!    the rows copied in one transaction into an empty store (`store::copy`; a store
//!    holding anything is refused);
//! 5. every event is read back from both engines and compared byte for byte, and
//!    `verify` runs on the target with the same checkpoint file and key: the head hash
//!    must be the source's.
//!
//! The checkpoint file and the signing key are not copied: they live outside the
//! database, keyed by `store.checkpoints` and `store.signing_key` (by default derived
//! from `store.path`, which a Postgres workflow keeps), and they vouch for hashes, which
//! the copy keeps. So the same files vouch for the Postgres store: the workflow only
//! gains `store.url`, which this verb prints.

use std::path::Path;

use super::Exit;
use crate::config::{PgUrl, Workflow};
use crate::store::copy::{self, CopyError};
use crate::store::verify::Trust;
use crate::store::{Location, Store, VerifyReport, lock, pg_lock, postgres, signing};

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// The workflow file or its folder (see -w/--workflow for the default).
    #[arg(value_name = "WORKFLOW")]
    pub workflow: Option<std::path::PathBuf>,
    /// The empty PostgreSQL store to fill: postgres://USER:PASSWORD@HOST:PORT/DB
    /// (`$VAR` is expanded, as in `store.url`; quote it so the shell does not).
    #[arg(long, value_name = "URL")]
    pub to: String,
}

pub async fn run(workflow: &Path, args: &MigrateArgs) -> Exit {
    let wf = match super::load_or_report(workflow) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    if let Some(url) = &wf.store.postgres {
        eprintln!(
            "karajan: the store of {} is already on PostgreSQL ({}): migrate copies a \
             SQLite store",
            workflow.display(),
            url.describe()
        );
        return Exit::Usage;
    }
    let url = match target_url(&args.to, &crate::settings::expand::process_env) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("karajan: --to {e}");
            return Exit::Usage;
        }
    };
    match migrate(&wf, &url).await {
        Ok(()) => {
            advise(workflow, &wf, &args.to, &url);
            Exit::Ok
        }
        Err((code, message)) => {
            eprintln!("karajan: {}", url.scrub(&message));
            code
        }
    }
}

/// `--to`, expanded and parsed; the error never holds the URL.
pub(crate) fn target_url(
    raw: &str,
    env: crate::settings::expand::EnvLookup<'_>,
) -> Result<PgUrl, String> {
    use crate::settings::expand::{ExpandError, expand_secret};
    let secret = expand_secret(raw, env).map_err(|e| match e {
        ExpandError::Unclosed(_) => "has an unclosed `${`".to_string(),
        e => format!("needs a secret: {e}"),
    })?;
    let url = PgUrl::parse(secret)?;
    if url.options().get_database().is_none() {
        return Err("names no database: postgres://USER:PASSWORD@HOST:PORT/DB".into());
    }
    Ok(url)
}

type Refusal = (Exit, String);

async fn migrate(wf: &Workflow, url: &PgUrl) -> Result<(), Refusal> {
    let fail = |e: &dyn std::fmt::Display| (Exit::Failure, e.to_string());
    let db = &wf.store.path;
    let paths = &wf.store;
    if !db.is_file() {
        return Err((
            Exit::Failure,
            format!("no store at {}: nothing to migrate", db.display()),
        ));
    }
    // Held to the end: no daemon appends to the source while it is copied.
    let _lock = lock::acquire(db).map_err(|e| fail(&e))?;
    let source = match Store::open_read_only(db).await {
        Ok(Some(s)) => s.with_checkpoints(&paths.checkpoints),
        Ok(None) => return Err(fail(&format!("no store at {}", db.display()))),
        Err(e) => return Err(fail(&e)),
    };
    let trust = trust(&paths.signing_key)?;
    let before = source.verify_trusting(&trust).await.map_err(|e| fail(&e))?;
    if !before.is_ok() {
        print_breaks(&before);
        return Err((
            Exit::Tampered,
            format!(
                "the SQLite store {} does not verify ({} break(s)); not copying a broken \
                 chain (see `karajan verify`)",
                db.display(),
                before.breaks.len()
            ),
        ));
    }
    let target = format!("the PostgreSQL store {} (--to)", url.describe());
    let _pg_lock = pg_lock::acquire(url).await.map_err(|e| fail(&e))?;
    let pool = postgres::open_write(url).await.map_err(|e| fail(&e))?;
    let sqlite = source
        .sqlite_readers()
        .ok_or_else(|| fail(&"the source is not a SQLite store"))?;
    let copied = match copy::copy(&sqlite, &pool).await {
        Ok(c) => c,
        Err(e @ CopyError::NotEmpty { .. }) => return Err(fail(&format!("{target}: {e}"))),
        Err(e) => return Err(fail(&format!("copying into {target} failed: {e}"))),
    };
    let compared = copy::compare(&sqlite, &pool).await.map_err(|e| fail(&e))?;
    pool.close().await;
    let on_pg = match Store::open_read_only_at(&Location::Postgres(Box::new(url.clone()))).await {
        Ok(Some(s)) => s.with_checkpoints(&paths.checkpoints),
        Ok(None) => return Err(fail(&format!("{target} has no store after the copy"))),
        Err(e) => return Err(fail(&e)),
    };
    let after = on_pg.verify_trusting(&trust).await.map_err(|e| fail(&e))?;
    on_pg.close().await;
    source.close().await;
    if !after.is_ok() || (after.head_seq, &after.head_hash) != (before.head_seq, &before.head_hash)
    {
        print_breaks(&after);
        return Err((
            Exit::Tampered,
            format!(
                "{target} does not verify as the source did (head seq {} {} there, seq {} {} \
                 here): do not switch to it",
                after.head_seq, after.head_hash, before.head_seq, before.head_hash
            ),
        ));
    }
    let tables = copied
        .projections
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "copied {} events from {} into {target}, and the projections ({tables})",
        copied.events,
        db.display()
    );
    println!("compared {compared} events byte for byte: every seq, time, payload and hash equal");
    println!(
        "verify on PostgreSQL: ok: {} events verified; head seq {} hash {} (the source's)",
        after.events, after.head_seq, after.head_hash
    );
    for note in &after.notes {
        println!("note: {note}");
    }
    Ok(())
}

/// The signatures are checked with the store's own key (no daemon runs: we hold the
/// lock, so rows after the last signed checkpoint are judged strictly).
fn trust(key_file: &Path) -> Result<Trust, Refusal> {
    let shown = key_file.display();
    let key = signing::load(key_file).map_err(|e| (Exit::Failure, e.to_string()))?;
    Ok(Trust {
        source: match &key {
            Some(_) => format!("the key {shown}"),
            None => format!("no key at {shown}"),
        },
        key: key.map(|k| k.public()),
        writer_running: false,
    })
}

fn print_breaks(report: &VerifyReport) {
    for b in &report.breaks {
        println!("BROKEN seq {}: {}", b.seq, b.problem);
    }
}

/// What to change in the workflow, with the URL's password as a `$VAR`.
fn advise(workflow: &Path, wf: &Workflow, raw: &str, url: &PgUrl) {
    let options = url.options();
    let user = options.get_username();
    let shown = match password_of(raw) {
        Some(p) if p.starts_with('$') => format!("postgres://{user}:{p}@{}", url.describe()),
        Some(_) => format!("postgres://{user}:$PGPASSWORD@{}", url.describe()),
        None => format!("postgres://{user}@{}", url.describe()),
    };
    let default_db = workflow
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".karajan/karajan.db");
    println!();
    println!("Now point {} at it (store section):", workflow.display());
    println!("  store:");
    println!("    url: {shown}");
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if !same(&wf.store.path, &default_db) {
        println!(
            "    path: {}   # keep: the signing key's default and the side files follow it",
            wf.store.path.display()
        );
    }
    println!(
        "Keep the checkpoint file {} and the signing key {}: they vouch for the same hashes, \
         so `karajan verify` checks the PostgreSQL store with them as it did the SQLite file.",
        wf.store.checkpoints.display(),
        wf.store.signing_key.display()
    );
    println!(
        "The SQLite file {} is left as it was: move it away once the daemon runs on \
         PostgreSQL (a daemon started on it again would fork the record).",
        wf.store.path.display()
    );
}

/// The password part of a URL as written (`scheme://user:PASSWORD@host…`).
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_url_is_expanded_and_never_echoed() {
        let env = |k: &str| (k == "PGPW").then(|| "s3cr3t-pw".to_string());
        let url = target_url("postgres://u:$PGPW@db.example:6543/k", &env).expect("valid");
        assert_eq!(url.describe(), "db.example:6543/k");
        let e = target_url("postgres://u:$NOPE@h/k", &env).expect_err("unset");
        assert!(e.contains("NOPE"), "{e}");
        let e = target_url("mysql://u:s3cr3t-pw@h/k", &env).expect_err("not pg");
        assert!(!e.contains("s3cr3t-pw") && e.contains("postgres://"), "{e}");
        let e = target_url("postgres://u:s3cr3t-pw@h:notaport/k", &env).expect_err("port");
        assert!(!e.contains("s3cr3t-pw"), "{e}");
    }

    #[test]
    fn the_password_part_is_found_as_written() {
        assert_eq!(password_of("postgres://u:$PGPW@h/d"), Some("$PGPW"));
        assert_eq!(password_of("postgres://u@h/d"), None);
    }
}
