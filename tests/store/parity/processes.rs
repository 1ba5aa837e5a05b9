//! Appenders in several processes never fork the chain: this test binary re-runs itself
//! as child appenders (the ignored `appender_child` below, selected with `--exact`),
//! each opening the same store on its own, while the parent appends too.

use std::process::{Command, Stdio};

use karajan::settings::Secret;
use karajan::store::{Location, PgUrl, Store};

use super::parity;
use crate::store::note;

/// The store the child opens: `sqlite:PATH` or `postgres:URL`.
const STORE_VAR: &str = "KARAJAN_TEST_APPENDER_STORE";
/// The child's number (its notes' range) and checkpoint file.
const TAG_VAR: &str = "KARAJAN_TEST_APPENDER_TAG";
const CHILDREN: u32 = 3;
const BATCHES: u32 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child side of `appenders_in_several_processes_form_one_chain`, which runs it"]
async fn appender_child() {
    let spec = std::env::var(STORE_VAR).expect("run by its parent test, which sets the store");
    let tag: u32 = std::env::var(TAG_VAR)
        .expect("tag")
        .parse()
        .expect("number");
    let location = match spec.split_once(':') {
        Some(("sqlite", path)) => Location::Sqlite(path.into()),
        Some(("postgres", url)) => {
            Location::Postgres(Box::new(PgUrl::parse(Secret::new(url)).expect("url")))
        }
        _ => panic!("bad store spec {spec}"),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_at(&location, &dir.path().join("child.checkpoints"))
        .await
        .expect("child opens the store");
    for n in 0..BATCHES {
        let stored = store
            .append(vec![note(tag * 1000 + n), note(tag * 1000 + 500 + n)])
            .await
            .expect("child append");
        assert_eq!(stored[1].seq, stored[0].seq + 1);
    }
    store.close().await;
}

parity! {
    async fn appenders_in_several_processes_form_one_chain(b: Backend) {
        let spec = match (&b.location, &b.pg) {
            (Location::Sqlite(path), _) => format!("sqlite:{}", path.display()),
            (_, Some(db)) => format!("postgres:{}", db.url),
            _ => unreachable!("a Postgres backend has its database"),
        };
        let exe = std::env::current_exe().expect("test binary");
        let children: Vec<_> = (1..=CHILDREN)
            .map(|tag| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "store::parity::processes::appender_child",
                        "--ignored",
                        "--test-threads=1",
                    ])
                    .env(STORE_VAR, &spec)
                    .env(TAG_VAR, tag.to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("child starts")
            })
            .collect();
        for n in 0..BATCHES {
            b.store.append(vec![note(n), note(500 + n)]).await.expect("parent append");
        }
        for child in children {
            let out = child.wait_with_output().expect("child ends");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}: child failed:\n{text}\n{}", b.name,
                String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("1 passed"), "{}: the child ran no append:\n{text}", b.name);
        }
        let expected = i64::from((CHILDREN + 1) * BATCHES * 2);
        let report = b.store.verify().await.expect("verify");
        assert!(report.is_ok(), "{}: {report:?}", b.name);
        assert_eq!((report.events, report.head_seq), (u64::try_from(expected).expect("small"), expected));
        // Every note is there once: nothing was lost or written twice.
        let events = b.store.events_page(0, 10_000).await.expect("events");
        let mut notes: Vec<_> = events.iter().map(|e| e.payload.to_string()).collect();
        notes.sort();
        notes.dedup();
        assert_eq!(notes.len(), events.len());
    }
}
