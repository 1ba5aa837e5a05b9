//! Where a store lives: a SQLite file (the embedded default) or a PostgreSQL database
//! named by a URL (`store.url: postgres://…` in the workflow).
//!
//! A Postgres URL may carry a password, so it is held as a [`Secret`] and never printed:
//! [`Location`]'s `Display` (what errors and logs show) names the engine, host, port and
//! database only, and [`PgUrl::scrub`] removes the URL and its password from any text a
//! driver error might echo.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::settings::secret::Secret;

/// A `postgres://` (or `postgresql://`) URL, already `$VAR`-expanded and parsed.
#[derive(Clone)]
pub struct PgUrl {
    url: Secret,
    options: PgConnectOptions,
}

impl PgUrl {
    /// Parse `url`; the error never contains the URL (nor its password).
    pub fn parse(url: Secret) -> Result<PgUrl, String> {
        let text = url.expose();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err("must start with postgres:// or postgresql://".into());
        }
        let options = PgConnectOptions::from_str(text).map_err(|e| {
            let pg = PgUrl {
                url: url.clone(),
                options: PgConnectOptions::new(),
            };
            format!(
                "is not a valid PostgreSQL URL: {}",
                pg.scrub(&e.to_string())
            )
        })?;
        Ok(PgUrl { url, options })
    }

    /// The connection options (they hold the password: never print them).
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// `host:port/database`: what messages may say about this URL.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}/{}",
            self.options.get_host(),
            self.options.get_port(),
            self.options.get_database().unwrap_or("(default database)")
        )
    }

    /// `text` with this URL and its password replaced by `***` (for driver errors).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(self.url.expose(), "***");
        if let Some(password) = password_of(self.url.expose()).filter(|p| p.len() >= 3) {
            out = out.replace(password, "***");
        }
        out
    }
}

/// The password part of a URL (`scheme://user:PASSWORD@host…`), raw as written.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.describe())
    }
}

/// Where a store's database is.
#[derive(Clone, Debug)]
pub enum Location {
    /// The SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

impl Location {
    /// The SQLite file, when it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Text with the Postgres URL and password scrubbed out (identity for SQLite).
    pub fn scrub(&self, text: &str) -> String {
        match self {
            Location::Sqlite(_) => text.to_string(),
            Location::Postgres(url) => url.scrub(text),
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

    #[test]
    fn a_postgres_location_never_shows_its_password() {
        let url = PgUrl::parse(Secret::new(
            "postgres://karajan:s3cr3t-pw@db.example:6543/k",
        ))
        .expect("valid");
        let loc = Location::Postgres(url.clone());
        for shown in [loc.to_string(), format!("{loc:?}"), format!("{url:?}")] {
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        }
        assert_eq!(loc.to_string(), "PostgreSQL db.example:6543/k (store.url)");
        assert_eq!(
            url.scrub("failed for postgres://karajan:s3cr3t-pw@db.example:6543/k and s3cr3t-pw"),
            "failed for *** and ***"
        );
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let e = PgUrl::parse(Secret::new("mysql://u:s3cr3t-pw@h/d")).expect_err("not pg");
        assert!(e.contains("postgres://"), "{e}");
        let e =
            PgUrl::parse(Secret::new("postgres://u:s3cr3t-pw@h:notaport/d")).expect_err("bad port");
        assert!(!e.contains("s3cr3t-pw"), "{e}");
    }
}
