//! Signed checkpoints: the ed25519 key that vouches for the checkpoint file.
//!
//! The checkpoint file (see `checkpoint`) sits beside the database, so whoever can
//! write the store's folder could rewrite it together with the database and hide a cut
//! tail or a recomputed chain. Each checkpoint entry is therefore signed with a key kept
//! *outside* that folder: a rewritten file no longer verifies with the public key.
//!
//! - **Where**: `store.signing_key` in workflow.yaml, default
//!   `$XDG_CONFIG_HOME/karajan/keys/<store-id>.key` (`~/.config` when unset), where
//!   `<store-id>` is the first 16 hex digits of the SHA-256 of the database's absolute
//!   path (see `config::validate`). The daemon creates it on its first start (folder
//!   mode 0700, file mode 0600) and refuses a key file that group or others may read.
//! - **File format**: one line, `karajan-ed25519-secret <64 hex digits of the seed>`.
//!   The public key (`karajan key`) is one line, `ed25519 <64 hex digits>`; a bare
//!   64-digit hex key is accepted too.
//! - **What is signed**: [`statement`], a domain tag and the entry's seq, hash and
//!   signing time (RFC 3339, UTC, seconds), length-prefixed, so a signature cannot be
//!   moved to another seq, hash or time.
//!
//! The secret never leaves this module as text: [`CheckpointKey`] prints as
//! `CheckpointKey(<redacted>)`, and no error message carries the file's content.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::chain::Hash;

const SECRET_TAG: &str = "karajan-ed25519-secret";
const PUBLIC_TAG: &str = "ed25519";
const DOMAIN: &[u8] = b"karajan checkpoint v2";

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "signing key {path} may be read by others (mode {mode:04o}); run `chmod 600 {path}` \
         (the key signs the store's checkpoints and must stay private)"
    )]
    Exposed { path: String, mode: u32 },
    #[error("signing key {path} is not a karajan key: {why}")]
    Malformed { path: String, why: String },
    #[error("public key {path}: {why}")]
    Public { path: String, why: String },
}

/// The private key. `Debug` never shows it.
pub struct CheckpointKey(SigningKey);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointKey(<redacted>)")
    }
}

impl CheckpointKey {
    pub fn public(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// Sign one checkpoint entry.
    pub fn sign(&self, seq: i64, hash: &Hash, at: &str) -> [u8; 64] {
        self.0.sign(&statement(seq, hash, at)).to_bytes()
    }
}

/// The bytes a checkpoint signature covers: the domain tag, then seq (8 bytes, big
/// endian), hash (32 bytes) and time (4-byte big-endian length, then UTF-8).
pub fn statement(seq: i64, hash: &Hash, at: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + 8 + 32 + 4 + at.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    let len = u32::try_from(at.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(at.as_bytes());
    out
}

/// Whether `sig` is `key`'s signature of the entry.
pub fn check(key: &VerifyingKey, seq: i64, hash: &Hash, at: &str, sig: &[u8; 64]) -> bool {
    key.verify(&statement(seq, hash, at), &Signature::from_bytes(sig))
        .is_ok()
}

/// The public key as `karajan key` prints it.
pub fn public_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_TAG} {}", hex::encode(key.as_bytes()))
}

/// Parse a public key file's text (`ed25519 <hex>` or bare hex).
pub fn parse_public(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    let digits = text.strip_prefix(PUBLIC_TAG).map_or(text, str::trim_start);
    let bytes: [u8; 32] = hex::decode(digits)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!("expected `{PUBLIC_TAG} <64 hex digits>` (what `karajan key` prints)")
        })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid ed25519 public key".to_string())
}

/// Read a public key file (`verify --public-key FILE`).
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_public(&text).map_err(|why| KeyError::Public {
        path: path.display().to_string(),
        why,
    })
}

/// Load the key at `path`; `Ok(None)` when there is no file. A key others may read is
/// refused.
pub fn load(path: &Path) -> Result<Option<CheckpointKey>, KeyError> {
    let shown = || path.display().to_string();
    let io = |source| KeyError::Io {
        path: shown(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: shown(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let malformed = |why: &str| KeyError::Malformed {
        path: shown(),
        why: why.to_string(),
    };
    let digits = text
        .trim()
        .strip_prefix(SECRET_TAG)
        .ok_or_else(|| malformed(&format!("the file does not start with `{SECRET_TAG}`")))?
        .trim();
    let seed: [u8; 32] = hex::decode(digits)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("the key is not 64 hex digits"))?;
    Ok(Some(CheckpointKey(SigningKey::from_bytes(&seed))))
}

/// Load the key at `path`, creating it (folder 0700, file 0600) when there is none.
pub fn load_or_create(path: &Path) -> Result<CheckpointKey, KeyError> {
    if let Some(key) = load(path)? {
        return Ok(key);
    }
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let seed: [u8; 32] = rand::random();
    // `create_new`: two first starts racing must not overwrite each other's key.
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(format!("{SECRET_TAG} {}\n", hex::encode(seed)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io)?;
            tracing::info!(path = %path.display(), "created the store's checkpoint signing key");
            Ok(CheckpointKey(SigningKey::from_bytes(&seed)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(path)?.ok_or_else(|| io(e)),
        Err(e) => Err(io(e)),
    }
}

impl super::Store {
    /// Give a writable store its key: from now on every checkpoint write is signed, and
    /// the file is written (the head signed) at once. Rows the database holds beyond
    /// the file's signed head are logged: after a crash that is the last second of
    /// appends, otherwise events written outside karajan, which this start now adopts
    /// (run `karajan verify` before starting to find out).
    pub async fn set_signing_key(&self, key: CheckpointKey) -> Result<(), super::StoreError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        {
            let state = writer.state.lock().await;
            let signed = match &state.head_seal {
                Some(seal)
                    if check(
                        &key.public(),
                        state.head.0,
                        &state.head.1,
                        &seal.at,
                        &seal.sig,
                    ) =>
                {
                    Some(state.head.0)
                }
                _ => None,
            };
            let (db_head, _) = self.head().await?;
            if let Some(signed) = signed.filter(|s| db_head > *s) {
                tracing::warn!(
                    signed_head = signed,
                    db_head,
                    "the store holds rows after its last signed checkpoint (a crash's last \
                     second, or events written outside karajan); signing them now"
                );
            }
        }
        // Set once per store: a second call (a second key) is refused.
        if writer.signer.set(std::sync::Arc::new(key)).is_err() {
            return Err(super::StoreError::Corrupt(
                "the store already has a signing key".into(),
            ));
        }
        self.flush_checkpoints().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_is_private_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/store.key");
        let key = load_or_create(&path).expect("creates");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let folder = std::fs::metadata(path.parent().expect("parent"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(folder, 0o700);
        let again = load_or_create(&path).expect("loads");
        assert_eq!(key.public(), again.public());
        assert_eq!(format!("{key:?}"), "CheckpointKey(<redacted>)");
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.key");
        load_or_create(&path).expect("creates");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load(&path).expect_err("refused");
        assert!(
            matches!(err, KeyError::Exposed { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_malformed_key_names_the_file_not_its_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.key");
        std::fs::write(&path, "sekrit-value\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = load(&path).expect_err("malformed").to_string();
        assert!(err.contains("store.key"), "{err}");
        assert!(!err.contains("sekrit"), "{err}");
    }

    #[test]
    fn signatures_bind_seq_hash_and_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = load_or_create(&dir.path().join("k")).expect("key");
        let public = parse_public(&public_text(&key.public())).expect("parses");
        let at = "2026-12-04T19:00:00Z";
        let sig = key.sign(7, &[1; 32], at);
        assert!(check(&public, 7, &[1; 32], at, &sig));
        assert!(!check(&public, 8, &[1; 32], at, &sig));
        assert!(!check(&public, 7, &[2; 32], at, &sig));
        assert!(!check(&public, 7, &[1; 32], "2026-12-04T19:00:01Z", &sig));
        let other = load_or_create(&dir.path().join("other")).expect("key");
        assert!(!check(&other.public(), 7, &[1; 32], at, &sig));
    }

    #[test]
    fn public_key_text_parses_with_or_without_tag() {
        let hex64 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        assert!(parse_public(&format!("ed25519 {hex64}\n")).is_ok());
        assert!(parse_public(hex64).is_ok());
        let err = parse_public("ed25519 zz").expect_err("bad");
        assert!(err.contains("karajan key"), "{err}");
    }
}
