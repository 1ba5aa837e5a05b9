//! `server.webhooks` in `workflow.yaml`, loaded from outside: the defaults, and each
//! misconfiguration reported with its key path and line like every other error.

use std::time::Duration;

use crate::e2e::support::Scratch;

/// `server.webhooks` in a workflow: defaults, and a clear error (key and line) for each
/// misconfiguration.
#[test]
fn the_webhooks_section_is_validated_with_keys_and_lines() {
    let s = Scratch::quickstart();
    let text = std::fs::read_to_string(s.workflow()).unwrap();
    let linear = text.replace(
        "tracker:\n  kind: local\n  dir: ./tickets\n",
        "tracker:\n  kind: linear\n  api_key: $HOME\n  project: p1\n",
    );
    assert_ne!(linear, text);
    let load = |base: &str, server: &str| {
        karajan::workflow_load::load_str(&format!("{base}server:\n{server}"), &s.workflow())
    };
    let errors = |base: &str, server: &str| -> Vec<karajan::config::ConfigError> {
        match load(base, server) {
            Ok(_) => panic!("expected errors for:\n{server}"),
            Err(e) => e.0,
        }
    };
    let line_of = |base: &str, server: &str, needle: &str| {
        let all = format!("{base}server:\n{server}");
        all.lines().position(|l| l.contains(needle)).unwrap() + 1
    };

    let home = std::env::var("HOME").unwrap();
    let wf = load(&linear, "  port: 0\n  webhooks:\n    secret: $HOME\n").unwrap();
    let w = wf.server.webhooks.as_ref().unwrap();
    assert_eq!(w.path, "/webhooks");
    assert_eq!(w.replay_window, Duration::from_secs(300));
    assert_eq!(w.poll_interval, Duration::from_secs(600));
    assert_eq!(w.secret.expose(), home);
    assert_eq!(wf.poll_period(), Duration::from_secs(600));
    assert!(
        !format!("{w:?}").contains(&home),
        "the secret is never printed"
    );
    let wf = load(
        &linear,
        "  port: 0\n  webhooks:\n    path: /hooks/karajan/\n    secret: $HOME\n    replay_window: 1m\n    poll_interval: 30m\n",
    )
    .unwrap();
    let w = wf.server.webhooks.as_ref().unwrap();
    assert_eq!(w.path, "/hooks/karajan");
    assert_eq!(w.replay_window, Duration::from_secs(60));
    assert_eq!(wf.poll_period(), Duration::from_secs(1800));

    let server = "  webhooks:\n    secret: $HOME\n";
    let e = errors(&linear, server);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key, "server.webhooks");
    assert_eq!(e[0].line, Some(line_of(&linear, server, "webhooks:")));
    assert!(e[0].message.contains("server.port"), "{}", e[0].message);

    let server = "  port: 0\n  webhooks:\n    path: /hooks\n";
    let e = errors(&linear, server);
    assert_eq!(e[0].key, "server.webhooks.secret", "{e:?}");
    assert!(e[0].message.contains("$"), "{}", e[0].message);

    let server = "  port: 0\n  webhooks:\n    secret: $KJ_WEBHOOK_SECRET_NEVER_SET\n";
    let e = errors(&linear, server);
    assert_eq!(e[0].key, "server.webhooks.secret", "{e:?}");
    assert_eq!(e[0].line, Some(line_of(&linear, server, "secret:")));
    assert!(
        e[0].message.contains("KJ_WEBHOOK_SECRET_NEVER_SET"),
        "{e:?}"
    );

    for path in ["/api/hooks", "/metrics", "hooks", "/", "/a b"] {
        let server = format!("  port: 0\n  webhooks:\n    secret: $HOME\n    path: \"{path}\"\n");
        let e = errors(&linear, &server);
        assert_eq!(e[0].key, "server.webhooks.path", "{path}: {e:?}");
    }
    let server = "  port: 0\n  webhooks:\n    secret: $HOME\n    poll_interval: 10\n";
    assert_eq!(
        errors(&linear, server)[0].key,
        "server.webhooks.poll_interval"
    );

    let server = "  port: 0\n  webhooks:\n    secrt: $HOME\n";
    let e = errors(&linear, server);
    assert!(
        e.iter()
            .any(|e| e.key == "server.webhooks.secrt" && e.message.contains("secret")),
        "{e:?}"
    );

    let server = "  port: 0\n  webhooks:\n    secret: $HOME\n";
    let e = errors(&text, server);
    assert_eq!(e[0].key, "server.webhooks", "{e:?}");
    assert!(e[0].message.contains("local"), "{}", e[0].message);
}
