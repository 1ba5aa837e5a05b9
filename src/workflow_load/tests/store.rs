//! `store.url`: the embedded default, `sqlite://PATH`, `postgres://…` with `$VAR`
//! expansion, and the errors, none of which shows the URL's password.

use super::*;

fn with_store(section: &str) -> String {
    format!("{BASE}store:\n{section}")
}

#[test]
fn no_url_or_a_sqlite_url_keeps_the_embedded_store() {
    let f = Fixture::new();
    let base = std::path::absolute(f.dir.path()).unwrap();
    let wf = f.load(BASE).unwrap();
    assert!(wf.store.postgres.is_none());
    assert_eq!(wf.store.path, base.join(".karajan/karajan.db"));
    let wf = f.load(&with_store("  url: sqlite://data/k.db\n")).unwrap();
    assert!(wf.store.postgres.is_none());
    assert_eq!(wf.store.path, base.join("data/k.db"));
    let wf = f.load(&with_store("  path: other.db\n")).unwrap();
    assert_eq!(wf.store.path, base.join("other.db"));
}

#[test]
fn a_postgres_url_is_expanded_and_parsed_and_never_shown() {
    let f = Fixture::new();
    let wf = f
        .load(&with_store(
            "  url: postgres://karajan:$DEMO_TOKEN@db.example:6543/karajan\n",
        ))
        .unwrap();
    let url = wf.store.postgres.expect("a Postgres store");
    assert_eq!(url.describe(), "db.example:6543/karajan");
    assert!(!format!("{url:?}").contains("tok-123"));
    assert_eq!(
        url.secrets(),
        [
            "postgres://karajan:tok-123@db.example:6543/karajan",
            "tok-123"
        ]
    );
    // The redactor blanks it wherever karajan shows agent output or pages.
    let wf = f
        .load(&with_store(
            "  url: postgres://karajan:$DEMO_TOKEN@db.example/karajan\n",
        ))
        .unwrap();
    assert!(
        crate::redact::secrets_of(&wf)
            .iter()
            .any(|s| s == "tok-123")
    );
}

#[test]
fn a_bad_store_url_is_an_error_at_the_key_without_the_password() {
    let f = Fixture::new();
    let e = f.error_at(&with_store("  url: mysql://u:tok@h/d\n"), "store.url");
    assert!(e.message.contains("postgres://"), "{}", e.message);
    assert!(!e.message.contains("u:tok"), "{}", e.message);
    let e = f.error_at(
        &with_store("  url: postgres://u:literal-pw@h:notaport/d\n"),
        "store.url",
    );
    assert!(!e.message.contains("literal-pw"), "{}", e.message);
    let e = f.error_at(
        &with_store("  url: postgres://u:${DEMO_TOKEN@h/d\n"),
        "store.url",
    );
    assert!(!e.message.contains("u:"), "{}", e.message);
    let e = f.error_at(
        &with_store("  url: postgres://u:$KARAJAN_TEST_UNSET_PW@h/d\n"),
        "store.url",
    );
    assert_eq!(
        e.message,
        "missing secret: environment variable `KARAJAN_TEST_UNSET_PW` is not set"
    );
    let e = f.error_at(
        &with_store("  url: sqlite://a.db\n  path: b.db\n"),
        "store.url",
    );
    assert!(e.message.contains("give only one"), "{}", e.message);
}
