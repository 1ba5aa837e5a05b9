//! `verify` finds the same edits on both engines: an edited row, a deleted row, a cut
//! tail (rows deleted and `chain_head` moved back, which only the checkpoint file can
//! tell). The SQL is the same on both; only the trigger dropping differs (`Backend::edit`).

use super::parity;
use crate::store::{intent, note};

/// Ten events, checkpointed; verifies clean.
async fn chain(b: &super::Backend) {
    let batch = (1..=10u32)
        .map(|i| {
            if i % 4 == 0 {
                intent("ENG-1", &format!("i-{i}"), "Todo")
            } else {
                note(i)
            }
        })
        .collect();
    b.store.append(batch).await.expect("append");
    b.store.flush_checkpoints().await.expect("flush");
    let report = b.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{}: {report:?}", b.name);
}

fn seqs(report: &karajan::store::VerifyReport) -> Vec<i64> {
    report.breaks.iter().map(|b| b.seq).collect()
}

parity! {
    async fn an_edited_row_is_reported_at_its_seq(b: Backend) {
        chain(b).await;
        b.edit("UPDATE events SET payload = '{\"error\":\"note 99\"}' WHERE seq = 5").await;
        let report = b.store.verify().await.expect("verify");
        assert_eq!(seqs(&report), vec![5], "{}: {report:?}", b.name);
    }

    async fn an_edited_issue_is_reported_at_its_seq(b: Backend) {
        chain(b).await;
        b.edit("UPDATE events SET issue = 'ENG-9' WHERE seq = 8").await;
        let report = b.store.verify().await.expect("verify");
        assert_eq!(seqs(&report), vec![8], "{}: {report:?}", b.name);
    }

    async fn a_deleted_row_is_reported_at_its_seq(b: Backend) {
        chain(b).await;
        b.edit("DELETE FROM events WHERE seq = 4").await;
        let report = b.store.verify().await.expect("verify");
        assert_eq!(seqs(&report), vec![4], "{}: {report:?}", b.name);
    }

    async fn a_cut_tail_is_caught_by_the_checkpoint(b: Backend) {
        chain(b).await;
        b.edit(
            "DELETE FROM events WHERE seq > 7; \
             UPDATE chain_head SET seq = 7, hash = (SELECT hash FROM events WHERE seq = 7)",
        )
        .await;
        let report = b.store.verify().await.expect("verify");
        assert!(!report.is_ok(), "{}", b.name);
        assert_eq!(report.head_seq, 7);
        assert!(
            report.breaks.iter().any(|x| x.seq == 10 && x.problem.contains("deleted")),
            "{}: {report:?}",
            b.name
        );
    }
}

parity! {
    /// A writer refuses to start on a store cut back behind its checkpoint file, naming
    /// both heads, on either engine (`store::reset`).
    async fn a_store_behind_its_checkpoint_is_refused_at_start(b: Backend) {
        chain(b).await;
        b.edit(
            "DELETE FROM events WHERE seq > 6; \
             UPDATE chain_head SET seq = 6, hash = (SELECT hash FROM events WHERE seq = 6)",
        )
        .await;
        let opened = karajan::store::reset::open_checked_at(
            &b.location,
            &b.dir.path().join("k.checkpoints"),
            false,
        )
        .await;
        match opened {
            Err(karajan::store::reset::OpenError::Refused(r)) => {
                assert_eq!(r.store_head.as_ref().map(|h| h.0), Some(6), "{}", b.name);
                assert_eq!(r.checkpoint_head.0, 10);
                assert!(r.to_string().contains("is behind its checkpoint"), "{r}");
            }
            Err(e) => panic!("{}: {e}", b.name),
            Ok(_) => panic!("{}: a store behind its checkpoint was opened", b.name),
        }
    }
}
