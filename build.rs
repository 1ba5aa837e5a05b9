//! Rebuild when a migration is added or edited: `sqlx::migrate!` embeds the
//! `migrations/` folder at compile time, and cargo does not track that folder by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
