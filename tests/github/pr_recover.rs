//! `karajan recover` gives each ticket its pull request back: the store is lost while a
//! ticket waits at a merging gate with its PR open; recovery reads the PR from the forge
//! (by the ticket's branch), `status` shows it, and the approval then merges that PR
//! (without it the gate's merge had nothing to merge) — with no second PR opened and
//! nothing written to the forge by the recovery itself.

use super::pr_scratch::PrScratch;
use super::pulls::merging;
use crate::e2e::support::events;

#[test]
fn recover_reads_each_tickets_pull_request_back_from_the_forge() {
    let p = PrScratch::new();
    merging(&p, "    merge: squash\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    let pr = p.pulls()[0].clone();
    let url = events(&p.db())
        .iter()
        .find(|(k, _, _)| k == "pull_request_opened")
        .map(|(_, _, e)| e["url"].as_str().unwrap().to_string())
        .unwrap();

    std::fs::remove_dir_all(p.s.path().join(".karajan")).unwrap(); // the store is lost
    let writes_before = p.s.mutations().len();
    let out = p.s.karajan(&["recover", "workflow.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recovered 1 ticket(s)"), "{stdout}");
    assert!(
        stdout.contains(&format!("acme/app#1: pull request {url}")),
        "{stdout}"
    );
    assert_eq!(
        p.s.mutations().len(),
        writes_before,
        "recovery writes nothing"
    );
    let evs = events(&p.db());
    let opened: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "pull_request_opened")
        .collect();
    assert_eq!(opened.len(), 1, "{evs:?}");
    assert_eq!(opened[0].2["number"], pr.number);
    assert_eq!(opened[0].2["created"], false);
    assert_eq!(opened[0].2["head"].as_str(), p.tip(&pr.head_ref).as_deref());

    let status = p.s.karajan(&["status", "workflow.yaml", "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let text = view.to_string();
    assert!(
        text.contains(&format!("\"number\":{}", pr.number)) && text.contains(&url),
        "status shows the recovered pull request: {text}"
    );

    // The approval merges the recovered pull request, and the ticket is done.
    p.s.human_move(1, "Approved");
    p.s.once();
    assert_eq!(
        p.s.fake.lock().merge_requests,
        vec![(pr.number, "squash".to_string())]
    );
    assert_eq!(p.pulls().len(), 1, "no second pull request");
    assert_eq!(p.s.column(1), "Done");
}
