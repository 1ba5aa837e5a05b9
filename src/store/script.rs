//! The writes of one append, gathered first and sent together.
//!
//! sqlx runs every SQLite statement on the connection's worker thread: each is a
//! message there and an answer back, two thread wake-ups, which the drain benchmark
//! counted as the daemon's largest source of context switches (issue 11). The append's
//! writes (the events' insert, the row projections, the ticket records) depend on
//! nothing the database would answer in between: so `projection` and `tickets` push
//! them here, and [`Script::run`] sends them as one request on SQLite (one SQL text of
//! several statements, their `$N` parameters renumbered into one argument list, which
//! sqlx binds across the statements in order) and one after the other, as before, on
//! Postgres, whose extended protocol prepares one statement at a time.
//!
//! A statement may return the text of its rows' first column (`RETURNING identifier`):
//! the only one that does is the deletion of a pending intent, whose owner the fold
//! needs to count the ticket's pending intents. The combined SQL text of each shape of
//! script is built once and kept (`COMBINED`), so sqlx's statement cache finds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::{Database, Encode, Type};

use super::StoreError;
use super::backend::Conn;

/// A bound value. Each variant binds as the Rust type the statements bound before.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Int32(Option<i32>),
    Real(Option<f64>),
    Blob(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(Some(s.to_string()))
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(Some(s))
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(Some(s.clone()))
    }
}

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        Arg::Text(s)
    }
}

impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Self {
        Arg::Text(s.map(str::to_string))
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(Some(n))
    }
}

impl From<Option<i64>> for Arg {
    fn from(n: Option<i64>) -> Self {
        Arg::Int(n)
    }
}

impl From<Option<i32>> for Arg {
    fn from(n: Option<i32>) -> Self {
        Arg::Int32(n)
    }
}

impl From<Option<f64>> for Arg {
    fn from(n: Option<f64>) -> Self {
        Arg::Real(n)
    }
}

struct Statement {
    sql: &'static str,
    args: Vec<Arg>,
    /// Returns the text of its rows' first column.
    returns: bool,
}

/// The writes of one append, in order.
#[derive(Default)]
pub(super) struct Script {
    statements: Vec<Statement>,
}

impl Script {
    /// A statement whose `$1…$N` are `args`.
    pub fn push(&mut self, sql: &'static str, args: Vec<Arg>) {
        self.add(sql, args, false);
    }

    /// A statement returning one text column (`RETURNING …`), whose rows [`Script::run`]
    /// hands back.
    pub fn push_returning(&mut self, sql: &'static str, args: Vec<Arg>) {
        self.add(sql, args, true);
    }

    fn add(&mut self, sql: &'static str, args: Vec<Arg>, returns: bool) {
        // The next statement's parameters are renumbered past this one's arguments:
        // they must be exactly its `$1…$N`.
        debug_assert_eq!(highest_parameter(sql), args.len(), "{sql}");
        self.statements.push(Statement { sql, args, returns });
    }

    /// Run every statement in order on `conn` (inside the caller's transaction); the
    /// first column of the rows the returning statements returned, in order.
    pub async fn run(self, conn: &mut Conn<'_>) -> Result<Vec<String>, StoreError> {
        if self.statements.is_empty() {
            return Ok(vec![]);
        }
        match conn {
            Conn::Sqlite(c) => {
                let sql = combined(&self.statements);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in self.statements {
                    for a in s.args {
                        q = bind(q, a);
                    }
                }
                let rows = q.fetch_all(&mut **c).await?;
                Ok(first_texts(&rows)?)
            }
            Conn::Postgres(c) => {
                let mut out = vec![];
                for s in self.statements {
                    let mut q = sqlx::query(s.sql);
                    for a in s.args {
                        q = bind(q, a);
                    }
                    if s.returns {
                        let rows = q.fetch_all(&mut **c).await?;
                        out.extend(first_texts(&rows)?);
                    } else {
                        q.execute(&mut **c).await?;
                    }
                }
                Ok(out)
            }
        }
    }
}

fn first_texts<R: sqlx::Row>(rows: &[R]) -> Result<Vec<String>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
{
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

fn bind<'q, DB: Database>(
    q: sqlx::query::Query<'q, DB, <DB as Database>::Arguments>,
    a: Arg,
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments>
where
    Option<String>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<i64>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<i32>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<f64>: for<'t> Encode<'t, DB> + Type<DB>,
    Vec<u8>: for<'t> Encode<'t, DB> + Type<DB>,
{
    match a {
        Arg::Text(v) => q.bind(v),
        Arg::Int(v) => q.bind(v),
        Arg::Int32(v) => q.bind(v),
        Arg::Real(v) => q.bind(v),
        Arg::Blob(v) => q.bind(v),
    }
}

/// How many shapes of script are kept; past it the cache starts over (a shape is a
/// sequence of the append's few statement texts: a handful occur).
const SHAPES: usize = 256;

static COMBINED: Mutex<Option<HashMap<Vec<&'static str>, Arc<str>>>> = Mutex::new(None);

/// The statements as one SQL text, each one's `$k` renumbered past the arguments of
/// the statements before it.
fn combined(statements: &[Statement]) -> Arc<str> {
    let shape: Vec<&'static str> = statements.iter().map(|s| s.sql).collect();
    let mut cache = COMBINED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(sql) = cache.get(&shape) {
        return sql.clone();
    }
    let mut sql = String::new();
    let mut offset = 0;
    for s in statements {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&renumbered(s.sql, offset));
        offset += s.args.len();
    }
    let sql: Arc<str> = sql.into();
    if cache.len() >= SHAPES {
        cache.clear();
    }
    cache.insert(shape, sql.clone());
    sql
}

/// The highest `$k` in `sql` (0: none).
fn highest_parameter(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// `sql` with every parameter `$k` written `$(k + offset)`.
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(k) => out.push_str(&(k + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_past_the_statements_before() {
        assert_eq!(
            renumbered("UPDATE t SET a = $1, b = $12 WHERE c = $2", 3),
            "UPDATE t SET a = $4, b = $15 WHERE c = $5"
        );
        assert_eq!(renumbered("SELECT 1", 7), "SELECT 1");
        assert_eq!(
            highest_parameter("UPDATE t SET a = $1, b = $12 WHERE c = $2"),
            12
        );
        assert_eq!(highest_parameter("SELECT 1"), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "WHERE b = $2")]
    fn a_statement_with_fewer_arguments_than_parameters_is_refused() {
        Script::default().push("UPDATE t SET a = $1 WHERE b = $2", vec![1_i64.into()]);
    }

    #[test]
    fn a_shape_is_combined_once_with_its_arguments_counted() {
        let s = |sql, n| Statement {
            sql,
            args: vec![Arg::Int(Some(0)); n],
            returns: false,
        };
        let statements = [
            s("INSERT INTO a VALUES ($1, $2)", 2),
            s("DELETE FROM b WHERE x = $1", 1),
        ];
        let sql = combined(&statements);
        assert_eq!(
            &*sql,
            "INSERT INTO a VALUES ($1, $2);\nDELETE FROM b WHERE x = $3"
        );
        assert!(Arc::ptr_eq(&sql, &combined(&statements)));
    }

    #[tokio::test]
    async fn one_request_runs_every_statement_and_returns_what_they_return() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:")
            .await
            .expect("memory db");
        let mut c = pool.acquire().await.expect("conn");
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, r REAL)")
            .execute(&mut *c)
            .await
            .expect("table");
        let mut script = Script::default();
        script.push(
            "INSERT INTO t (id, n, r) VALUES ($1, $2, $3)",
            vec!["a".into(), 1_i64.into(), Some(0.5).into()],
        );
        script.push(
            "INSERT INTO t (id, n, r) VALUES ($1, $2, $3)",
            vec!["b".into(), Option::<i32>::None.into(), None::<f64>.into()],
        );
        script.push_returning("DELETE FROM t WHERE id = $1 RETURNING id", vec!["a".into()]);
        script.push_returning(
            "DELETE FROM t WHERE id = $1 RETURNING id",
            vec!["nobody".into()],
        );
        let returned = script.run(&mut Conn::Sqlite(&mut c)).await.expect("runs");
        assert_eq!(returned, vec!["a".to_string()]);
        let left: Vec<(String, Option<i64>)> = sqlx::query_as("SELECT id, n FROM t")
            .fetch_all(&mut *c)
            .await
            .expect("rows");
        assert_eq!(left, vec![("b".to_string(), None)]);
    }
}
