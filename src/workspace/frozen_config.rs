//! libgit2 operations that read the repository's configuration from a snapshot.
//!
//! libgit2 checks every configuration file (the system's, the user's, the
//! repository's) for changes on every lookup: a `stat` of each, and a re-read of a
//! changed one. A checkout or a diff looks up many settings (attributes, filters, line
//! endings, diff options), some of them per file: of a workspace clone's 378 system
//! calls on the drain benchmark, 48 touched the system's and the user's config files
//! (24, and 343 calls, with the snapshot; issue 11). A snapshot
//! (`git_config_snapshot`) is read-only and never refreshed: an operation run
//! with it reads the configuration as it was when it began, which is what a checkout or
//! a diff means to do anyway. Nothing here writes the configuration meanwhile (setting
//! a branch's upstream does, and runs outside), and the repository's own configuration
//! is given back afterwards.

use git2::Repository;

/// Run `op` on `repo` with its configuration read from a snapshot taken now.
pub(crate) fn with_frozen_config<T>(
    repo: &Repository,
    op: impl FnOnce(&Repository) -> Result<T, git2::Error>,
) -> Result<T, git2::Error> {
    let mut live = repo.config()?;
    repo.set_config(&live.snapshot()?)?;
    let out = op(repo);
    let restored = repo.set_config(&live);
    let out = out?;
    restored?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_reads_the_snapshot_and_the_repository_writes_again_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init(dir.path()).expect("init");
        repo.config()
            .expect("config")
            .set_str("karajan.probe", "before")
            .expect("set");
        let seen = with_frozen_config(&repo, |r| {
            // Written to the file meanwhile: the snapshot does not see it.
            git2::Config::open(&dir.path().join(".git/config"))
                .expect("open")
                .set_str("karajan.probe", "meanwhile")
                .expect("set");
            r.config()?.get_string("karajan.probe")
        })
        .expect("op");
        assert_eq!(seen, "before");
        // The live configuration is back: it sees the file, and takes writes.
        let mut live = repo.config().expect("config");
        assert_eq!(live.get_string("karajan.probe").expect("get"), "meanwhile");
        live.set_str("karajan.probe", "after")
            .expect("writable again");
        // An operation's error is its own.
        let err = with_frozen_config(&repo, |_| -> Result<(), git2::Error> {
            Err(git2::Error::from_str("the operation failed"))
        })
        .expect_err("fails");
        assert_eq!(err.message(), "the operation failed");
    }
}
