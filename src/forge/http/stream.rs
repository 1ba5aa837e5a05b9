//! One step of git's smart HTTP protocol as one HTTP request, the shape libgit2's
//! stateless ("rpc") smart transport expects:
//!
//! - `UploadPackLs` / `ReceivePackLs`: `GET {url}/info/refs?service=git-upload-pack`
//!   (`git-receive-pack`), answered `application/x-git-…-advertisement`;
//! - `UploadPack` / `ReceivePack`: `POST {url}/git-upload-pack` (`git-receive-pack`)
//!   with the request body, `application/x-git-…-request`, answered `…-result`.
//!
//! libgit2 writes a step's whole request (a push's pack included) before it reads the
//! answer, so writes are buffered and the first read sends them; the answer is then
//! read as it arrives. Each negotiation round of a fetch is a new step (a new stream).
//! A redirected advertisement moves the steps that follow to where it was answered.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream};
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::driver::{self, Event, Exchange};
use super::{Failure, Operation, TOKEN_USER};

/// The transport of one remote connection, created by libgit2 per git2 call.
pub(super) struct Subtransport {
    op: Arc<Operation>,
    /// Where the last advertisement was answered, when a redirect moved it.
    moved: Arc<Mutex<Option<String>>>,
}

impl Subtransport {
    pub(super) fn new(op: Arc<Operation>) -> Subtransport {
        Subtransport {
            op,
            moved: Arc::default(),
        }
    }
}

impl SmartSubtransport for Subtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let (service, advertisement) = match action {
            Service::UploadPackLs => ("upload-pack", true),
            Service::UploadPack => ("upload-pack", false),
            Service::ReceivePackLs => ("receive-pack", true),
            Service::ReceivePack => ("receive-pack", false),
        };
        let remote = Url::parse(url).map_err(|e| {
            git2::Error::new(
                git2::ErrorCode::GenericError,
                git2::ErrorClass::Net,
                format!("invalid remote URL: {e}"),
            )
        })?;
        let mut moved = self
            .moved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if advertisement {
            *moved = None;
        }
        let base = moved
            .clone()
            .unwrap_or_else(|| url.trim_end_matches('/').to_string());
        Ok(Box::new(Stream {
            op: self.op.clone(),
            service,
            advertisement,
            base,
            remote,
            moved: self.moved.clone(),
            body: Vec::new(),
            answer: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// One step: the request body being written, then the answer being read.
struct Stream {
    op: Arc<Operation>,
    service: &'static str,
    advertisement: bool,
    /// The repository's URL (no trailing `/`) the step's path is appended to.
    base: String,
    /// The remote as configured: the only origin the token is sent to.
    remote: Url,
    moved: Arc<Mutex<Option<String>>>,
    body: Vec<u8>,
    answer: Option<Answer>,
}

struct Answer {
    exchange: Exchange,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

impl Stream {
    fn method(&self) -> &'static str {
        if self.advertisement { "GET" } else { "POST" }
    }

    fn url(&self) -> String {
        if self.advertisement {
            format!("{}/info/refs?service=git-{}", self.base, self.service)
        } else {
            format!("{}/git-{}", self.base, self.service)
        }
    }

    /// Record `failure` for the caller and hand libgit2 an error saying the same.
    fn fail(&self, failure: Failure) -> io::Error {
        self.op.record(&failure);
        io::Error::other(failure.to_string())
    }

    /// Send the step's request and check the head of its answer.
    fn send(&mut self) -> Result<Answer, Failure> {
        let mut url = Url::parse(&self.url()).map_err(|e| Failure::Setup(e.to_string()))?;
        let display = shown(&url);
        let client = self.op.access.client()?;
        let token = self
            .op
            .access
            .token()
            .filter(|_| same_origin(&url, &self.remote));
        if token.is_some() {
            // The token is the credential: a user in the URL would be a second one.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        let mut request = if self.advertisement {
            client
                .get(url.clone())
                .header(ACCEPT, "*/*")
                .header("Pragma", "no-cache")
        } else {
            client
                .post(url.clone())
                .header(
                    CONTENT_TYPE,
                    format!("application/x-git-{}-request", self.service),
                )
                .header(ACCEPT, format!("application/x-git-{}-result", self.service))
                .body(std::mem::take(&mut self.body))
        };
        if let Some(token) = token {
            request = request.basic_auth(TOKEN_USER, Some(token.expose()));
        }
        let mut exchange = Exchange::start(request);
        let (status, content_type, answered) = match exchange.next() {
            Event::Head {
                status,
                content_type,
                url,
            } => (status, content_type, url),
            event => return Err(self.lost(event, &display)),
        };
        match status {
            200 => {}
            401 if token.is_some() => return Err(Failure::TokenRefused),
            401 => return Err(Failure::NoCredentials),
            code => {
                return Err(Failure::Status {
                    method: self.method(),
                    url: display,
                    code,
                });
            }
        }
        let kind = if self.advertisement {
            "advertisement"
        } else {
            "result"
        };
        let expected = format!("application/x-git-{}-{kind}", self.service);
        if content_type.split(';').next().map(str::trim) != Some(expected.as_str()) {
            return Err(Failure::NotSmart {
                url: display,
                content_type,
            });
        }
        if self.advertisement && shown(&answered) != display {
            let mut base = answered;
            base.set_query(None);
            let path = base.path().trim_end_matches("/info/refs").to_string();
            base.set_path(&path);
            *self
                .moved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(base.as_str().trim_end_matches('/').to_string());
        }
        Ok(Answer {
            exchange,
            chunk: Vec::new(),
            at: 0,
            done: false,
        })
    }

    /// The failure of a request that ended with `event` instead of its next part.
    fn lost(&self, event: Event, shown: &str) -> Failure {
        let (method, url) = (self.method(), shown.to_string());
        match event {
            Event::Failed(e) if driver::is_tls(&e) => Failure::Tls {
                url,
                reason: driver::chain(&e.without_url()),
            },
            Event::Failed(e) => Failure::Network {
                method,
                url,
                reason: driver::chain(&e.without_url()),
            },
            Event::Lost(reason) => Failure::Network {
                method,
                url,
                reason,
            },
            Event::Head { .. } | Event::Chunk(_) | Event::End => Failure::Network {
                method,
                url,
                reason: "the answer came out of order".into(),
            },
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.answer.is_none() {
            let answer = self.send().map_err(|f| self.fail(f))?;
            self.answer = Some(answer);
        }
        loop {
            let Some(answer) = self.answer.as_mut() else {
                return Ok(0);
            };
            if answer.at < answer.chunk.len() {
                let n = buf.len().min(answer.chunk.len() - answer.at);
                buf[..n].copy_from_slice(&answer.chunk[answer.at..answer.at + n]);
                answer.at += n;
                return Ok(n);
            }
            if answer.done {
                return Ok(0);
            }
            match answer.exchange.next() {
                Event::Chunk(chunk) => {
                    answer.chunk = chunk;
                    answer.at = 0;
                }
                Event::End => answer.done = true,
                event => {
                    let url = Url::parse(&self.url())
                        .map(|u| shown(&u))
                        .unwrap_or_default();
                    let failure = self.lost(event, &url);
                    return Err(self.fail(failure));
                }
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.answer.is_some() {
            return Err(io::Error::other(
                "git HTTP transport: a request written after its answer was read",
            ));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A URL fit for an error message: without user information.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}
