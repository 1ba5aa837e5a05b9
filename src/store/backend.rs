//! The two database engines behind one [`Store`](super::Store): SQLite (the embedded
//! default) and PostgreSQL (a store several machines can share).
//!
//! Why an enum of pools and not sqlx's `Any` driver: `Any` converts every argument and
//! every row through its own value type (a cost on the append hot path, which the drain
//! benchmark measures) and cannot express the per-engine connection settings (WAL,
//! `synchronous`, `BEGIN IMMEDIATE`). Here each query is written once, in the SQL both
//! engines accept (`$1` placeholders, which sqlx's SQLite driver also numbers, `ON
//! CONFLICT`, `RETURNING`, text timestamps, 64-bit integers), and `on_pool!` /
//! `on_conn!` compile the statement once per engine, each against its own native
//! driver. Where the engines' SQL differs, the per-engine texts sit side by side in one
//! function matching on [`Dialect`]: its methods here, or beside their one use
//! (`append`'s head lock and batch insert), nowhere else.
//!
//! Rows are decoded by functions generic over [`DbRow`], so each decoder also exists
//! once: [`DbRow::col`] reads a column of any type both drivers decode ([`Col`]).

use sqlx::{Decode, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, Type};

use super::sqlite_db::SqliteDb;

/// A store's connections, on one of the two engines (on SQLite a pool, or the writer
/// connection held: see `sqlite_db`). Cheap to clone.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Close every connection (waits for them to be returned).
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// One connection (or transaction) borrowed from a [`Pool`].
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }
}

impl<'c> From<&'c mut SqliteConnection> for Conn<'c> {
    fn from(c: &'c mut SqliteConnection) -> Self {
        Conn::Sqlite(c)
    }
}

impl<'c> From<&'c mut PgConnection> for Conn<'c> {
    fn from(c: &'c mut PgConnection) -> Self {
        Conn::Postgres(c)
    }
}

/// Which SQL a statement that differs between the engines must use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A filter on `identifier` for the JSON array of identifiers bound as `$1` (text).
    pub fn identifier_in_json(self) -> &'static str {
        match self {
            Dialect::Sqlite => "identifier IN (SELECT value FROM json_each($1))",
            Dialect::Postgres => {
                "identifier IN (SELECT jsonb_array_elements_text(CAST($1 AS jsonb)))"
            }
        }
    }

    /// One ticket's `tickets` row ([`TICKET_COLUMNS`](super::tickets::TICKET_COLUMNS))
    /// with its rework counts as a JSON object text (`{}` when it has none) in `rework`;
    /// the identifier is `$1`. The aggregate differs: `json_group_object` (SQLite),
    /// `json_object_agg`, which is NULL over no rows (Postgres).
    pub fn load_ticket(self) -> &'static str {
        macro_rules! load {
            ($rework:literal) => {
                concat!(
                    "SELECT identifier, tracker_id, state, phase, run_id, attempt, started_at, \
                     due_at, error, reason, held_column, attempts, entered_at, runs, \
                     pull_request, verdict, (",
                    $rework,
                    " FROM rework_counts r WHERE r.identifier = tickets.identifier) AS rework \
                     FROM tickets WHERE identifier = $1"
                )
            };
        }
        match self {
            Dialect::Sqlite => load!("SELECT json_group_object(gate, count)"),
            Dialect::Postgres => {
                load!("SELECT COALESCE(CAST(json_object_agg(gate, count) AS text), '{}')")
            }
        }
    }
}

/// A column type both drivers decode (text, 64-bit integers, floats, bytes, options).
pub trait Col:
    Sized + for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Col for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A result row of either engine.
pub trait DbRow {
    /// The column named `column`, decoded as `T`.
    fn col<T: Col>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl DbRow for sqlx::sqlite::SqliteRow {
    fn col<T: Col>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

impl DbRow for sqlx::postgres::PgRow {
    fn col<T: Col>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

/// `on_pool!(pool, |p| body)`: `body` compiled once per engine, with `p` the engine's
/// own connections (`&SqliteDb` or `&PgPool`). Not a closure: `body` runs in place (`?` and
/// `.await` act on the enclosing function); the closure syntax lets rustfmt format it.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::store::backend::Pool::Sqlite($p) => $body,
            $crate::store::backend::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// `on_conn!(conn, |c| body)`: `body` compiled once per engine, with `c` the engine's
/// own connection (`&mut SqliteConnection` or `&mut PgConnection`); `conn` is a
/// `&mut Conn`. In place, like `on_pool!`.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match &mut *$conn {
            $crate::store::backend::Conn::Sqlite(inner) => {
                let $c = &mut **inner;
                $body
            }
            $crate::store::backend::Conn::Postgres(inner) => {
                let $c = &mut **inner;
                $body
            }
        }
    };
}
pub(crate) use on_conn;
