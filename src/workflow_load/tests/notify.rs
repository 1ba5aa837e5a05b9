//! `notify:`: named targets with a kind, a URL from the environment and an events
//! filter; every problem at its key, and no message quotes the expanded URL.

use super::*;

#[test]
fn targets_load_with_their_kind_url_and_filter_and_the_defaults() {
    let f = Fixture::new();
    let wf = f
        .load(&format!(
            "{BASE}notify:\n  targets:\n    team:\n      kind: slack\n      url: $HOOK_URL\n      events: [escalated, gate_waiting]\n    ops:\n      kind: webhook\n      url: $HOOK_URL\n"
        ))
        .unwrap();
    let n = &wf.notify;
    assert_eq!(n.gate_delay, Duration::from_secs(600));
    assert_eq!(n.failure_streak, 3);
    assert_eq!(n.targets.len(), 2);
    let (team, ops) = (&n.targets[0], &n.targets[1]);
    assert_eq!((team.name.as_str(), team.kind), ("team", TargetKind::Slack));
    assert_eq!(ops.kind, TargetKind::Webhook);
    assert_eq!(
        team.url.expose(),
        "https://hooks.example.com/services/T0/B0/xyz"
    );
    assert!(team.wants("escalated") && !team.wants("daemon_stopped"));
    assert!(ops.wants("daemon_stopped"), "no filter: every event");
    // The URL is one of the secrets the redactor blanks.
    assert!(crate::redact::secrets_of(&wf).contains(&team.url.expose().to_string()));
    let wf = f
        .load(&format!(
            "{BASE}notify:\n  gate_delay: 30m\n  failure_streak: 5\n  targets:\n    ops: {{kind: webhook, url: $HOOK_URL}}\n"
        ))
        .unwrap();
    assert_eq!(wf.notify.gate_delay, Duration::from_secs(1800));
    assert_eq!(wf.notify.failure_streak, 5);
    assert!(f.load(BASE).unwrap().notify.targets.is_empty());
}

#[test]
fn every_problem_is_reported_at_its_key() {
    let f = Fixture::new();
    let target = |body: &str| format!("{BASE}notify:\n  targets:\n    team:\n{body}");
    let cases = [
        (
            target("      kind: teams\n      url: $HOOK_URL\n"),
            "notify.targets.team.kind",
            "unknown value `teams`; expected `webhook` or `slack`",
        ),
        (
            target("      url: $HOOK_URL\n"),
            "notify.targets.team.kind",
            "a target needs a `kind`",
        ),
        (
            target("      kind: slack\n      url: https://hooks.slack.com/services/T0/B0/xyz\n"),
            "notify.targets.team.url",
            "the URL is a secret",
        ),
        (
            target("      kind: slack\n      url: $DEMO_TOKEN\n"),
            "notify.targets.team.url",
            "`$DEMO_TOKEN` does not expand to an http(s) URL",
        ),
        (
            target("      kind: slack\n      url: $NOPE\n"),
            "notify.targets.team.url",
            "missing secret",
        ),
        (
            target("      kind: slack\n      url: $HOOK_URL\n      events: [escalation]\n"),
            "notify.targets.team.events.0",
            "unknown event `escalation`",
        ),
        (
            format!(
                "{BASE}notify:\n  gate_delay: 10\n  targets:\n    t: {{kind: slack, url: $HOOK_URL}}\n"
            ),
            "notify.gate_delay",
            "",
        ),
        (
            format!(
                "{BASE}notify:\n  failure_streak: 0\n  targets:\n    t: {{kind: slack, url: $HOOK_URL}}\n"
            ),
            "notify.failure_streak",
            "",
        ),
        (
            format!("{BASE}notify:\n  gate_delay: 5m\n"),
            "notify.targets",
            "needs at least one target",
        ),
        (
            target("      kind: slack\n      url: $HOOK_URL\n      channel: '#ops'\n"),
            "notify.targets.team.channel",
            "",
        ),
    ];
    for (yaml, key, message) in cases {
        let e = f.error_at(&yaml, key);
        assert!(e.message.contains(message), "{key}: {}", e.message);
        assert!(!e.message.contains("hooks.example.com"), "{}", e.message);
    }
}
