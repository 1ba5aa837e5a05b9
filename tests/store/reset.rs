//! Opening a store for a writer against its checkpoint file (`store::reset`): a store
//! that is missing, behind, or holds another history than the checkpoint vouches for is
//! refused, naming both heads; accepting keeps the old file aside and starts clean.

use karajan::store::reset::{OpenError, Opened, open_checked};

use super::*;

async fn refused(db: &Path, cps: &Path) -> String {
    match open_checked(db, cps, false).await {
        Err(OpenError::Refused(r)) => r.to_string(),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("opened"),
    }
}

fn kept(f: &Fixture) -> Vec<PathBuf> {
    std::fs::read_dir(f.dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".checkpoints.reset-"))
        .collect()
}

#[tokio::test]
async fn a_consistent_or_lagging_checkpoint_opens() {
    let f = Fixture::new().await;
    f.append((1..=5).map(note).collect()).await;
    let at_five = std::fs::read_to_string(f.checkpoints()).expect("checkpoint file");
    f.store.append(vec![note(6)]).await.expect("append");
    f.store.close().await;
    // The file lags the database (a crash before the background write): fine.
    std::fs::write(f.checkpoints(), at_five).expect("rewind the file");
    let (store, opened) = open_checked(&f.db(), &f.checkpoints(), false)
        .await
        .expect("opens");
    assert_eq!(opened, Opened::Consistent);
    assert!(store.verify().await.expect("verify").is_ok());
}

#[tokio::test]
async fn a_missing_store_is_refused_and_nothing_is_created() {
    let f = Fixture::new().await;
    f.append((1..=5).map(note).collect()).await;
    f.store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", f.db().display()));
    }
    let text = refused(&f.db(), &f.checkpoints()).await;
    assert!(
        text.contains("is missing") && text.contains("records head seq 5 "),
        "{text}"
    );
    assert!(!f.db().exists(), "a refusal creates nothing");
    let (store, opened) = open_checked(&f.db(), &f.checkpoints(), true)
        .await
        .expect("accepted");
    assert!(matches!(opened, Opened::Accepted { .. }), "{opened:?}");
    assert_eq!(kept(&f).len(), 1);
    store.append(vec![note(1)]).await.expect("append");
    assert!(store.verify().await.expect("verify").is_ok());
}

#[tokio::test]
async fn a_store_behind_or_rewritten_is_refused_until_accepted() {
    let f = Fixture::new().await;
    f.append((1..=8).map(note).collect()).await;
    f.store.close().await;
    // Behind: the tail was cut.
    let mut conn = f.raw().await;
    sqlx::raw_sql(
        "DROP TRIGGER IF EXISTS events_no_delete; DELETE FROM events WHERE seq > 6; \
         UPDATE chain_head SET seq = 6, hash = (SELECT hash FROM events WHERE seq = 6);",
    )
    .execute(&mut conn)
    .await
    .expect("cut");
    let text = refused(&f.db(), &f.checkpoints()).await;
    assert!(text.contains("is behind its checkpoint"), "{text}");
    assert!(
        text.contains("head seq 6 (hash ") && text.contains("records head seq 8 "),
        "{text}"
    );
    // Same length, another history: rows 7 and 8 appended anew (other times, hashes).
    let (store, _) = open_checked(&f.db(), &f.checkpoints(), true)
        .await
        .expect("accepted");
    store
        .append(vec![note(70), note(80)])
        .await
        .expect("append");
    store.close().await;
    assert_eq!(kept(&f).len(), 1);
    // Put the old checkpoint file (head 8, the old hash) back: the store now has seq 8
    // with another hash.
    std::fs::rename(&kept(&f)[0], f.checkpoints()).expect("restore old file");
    let text = refused(&f.db(), &f.checkpoints()).await;
    assert!(text.contains("holds another history"), "{text}");
}

#[tokio::test]
async fn a_database_that_goes_back_under_a_running_writer_stops_its_appends() {
    let f = Fixture::new().await;
    f.append((1..=6).map(note).collect()).await;
    // Cut back behind the writer's back (an older copy written over the file).
    let mut conn = f.raw().await;
    sqlx::raw_sql(
        "DROP TRIGGER IF EXISTS events_no_delete; DELETE FROM events WHERE seq > 4; \
         UPDATE chain_head SET seq = 4, hash = (SELECT hash FROM events WHERE seq = 4);",
    )
    .execute(&mut conn)
    .await
    .expect("cut");
    let err = f
        .store
        .append(vec![note(7)])
        .await
        .expect_err("the writer notices");
    let text = err.to_string();
    assert!(
        text.contains("went back in time")
            && text.contains("up to seq 6")
            && text.contains("seq 5"),
        "{text}"
    );
    // The evidence survives: verify reports the lost head.
    assert!(!f.store.verify().await.expect("verify").is_ok());
}
