//! A fake forge that speaks git's smart HTTP protocol the way GitHub does over HTTPS
//! with a token: every request needs `Authorization: Basic` with the user
//! `x-access-token` and the token as password; without it the answer is `401` with
//! `WWW-Authenticate: Basic`. The protocol itself is served by the real
//! `git http-backend` (CGI) over bare repositories under `root` (`/owner/name.git`).
//! A path under `/moved/` is redirected (`301`) to the same path without that prefix,
//! as GitHub does for a renamed repository. [`GitHttp::serve`] answers plain HTTP; [`GitHttp::serve_tls`] answers HTTPS with a
//! certificate for 127.0.0.1 signed by the test CA in `tests/e2e/tls` ([`ca_file`];
//! `make.sh` there made it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub struct GitHttp {
    pub port: u16,
    tls: bool,
    /// Every request: (method, path, whether it carried the right credentials).
    pub requests: Arc<Mutex<Vec<(String, String, bool)>>>,
    /// Every request's `User-Agent`.
    pub user_agents: Arc<Mutex<Vec<String>>>,
}

/// The test CA's certificate (PEM), which signed the fake forge's.
pub fn ca_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/tls/ca.pem")
}

impl GitHttp {
    pub fn serve(root: &Path, token: &str) -> GitHttp {
        GitHttp::start(root, token, None)
    }

    /// The same forge over HTTPS.
    pub fn serve_tls(root: &Path, token: &str) -> GitHttp {
        let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/tls");
        let certs = CertificateDer::pem_file_iter(tls.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(tls.join("server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        GitHttp::start(root, token, Some(Arc::new(config)))
    }

    fn start(root: &Path, token: &str, tls: Option<Arc<rustls::ServerConfig>>) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(vec![]));
        let user_agents = Arc::new(Mutex::new(vec![]));
        let expected = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("x-access-token:{token}"),
            )
        );
        let secure = tls.is_some();
        let seen = Seen {
            root: root.to_path_buf(),
            expected,
            requests: requests.clone(),
            user_agents: user_agents.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, tls) = (seen.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => handle(&mut { stream }, &seen),
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        handle(&mut tls, &seen);
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                });
            }
        });
        GitHttp {
            port,
            tls: secure,
            requests,
            user_agents,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// What every connection's handler shares.
#[derive(Clone)]
struct Seen {
    root: PathBuf,
    expected: String,
    requests: Arc<Mutex<Vec<(String, String, bool)>>>,
    user_agents: Arc<Mutex<Vec<String>>>,
}

/// One request on `stream` (a connection serves one; a TLS handshake the client
/// refused ends it here, quietly).
fn handle<S: Read + Write>(stream: &mut S, seen: &Seen) {
    let (method, target, headers, body) = {
        let mut reader = BufReader::new(&mut *stream);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = vec![];
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let body = read_body(&mut reader, &header);
        (method, target, headers, body)
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let authorized = header("authorization").as_deref() == Some(seen.expected.as_str());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    seen.requests
        .lock()
        .unwrap()
        .push((method.clone(), path.to_string(), authorized));
    seen.user_agents
        .lock()
        .unwrap()
        .push(header("user-agent").unwrap_or_default());
    let out = stream;
    if let Some(rest) = target.strip_prefix("/moved") {
        // A renamed repository, as GitHub answers for one: a permanent redirect.
        let _ = out.write_all(
            format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {rest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        return;
    }
    if !authorized {
        let _ = out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fake forge\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &seen.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header("content-encoding").unwrap_or_default(),
        )
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = cgi.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut raw = vec![];
    cgi.stdout.take().unwrap().read_to_end(&mut raw).unwrap();
    let _ = writer.join();
    let _ = cgi.wait();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .unwrap_or((raw.len(), 0));
    let head = String::from_utf8_lossy(&raw[..split.0]).to_string();
    let content = &raw[(split.0 + split.1).min(raw.len())..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    let _ = out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    );
    let _ = out.write_all(content);
}

fn read_body(reader: &mut impl BufRead, header: &dyn Fn(&str) -> Option<String>) -> Vec<u8> {
    let mut body = vec![];
    if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).is_err() {
                break;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        if reader.read_exact(&mut body).is_err() {
            body.clear();
        }
    }
    body
}
