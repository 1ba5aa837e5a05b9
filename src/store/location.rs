//! Where a store lives: a SQLite file (the embedded default) or a PostgreSQL database
//! named by a URL (`store.url: postgres://…` in the workflow).
//!
//! A Postgres URL may carry a password (see [`PgUrl`]): [`Location`]'s `Display`, what
//! errors and logs show, names the engine, host, port and database only.

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::config::PgUrl;
use crate::config::StoreConfig;

/// Where a store's database is.
#[derive(Clone, Debug)]
pub enum Location {
    /// The SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PgUrl>),
}

impl Location {
    /// The SQLite file, when it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }
}

impl From<&StoreConfig> for Location {
    fn from(config: &StoreConfig) -> Location {
        match &config.postgres {
            Some(url) => Location::Postgres(Box::new(url.clone())),
            None => Location::Sqlite(config.path.clone()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => write!(f, "PostgreSQL {} (store.url)", url.describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn a_postgres_location_shows_the_server_not_the_url() {
        let url = PgUrl::parse(Secret::new(
            "postgres://karajan:s3cr3t-pw@db.example:6543/k",
        ))
        .expect("valid");
        let loc = Location::Postgres(Box::new(url));
        assert_eq!(loc.to_string(), "PostgreSQL db.example:6543/k (store.url)");
        assert!(!format!("{loc:?}").contains("s3cr3t-pw"));
    }
}
