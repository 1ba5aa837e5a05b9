//! `forge.ca_file` reaches the pull-request API too, not only git's transport: a forge
//! whose API is served over HTTPS with a certificate of a private CA (GitHub Enterprise
//! behind a company CA) is checked by `karajan check` once `ca_file` names the CA, and
//! refused as untrusted without it. The fake GitHub is put behind a TLS front (the
//! test CA's certificate for 127.0.0.1) that forwards each request to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::pr_scratch::PrScratch;
use crate::e2e::git_http::ca_file;

/// An HTTPS front for a plain-HTTP server on `upstream`: one request per connection,
/// forwarded with `Connection: close`, the answer relayed whole. Returns its port.
fn tls_front(upstream: u16) -> u16 {
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/tls");
    let certs = CertificateDer::pem_file_iter(tls.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(tls.join("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                relay(&mut tls, upstream);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

/// One request from `client` to the server on `upstream`, and its answer back (a
/// client that refused the handshake ends it here, quietly).
fn relay<S: Read + Write>(client: &mut S, upstream: u16) {
    let mut reader = BufReader::new(&mut *client);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
    server.write_all(head.as_bytes()).unwrap();
    server.write_all(b"Connection: close\r\n\r\n").unwrap();
    server.write_all(&body).unwrap();
    let mut answer = vec![];
    server.read_to_end(&mut answer).unwrap();
    client.write_all(&answer).unwrap();
}

/// The scratch with its forge's API behind the TLS front, trusting the test CA or not.
fn scratch(trusted: bool) -> PrScratch {
    let p = PrScratch::new();
    p.s.add_issue(1, "Add a greeting", "Todo");
    let upstream: u16 = p.s.fake.url.rsplit(':').next().unwrap().parse().unwrap();
    let front = tls_front(upstream);
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    let mut keys = format!("forge:\n  kind: github\n  api_url: https://127.0.0.1:{front}\n");
    if trusted {
        keys.push_str(&format!("  ca_file: {}\n", ca_file().display()));
    }
    assert!(wf.contains("forge:\n  kind: github\n"));
    std::fs::write(&path, wf.replacen("forge:\n  kind: github\n", &keys, 1)).unwrap();
    p
}

#[test]
fn the_pull_request_api_trusts_the_forge_ca_file() {
    let p = scratch(true);
    let out = p.s.karajan(&["check", "workflow.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("forge: github acme/app: the token can push"),
        "{stdout}"
    );
    // The checks reached the fake through the TLS front.
    let requests = p.s.fake.requests();
    assert!(
        requests.iter().any(|r| r == "GET /repos/acme/app"),
        "{requests:?}"
    );
}

#[test]
fn without_the_ca_file_the_api_certificate_is_refused() {
    let p = scratch(false);
    let before = p.s.fake.request_count();
    let out = p.s.karajan(&["check", "workflow.yaml"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("forge"), "{all}");
    assert!(all.to_lowercase().contains("certificate"), "{all}");
    // Nothing got past the handshake to the forge's API (the tracker's own reads, on
    // plain HTTP, still reach it: only the forge's are absent).
    let forge_reads = p.s.fake.requests()[before..]
        .iter()
        .filter(|r| *r == "GET /repos/acme/app" || r.starts_with("GET /repos/acme/app/branches"))
        .count();
    assert_eq!(forge_reads, 0, "{:?}", p.s.fake.requests());
}
