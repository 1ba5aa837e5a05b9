//! `store.url`: a PostgreSQL store's URL (`postgres://user:$PGPASSWORD@host/db`),
//! `$VAR`-expanded at load and parsed, so a malformed URL fails `check` and the load,
//! naming the key.
//!
//! The URL may carry a password, so it is held as a [`Secret`] and never printed:
//! [`PgUrl::describe`] (what errors and logs may show) names the host, port and
//! database only, and [`PgUrl::scrub`] removes the URL and its password from any text a
//! driver error might echo. The redactor blanks [`PgUrl::secrets`] wherever karajan
//! shows agent output or pages.

use std::fmt;
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

    /// The connection options (they hold the password: never print them). The server's
    /// notices are not sent (`client_min_messages=warning`): karajan acts on none, and
    /// each start's migration check would log one ("`_sqlx_migrations` already exists").
    pub fn options(&self) -> PgConnectOptions {
        self.options
            .clone()
            .options([("client_min_messages", "warning")])
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

    /// The values the redactor must blank: the URL and its password.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.url.expose().to_string()];
        out.extend(password_of(self.url.expose()).map(str::to_string));
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_never_shows_its_password() {
        let url = PgUrl::parse(Secret::new(
            "postgres://karajan:s3cr3t-pw@db.example:6543/k",
        ))
        .expect("valid");
        for shown in [url.describe(), format!("{url:?}")] {
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        }
        assert_eq!(url.describe(), "db.example:6543/k");
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
