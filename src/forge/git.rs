//! The blocking git2 side of the forge: push, read a remote branch back, and find what
//! a workspace holds that is not pushed. Run on tokio's blocking pool (`forge::mod`).
//! Every call that reaches the remote runs inside an [`http::run`] scope, which gives
//! the HTTP(S) transport the forge's token and reports what failed on the wire.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use git2::{
    BranchType, Direction, ErrorClass, ErrorCode, Oid, PushOptions, RemoteCallbacks, Repository,
};

use super::PushError;
use super::http::{self, Access, Failure};

/// The ref a push sends from: exactly the recorded commit, whatever the branch has
/// become since (a later run may have moved it).
const PUSH_REF: &str = "refs/karajan/push";

/// A workspace's branch with commits on neither the forge nor its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpushed {
    pub branch: String,
    pub head: String,
}

/// One piece of git work: a workspace and the remote it talks to.
pub(super) struct Job {
    workspace: PathBuf,
    remote: String,
    access: Access,
}

impl Job {
    pub(super) fn new(workspace: &Path, remote: &str, access: Access) -> Self {
        Job {
            workspace: workspace.to_path_buf(),
            remote: remote.to_string(),
            access,
        }
    }

    /// Run `f` (git2 calls that reach the remote) with the forge's HTTP access, its
    /// error sorted with what the transport saw.
    fn remote_call<T>(&self, f: impl FnOnce() -> Result<T, git2::Error>) -> Result<T, PushError> {
        let (result, failure) = http::run(&self.access, f);
        result.map_err(|e| classify(&e, failure.as_ref(), &self.remote))
    }

    fn open(&self) -> Result<Repository, PushError> {
        Repository::open(&self.workspace).map_err(|e| {
            PushError::Fatal(format!(
                "cannot open the workspace {}: {}",
                self.workspace.display(),
                e.message()
            ))
        })
    }

    pub(super) fn push(&self, branch: &str, commit: &str) -> Result<(), PushError> {
        let repo = self.open()?;
        let oid = Oid::from_str(commit)
            .and_then(|oid| repo.find_commit(oid).map(|c| c.id()))
            .map_err(|e| {
                PushError::Fatal(format!(
                    "commit {commit} is not in the workspace: {}",
                    e.message()
                ))
            })?;
        let local = |e: git2::Error| classify(&e, None, &self.remote);
        repo.reference(PUSH_REF, oid, true, "karajan: push")
            .map_err(local)?;
        let mut remote = repo.remote_anonymous(&self.remote).map_err(local)?;
        let refused: RefCell<Option<String>> = RefCell::new(None);
        let mut cb = RemoteCallbacks::new();
        cb.push_update_reference(|_refname, status| {
            if let Some(why) = status {
                *refused.borrow_mut() = Some(why.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        // No `+`: never forced.
        let spec = format!("{PUSH_REF}:refs/heads/{branch}");
        let pushed = self.remote_call(|| remote.push(&[spec.as_str()], Some(&mut opts)));
        drop(opts);
        if let Ok(mut r) = repo.find_reference(PUSH_REF) {
            let _ = r.delete();
        }
        pushed?;
        match refused.into_inner() {
            Some(why) => Err(PushError::Rejected(format!(
                "{} refused refs/heads/{branch}: {why}",
                self.remote
            ))),
            None => Ok(()),
        }
    }

    pub(super) fn remote_tip(&self, branch: &str) -> Result<Option<String>, PushError> {
        let repo = self.open()?;
        let mut remote = repo
            .remote_anonymous(&self.remote)
            .map_err(|e| classify(&e, None, &self.remote))?;
        let want = format!("refs/heads/{branch}");
        self.remote_call(|| {
            let conn = remote.connect_auth(Direction::Fetch, None, None)?;
            let heads = conn.list()?;
            Ok(heads
                .iter()
                .find(|h| h.name() == want)
                .map(|h| h.oid().to_string()))
        })
    }

    pub(super) fn unpushed(&self) -> Result<Option<Unpushed>, PushError> {
        let repo = self.open()?;
        let Ok(head) = repo.head() else {
            return Ok(None); // no commit at all
        };
        let (Some(oid), Some(branch)) = (head.target(), head.shorthand().ok().map(str::to_string))
        else {
            return Ok(None);
        };
        // On the repository it was cloned from (no commits beyond the base)?
        let contains = |tip: Oid| tip == oid || repo.graph_descendant_of(tip, oid).unwrap_or(false);
        for b in repo
            .branches(Some(BranchType::Remote))
            .map_err(|e| classify(&e, None, &self.remote))?
            .flatten()
        {
            if b.0.get().target().is_some_and(contains) {
                return Ok(None);
            }
        }
        // On the forge?
        if let Some(tip) = self.remote_tip(&branch)?
            && Oid::from_str(&tip).is_ok_and(contains)
        {
            return Ok(None);
        }
        Ok(Some(Unpushed {
            branch,
            head: oid.to_string(),
        }))
    }
}

/// The workspace's HEAD commit.
pub(super) fn head(workspace: &Path) -> Option<String> {
    let repo = Repository::open(workspace).ok()?;
    let oid = repo.head().ok()?.target()?;
    Some(oid.to_string())
}

/// Sorts a git2 error into rejected (final, the remote said no), transient (network,
/// I/O, a lock) or fatal (authentication, a missing commit, an unreachable scheme).
/// `failure` is what the HTTP(S) transport saw, when the error came from it: libgit2
/// hands its errors on as bare network errors.
fn classify(e: &git2::Error, failure: Option<&Failure>, remote: &str) -> PushError {
    let msg = e.message().to_string();
    match failure {
        Some(Failure::TokenRefused) => {
            return PushError::Fatal("the remote refused the forge token (401)".into());
        }
        Some(Failure::NoCredentials) => {
            return PushError::Fatal(
                "the remote asks for credentials and the forge has none (`forge.token`)".into(),
            );
        }
        Some(f) if f.is_transient() => return PushError::Transient(f.to_string()),
        Some(f) => return PushError::Fatal(f.to_string()),
        None => {}
    }
    if msg.contains("unsupported URL protocol") {
        // Reported as a network error, but no retry can help.
        return PushError::Fatal(if is_ssh(remote) {
            format!(
                "{msg}: karajan has no SSH transport; use the remote's https:// URL (with `forge.token` for kind github), a local path or file://"
            )
        } else {
            format!(
                "{msg}: karajan reaches remotes over https://, http://, file:// or a local path"
            )
        });
    }
    match (e.code(), e.class()) {
        (ErrorCode::NotFastForward, _) => PushError::Rejected(format!(
            "non-fast-forward: the remote branch has commits the workspace does not ({msg}); karajan never force-pushes"
        )),
        (ErrorCode::Auth | ErrorCode::Certificate, _) => PushError::Fatal(msg),
        (ErrorCode::Locked, _) => PushError::Transient(msg),
        (_, ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssl | ErrorClass::Ssh) => {
            PushError::Transient(msg)
        }
        (_, ErrorClass::Http) if !msg.contains("404") && !msg.contains("403") => {
            PushError::Transient(msg)
        }
        _ => PushError::Fatal(msg),
    }
}

/// An SSH remote: `ssh://…` (or `git+ssh://`, `ssh+git://`) or scp-like `[user@]host:path`.
pub(crate) fn is_ssh(remote: &str) -> bool {
    if let Some((scheme, _)) = remote.split_once("://") {
        return scheme.split('+').any(|s| s.eq_ignore_ascii_case("ssh"));
    }
    // scp-like: a `:` before any `/`, and not a Windows drive letter.
    match remote.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/') && host.len() > 1,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare origin with one commit on `main`, and a clone of it on `karajan/T-1`.
    fn clone_of_origin(dir: &Path) -> (PathBuf, Repository) {
        let origin = dir.join("origin.git");
        let bare = Repository::init_bare(&origin).unwrap();
        let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
        let tree = bare.treebuilder(None).unwrap().write().unwrap();
        let tree = bare.find_tree(tree).unwrap();
        bare.commit(Some("refs/heads/main"), &sig, &sig, "base", &tree, &[])
            .unwrap();
        bare.set_head("refs/heads/main").unwrap();
        let ws = Repository::clone(origin.to_str().unwrap(), dir.join("ws")).unwrap();
        {
            let head = ws.head().unwrap().peel_to_commit().unwrap();
            ws.branch("karajan/T-1", &head, false).unwrap();
        }
        ws.set_head("refs/heads/karajan/T-1").unwrap();
        (origin, ws)
    }

    fn commit(ws: &Repository, msg: &str) -> Oid {
        let sig = git2::Signature::now("agent", "a@example.invalid").unwrap();
        let parent = ws.head().unwrap().peel_to_commit().unwrap();
        ws.commit(
            Some("HEAD"),
            &sig,
            &sig,
            msg,
            &parent.tree().unwrap(),
            &[&parent],
        )
        .unwrap()
    }

    #[test]
    fn a_branch_is_unpushed_until_the_remote_has_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, ws) = clone_of_origin(dir.path());
        let job = Job::new(
            ws.workdir().unwrap(),
            origin.to_str().unwrap(),
            Access::default(),
        );
        assert_eq!(job.unpushed().unwrap(), None, "no commits beyond the base");
        let head = commit(&ws, "work");
        assert_eq!(
            job.unpushed().unwrap(),
            Some(Unpushed {
                branch: "karajan/T-1".into(),
                head: head.to_string()
            })
        );
        assert_eq!(job.remote_tip("karajan/T-1").unwrap(), None);
        job.push("karajan/T-1", &head.to_string()).unwrap();
        assert_eq!(
            job.remote_tip("karajan/T-1").unwrap(),
            Some(head.to_string())
        );
        assert_eq!(job.unpushed().unwrap(), None, "pushed");
        assert!(
            ws.find_reference(PUSH_REF).is_err(),
            "the push ref is removed"
        );
        // Pushing the same commit again is a no-op, not an error.
        job.push("karajan/T-1", &head.to_string()).unwrap();
    }

    #[test]
    fn a_push_over_someone_elses_commit_is_rejected_not_forced() {
        let dir = tempfile::tempdir().unwrap();
        let (origin, ws) = clone_of_origin(dir.path());
        let job = Job::new(
            ws.workdir().unwrap(),
            origin.to_str().unwrap(),
            Access::default(),
        );
        let first = commit(&ws, "first");
        job.push("karajan/T-1", &first.to_string()).unwrap();
        // Someone else's commit on the remote branch, then ours on the old tip.
        let other = dir.path().join("other");
        let theirs = Repository::clone(origin.to_str().unwrap(), &other).unwrap();
        {
            let b = theirs
                .find_branch("origin/karajan/T-1", BranchType::Remote)
                .unwrap();
            let tip = b.get().peel_to_commit().unwrap();
            theirs.branch("karajan/T-1", &tip, true).unwrap();
        }
        theirs.set_head("refs/heads/karajan/T-1").unwrap();
        let their = commit(&theirs, "theirs");
        theirs
            .find_remote("origin")
            .unwrap()
            .push(&["refs/heads/karajan/T-1:refs/heads/karajan/T-1"], None)
            .unwrap();
        let ours = commit(&ws, "ours");
        let err = job.push("karajan/T-1", &ours.to_string()).unwrap_err();
        assert!(
            matches!(&err, PushError::Rejected(m) if m.contains("non-fast-forward")),
            "{err}"
        );
        assert_eq!(
            job.remote_tip("karajan/T-1").unwrap(),
            Some(their.to_string())
        );
        // A commit the workspace does not have is a fatal error, not a retry.
        let missing = "0123456789012345678901234567890123456789";
        assert!(!job.push("karajan/T-1", missing).unwrap_err().is_retryable());
    }

    #[test]
    fn ssh_remotes_are_recognised() {
        for ssh in [
            "ssh://git@github.com/acme/app.git",
            "git+ssh://host/x.git",
            "git@github.com:acme/app.git",
            "host:x.git",
        ] {
            assert!(is_ssh(ssh), "{ssh}");
        }
        for other in [
            "https://github.com/acme/app.git",
            "file:///srv/x.git",
            "/srv/git/x.git",
            "./x.git",
            "C:/x.git",
        ] {
            assert!(!is_ssh(other), "{other}");
        }
    }

    #[test]
    fn transport_failures_decide_over_libgit2s_bare_network_error() {
        let net = git2::Error::new(ErrorCode::GenericError, ErrorClass::Net, "stream failed");
        let sorted = |f: Failure| classify(&net, Some(&f), "https://h/r.git");
        assert!(matches!(
            sorted(Failure::TokenRefused),
            PushError::Fatal(m) if m.contains("refused the forge token")
        ));
        assert!(matches!(
            sorted(Failure::NoCredentials),
            PushError::Fatal(m) if m.contains("the forge has none (`forge.token`)")
        ));
        let status = |code| Failure::Status {
            method: "GET",
            url: "https://h/r.git/info/refs".into(),
            code,
        };
        assert!(!sorted(status(404)).is_retryable());
        assert!(!sorted(status(403)).is_retryable());
        assert!(sorted(status(503)).is_retryable());
        // Without a failure, libgit2's own error decides.
        assert!(classify(&net, None, "https://h/r.git").is_retryable());
    }

    #[test]
    fn errors_are_sorted_by_what_a_retry_can_do() {
        let e =
            |code, class, msg| classify(&git2::Error::new(code, class, msg), None, "/srv/app.git");
        assert!(matches!(
            e(ErrorCode::NotFastForward, ErrorClass::Reference, "cannot push non-fastforwardable reference"),
            PushError::Rejected(m) if m.contains("non-fast-forward")
        ));
        assert!(
            e(
                ErrorCode::GenericError,
                ErrorClass::Net,
                "connection refused"
            )
            .is_retryable()
        );
        assert!(e(ErrorCode::Locked, ErrorClass::Reference, "locked").is_retryable());
        assert!(!e(ErrorCode::Auth, ErrorClass::Http, "refused").is_retryable());
        assert!(
            !e(
                ErrorCode::GenericError,
                ErrorClass::Net,
                "unsupported URL protocol"
            )
            .is_retryable()
        );
        assert!(
            !e(
                ErrorCode::GenericError,
                ErrorClass::Http,
                "unexpected http status code: 404"
            )
            .is_retryable()
        );
    }
}
