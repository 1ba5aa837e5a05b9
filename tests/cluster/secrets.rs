//! A cluster node shows the store URL's password nowhere (debug logs included), and
//! `--once` on a cluster store takes the lease, runs one tick and lets it go.

use std::process::Output;

use crate::e2e::support::{Scratch, command, stderr, stdout};
use crate::pg::TestDb;

const PASSWORD: &str = "pg-cluster-s3cr3t-Zq9";

fn karajan(s: &Scratch, args: &[&str]) -> Output {
    command()
        .args(args)
        .current_dir(s.path())
        .env("KARAJAN_LOG", "debug")
        .env("PGPW", PASSWORD)
        .output()
        .expect("karajan runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_never_shows_the_store_password() {
    let Some(db) = TestDb::create("cluster::secrets::never_shows_the_password").await else {
        return;
    };
    let s = Scratch::quickstart();
    let (scheme, rest) = db.url.split_once("://").expect("url");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    let mut wf = std::fs::read_to_string(s.workflow()).expect("workflow");
    wf.push_str(&format!(
        "store:\n  url: {scheme}://postgres:$PGPW@{host}\n  cluster: true\n  lease_ttl: 3s\n"
    ));
    std::fs::write(s.workflow(), wf).expect("write");
    let once = karajan(&s, &["run", "workflow.yaml", "--once", "--node", "solo"]);
    assert!(once.status.success(), "{}", stderr(&once));
    assert!(
        stderr(&once).contains("took the tracker lease"),
        "{}",
        stderr(&once)
    );
    assert!(stdout(&once).contains("QS-1"), "{}", stdout(&once));
    let status = karajan(&s, &["status", "workflow.yaml"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout(&status).contains("solo"), "{}", stdout(&status));
    assert!(stdout(&status).contains("stopped"), "{}", stdout(&status));
    let verify = karajan(&s, &["verify", "workflow.yaml"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    for (what, out) in [("run", &once), ("status", &status), ("verify", &verify)] {
        for text in [stdout(out), stderr(out)] {
            assert!(
                !text.contains(PASSWORD),
                "{what} shows the password:\n{text}"
            );
        }
    }
    // The lease was let go at the end: it is free for the next node at once.
    let mut conn = db.connect().await;
    let live: bool =
        sqlx::query_scalar("SELECT expires_at > now() FROM leases WHERE name = 'tracker'")
            .fetch_one(&mut conn)
            .await
            .expect("lease");
    assert!(!live, "a graceful stop releases the lease");
}
