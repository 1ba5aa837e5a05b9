//! git's smart HTTP protocol over reqwest (rustls): the transport libgit2 uses for every
//! `http://` and `https://` remote, the forge's pushes and reads (`forge::git`) as well
//! as the workspace mirror's clones and fetches (`workspace::mirror`).
//!
//! Why: karajan's git2 is built without its `https` feature, which would pull OpenSSL
//! into a project that uses rustls everywhere; reqwest (rustls) is already its HTTP
//! client. libgit2 keeps the protocol (pkt-lines, negotiation, packs, report-status);
//! this module only carries its bytes, one HTTP request per step (see [`stream`]). It
//! replaces libgit2's built-in `http://` transport too, so one code path serves both
//! schemes and the plain-HTTP tests exercise it.
//!
//! # Registration
//!
//! [`register`] installs the transport for both schemes, once per process. It is one of
//! the crate's two `unsafe` calls (`git2::transport::register`; the other is the
//! binary's `mallopt` in `main.rs`): libgit2 appends to its
//! global list of transports without a lock, so registering must not overlap another
//! thread's transport lookup. The binary registers in `main` before its runtime starts
//! any git work; library callers (tests) register on the first [`run`].
//!
//! # Credentials: a per-operation scope
//!
//! libgit2 never asks git2's credentials callback on behalf of a custom transport. A
//! caller instead wraps its git2 call in [`run`] with an [`Access`] (the token, the
//! extra TLS roots); libgit2 creates the transport on that same thread, which takes the
//! access from a thread-local set for the call's duration. The token is sent
//! preemptively as HTTP Basic (user `x-access-token`, GitHub's convention), only to the
//! host of the remote's URL (never after a redirect to another host), and is never put
//! in a URL, a remote's configuration, an error or a log line. A git2 call outside any
//! scope gets no token and the platform's roots.
//!
//! # Failures
//!
//! An error inside a transport reaches the caller through libgit2 as a bare network
//! error (its code is lost), so the transport also records a typed [`Failure`] in the
//! operation; [`run`] hands it back and the caller sorts retryable from final with it.
//!
//! # The driver
//!
//! libgit2 reads and writes synchronously, on whichever thread made the git2 call (a
//! tokio blocking-pool thread in the daemon, a plain thread in a test or the CLI).
//! Requests run on one small runtime of this module's own (see [`driver`]), so the
//! transport works the same from any thread, with or without a caller's runtime, and
//! never competes with the daemon's single-threaded scheduler.

mod driver;
mod stream;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, OnceLock};

use crate::config::{ForgeConfig, Secret};

/// The user GitHub expects with a token as password over HTTPS.
pub(crate) const TOKEN_USER: &str = "x-access-token";

/// What an operation presents to an HTTP(S) remote: a token (optional) and extra TLS
/// roots (`forge.ca_file`, for a private CA), on top of the platform's. Cheap to clone;
/// clones share one HTTP client, built on first use.
#[derive(Clone, Debug, Default)]
pub struct Access {
    token: Option<Secret>,
    ca_file: Option<PathBuf>,
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

impl Access {
    pub fn new(token: Option<Secret>, ca_file: Option<&Path>) -> Access {
        Access {
            token,
            ca_file: ca_file.map(Path::to_path_buf),
            client: Arc::default(),
        }
    }

    /// What the workspace mirror presents for `repo`: the forge's CA file, and its
    /// token only when the forge is GitHub and `repo` is on the forge remote's host
    /// (same scheme, host and port), so a token never goes to another server.
    pub fn for_workspace(forge: Option<&ForgeConfig>, repo: &str) -> Access {
        let Some(forge) = forge else {
            return Access::default();
        };
        let origin = |url: &str| {
            reqwest::Url::parse(url).ok().and_then(|u| {
                let host = u.host_str()?.to_ascii_lowercase();
                Some((u.scheme().to_string(), host, u.port_or_known_default()))
            })
        };
        let same_host = origin(repo).is_some_and(|o| Some(o) == origin(&forge.remote));
        let token = forge.token().filter(|_| same_host).cloned();
        Access::new(token, forge.ca_file.as_deref())
    }

    pub(crate) fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    /// The HTTP client, built once per `Access` (its clones included).
    fn client(&self) -> Result<reqwest::Client, Failure> {
        self.client
            .get_or_init(|| driver::client(self.ca_file.as_deref()))
            .clone()
            .map_err(Failure::Setup)
    }
}

/// Why an HTTP exchange with a remote failed, as the transport saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// `401` although the token was sent.
    #[error("the remote refused the token (401 Unauthorized)")]
    TokenRefused,
    /// `401` and there is no token to send.
    #[error("the remote asks for credentials (401 Unauthorized) and none is configured")]
    NoCredentials,
    /// Any other answer than `200`.
    #[error("{method} {url}: HTTP {code}")]
    Status {
        method: &'static str,
        url: String,
        code: u16,
    },
    /// A `200` that is not git's smart protocol (a web page, a dumb server).
    #[error("{url} does not speak git's smart HTTP protocol (content type `{content_type}`)")]
    NotSmart { url: String, content_type: String },
    /// The server's certificate is not trusted (or TLS failed otherwise).
    #[error("TLS with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    /// Connection, timeout, a broken stream.
    #[error("{method} {url}: {reason}")]
    Network {
        method: &'static str,
        url: String,
        reason: String,
    },
    /// The client could not be built (`forge.ca_file` unreadable, no usable roots).
    #[error("cannot set up HTTPS: {0}")]
    Setup(String),
}

impl Failure {
    /// Whether trying again later can help (the network, a busy or failing server).
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Network { .. } => true,
            Failure::Status { code, .. } => *code >= 500 || *code == 408 || *code == 429,
            _ => false,
        }
    }
}

/// One git2 call's access, and the first failure its transports met.
struct Operation {
    access: Access,
    failure: Mutex<Option<Failure>>,
}

impl Operation {
    fn new(access: Access) -> Operation {
        Operation {
            access,
            failure: Mutex::new(None),
        }
    }

    fn record(&self, failure: &Failure) {
        let mut slot = self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert_with(|| failure.clone());
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Operation>>> = const { RefCell::new(None) };
}

/// Run `f` (git2 calls) with `access` for every HTTP(S) remote it reaches; returns its
/// result and the transport's failure, if one happened.
pub(crate) fn run<T>(access: &Access, f: impl FnOnce() -> T) -> (T, Option<Failure>) {
    register();
    let op = Arc::new(Operation::new(access.clone()));
    struct Restore(Option<Arc<Operation>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(op.clone())));
    let out = f();
    drop(restore);
    let failure = op
        .failure
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    (out, failure)
}

/// The operation of the git2 call running on this thread (a default one outside
/// [`run`]).
fn current() -> Arc<Operation> {
    CURRENT
        .with(|c| c.borrow().clone())
        .unwrap_or_else(|| Arc::new(Operation::new(Access::default())))
}

/// Install the transport for `http://` and `https://` (once; see the module doc).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["http", "https"] {
            // SAFETY: `git2::transport::register` is unsafe only because libgit2 adds
            // to its transport list without a lock. `Once` makes this the only
            // registration, and it runs before any git work in the binary (`main`)
            // and, in library use, on the first HTTP operation.
            #[allow(unsafe_code)]
            let registered = unsafe {
                git2::transport::register(scheme, |remote| {
                    git2::transport::Transport::smart(
                        remote,
                        true,
                        stream::Subtransport::new(current()),
                    )
                })
            };
            if let Err(e) = registered {
                tracing::error!(scheme, error = %e.message(), "cannot register the git HTTP transport");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ForgeKind, GithubForge};

    fn github_forge(remote: &str) -> ForgeConfig {
        ForgeConfig {
            kind: ForgeKind::Github(Box::new(GithubForge::new(
                "https://api.github.com",
                "acme",
                "app",
                Secret::new("ghp-unit"),
            ))),
            remote: remote.into(),
            ca_file: Some(PathBuf::from("/etc/ca.pem")),
        }
    }

    #[test]
    fn the_mirror_gets_the_token_only_for_the_forge_host() {
        let forge = github_forge("https://github.com/acme/app.git");
        let same = Access::for_workspace(Some(&forge), "https://GitHub.com/acme/other.git");
        assert_eq!(same.token().map(Secret::expose), Some("ghp-unit"));
        assert_eq!(same.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        for elsewhere in [
            "https://gitlab.com/acme/app.git",
            "http://github.com/acme/app.git",
            "https://github.com:8443/acme/app.git",
            "/srv/git/app.git",
            "git@github.com:acme/app.git",
        ] {
            let access = Access::for_workspace(Some(&forge), elsewhere);
            assert!(access.token().is_none(), "{elsewhere}");
        }
        let git = ForgeConfig {
            kind: ForgeKind::Git,
            ..forge
        };
        assert!(
            Access::for_workspace(Some(&git), "https://github.com/acme/app.git")
                .token()
                .is_none()
        );
        assert!(
            Access::for_workspace(None, "https://github.com/acme/app.git")
                .token()
                .is_none()
        );
    }

    #[test]
    fn only_the_network_and_busy_servers_are_worth_a_retry() {
        let status = |code| Failure::Status {
            method: "GET",
            url: "https://h/r.git/info/refs".into(),
            code,
        };
        for code in [500, 502, 503, 408, 429] {
            assert!(status(code).is_transient(), "{code}");
        }
        for code in [400, 403, 404, 410] {
            assert!(!status(code).is_transient(), "{code}");
        }
        assert!(
            Failure::Network {
                method: "POST",
                url: "u".into(),
                reason: "reset".into()
            }
            .is_transient()
        );
        for f in [
            Failure::TokenRefused,
            Failure::NoCredentials,
            Failure::Setup("x".into()),
            Failure::Tls {
                url: "u".into(),
                reason: "UnknownIssuer".into(),
            },
        ] {
            assert!(!f.is_transient(), "{f}");
        }
    }

    #[test]
    fn a_scope_is_restored_after_its_call_and_reports_nothing_when_nothing_failed() {
        let access = Access::new(Some(Secret::new("t")), None);
        let (inner, failure) = run(&access, || {
            let seen = current().access.token().map(|t| t.expose().to_string());
            let (nested, _) = run(&Access::default(), || current().access.token().is_none());
            (seen, nested, current().access.token().is_some())
        });
        assert_eq!(inner, (Some("t".to_string()), true, true));
        assert_eq!(failure, None);
        assert!(current().access.token().is_none(), "no scope outside run");
    }
}
