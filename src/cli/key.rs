//! `karajan key`: print the public key that verifies a store's signed checkpoints, and
//! the daemon's side: load (or create on first start) the private key.
//!
//! The public key is what someone without the private key needs to check a store
//! (`karajan verify --public-key FILE`); handing it out reveals nothing.

use std::path::Path;

use super::Exit;
use crate::store::Store;
use crate::store::signing;

pub fn run(workflow: &Path) -> Exit {
    let paths = super::store_paths(workflow);
    match signing::load(&paths.signing_key) {
        Ok(Some(key)) => {
            println!("{}", signing::public_text(&key.public()));
            Exit::Ok
        }
        Ok(None) => {
            eprintln!(
                "karajan: no signing key at {} (the daemon creates it on its first start)",
                paths.signing_key.display()
            );
            Exit::Failure
        }
        Err(e) => {
            eprintln!("karajan: {e}");
            Exit::Failure
        }
    }
}

/// Load or create the store's key and give it to the store, or say why not.
pub(crate) async fn arm(store: &Store, key_path: &Path) -> Result<(), Exit> {
    let key = signing::load_or_create(key_path).map_err(|e| {
        eprintln!("karajan: {e}");
        Exit::Failure
    })?;
    store.set_signing_key(key).await.map_err(|e| {
        eprintln!("karajan: cannot sign the checkpoints: {e}");
        Exit::Failure
    })
}
