//! Copying a SQLite store into an empty PostgreSQL store (`karajan migrate`), row for
//! row: the events keep their seq, time, issue, kind, payload text, `prev_hash` and
//! `hash` exactly as stored (they are not appended again, which would re-time and so
//! re-hash them), the chain head is set to the last row, and the projections (tickets,
//! runs, retry queue, sessions, rework counts, pending intents) are copied as they are,
//! since they are the fold of exactly these events.
//!
//! Why copy the projections rather than fold the events again: the copy is what the
//! SQLite store's readers showed, so `status` and `history` read the same on both
//! engines by construction, and a copy needs no event of an old shape to parse again.
//! Both schemas have the same tables and columns (`migrations/postgres/0001_store.sql`
//! says so); the copy checks the column names first and refuses a mismatch.
//!
//! Everything is one Postgres transaction, started by locking the (empty) chain head:
//! a failed copy leaves the target empty, and no append can slip in between. Rows travel
//! as JSON pages (`json_object` on SQLite, `json_populate_recordset` on Postgres: one
//! statement per page and table, whatever the columns). The JSON transport is not
//! trusted: [`compare`] then reads every event back from both engines, as bytes, and
//! reports the first row that differs.

use sqlx::{PgPool, SqlitePool};

use super::StoreError;

/// Rows per page, per statement.
const PAGE: i64 = 500;

/// The projection tables, copied after the events (the same on both engines).
pub const PROJECTIONS: [&str; 6] = [
    "tickets",
    "runs",
    "retry_queue",
    "sessions",
    "rework_counts",
    "pending_intents",
];

/// What a copy wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    pub events: i64,
    /// The head `(seq, hex hash)` set on the target.
    pub head: (i64, String),
    /// Rows per projection table, in [`PROJECTIONS`] order.
    pub projections: Vec<(&'static str, i64)>,
}

/// Why a target is refused.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target store is not empty (it holds {events} events, head seq {head}, and \
         {tickets} ticket records): migrate only fills an empty store; name a new \
         database (CREATE DATABASE …) or drop this one's tables first"
    )]
    NotEmpty {
        events: i64,
        head: i64,
        tickets: i64,
    },
    #[error(
        "table {table} has other columns on SQLite ({sqlite}) than on PostgreSQL \
         ({postgres}): this karajan's migrations do not match the store"
    )]
    Columns {
        table: String,
        sqlite: String,
        postgres: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(StoreError::Db(e))
    }
}

/// Copy every event and projection row of `source` into `target` (already migrated,
/// and expected empty), in one transaction on the target.
pub async fn copy(source: &SqlitePool, target: &PgPool) -> Result<Copied, CopyError> {
    // One read transaction on the source: every page sees the same snapshot.
    let mut src = source.begin().await?;
    let mut tx = target.begin().await?;
    let head: i64 = sqlx::query_scalar("SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&mut *tx)
        .await?;
    if head != 0 || events != 0 || tickets != 0 {
        return Err(CopyError::NotEmpty {
            events,
            head,
            tickets,
        });
    }
    for table in PROJECTIONS {
        same_columns(&mut src, &mut tx, table).await?;
    }

    let (copied, after) = copy_pages(
        &mut src,
        &mut tx,
        "SELECT json_group_array(json_object('seq', seq, 'at', at, 'issue', issue, \
         'kind', kind, 'payload', payload, 'prev_hash', hex(prev_hash), \
         'hash', hex(hash))), max(seq), count(*) \
         FROM (SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2)",
        "INSERT INTO events (seq, at, issue, kind, payload, prev_hash, hash) \
         SELECT r.seq, r.at, r.issue, r.kind, r.payload, decode(r.prev_hash, 'hex'), \
         decode(r.hash, 'hex') FROM json_to_recordset(CAST($1 AS json)) AS \
         r(seq bigint, at text, issue text, kind text, payload text, prev_hash text, \
         hash text) ORDER BY r.seq",
        0,
    )
    .await?;
    let (seq, hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_one(&mut *src)
            .await?;
    if seq != after || copied != seq {
        return Err(StoreError::Corrupt(format!(
            "the source's chain head is seq {seq} but its events end at seq {after} \
             ({copied} rows): run `karajan verify` on it first"
        ))
        .into());
    }
    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;

    let mut projections = Vec::with_capacity(PROJECTIONS.len());
    for table in PROJECTIONS {
        projections.push((table, copy_table(&mut src, &mut tx, table).await?));
    }
    tx.commit().await?;
    src.rollback().await?;
    Ok(Copied {
        events: copied,
        head: (seq, hex::encode(hash)),
        projections,
    })
}

/// The column names of `table` on SQLite, in their order.
async fn sqlite_columns(
    src: &mut sqlx::SqliteConnection,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
        .bind(table)
        .fetch_all(src)
        .await
}

/// Refuse a table whose columns differ by name between the engines.
async fn same_columns(
    src: &mut sqlx::SqliteConnection,
    tx: &mut sqlx::PgConnection,
    table: &str,
) -> Result<(), CopyError> {
    let mut sqlite = sqlite_columns(src, table).await?;
    let mut postgres: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(column_name AS text) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(tx)
    .await?;
    sqlite.sort();
    postgres.sort();
    if sqlite != postgres {
        return Err(CopyError::Columns {
            table: table.to_string(),
            sqlite: sqlite.join(", "),
            postgres: postgres.join(", "),
        });
    }
    Ok(())
}

/// The SQLite expression that carries `column` (declared `decl`) into the JSON page:
/// the column itself, except a REAL, which `json_object` would print with 15 digits
/// (`0.30000000000000004` as `0.3`): as text with 17 (`%!.17g`: SQLite's printf stops
/// at 16 digits without the `!`), which Postgres parses back to
/// the same double.
fn value(column: &str, decl: &str) -> String {
    if decl.eq_ignore_ascii_case("REAL") {
        format!("CASE WHEN {column} IS NULL THEN NULL ELSE printf('%!.17g', {column}) END")
    } else {
        column.to_string()
    }
}

/// Copy one projection table, page by page (by SQLite's `rowid`); returns its rows.
async fn copy_table(
    src: &mut sqlx::SqliteConnection,
    tx: &mut sqlx::PgConnection,
    table: &str,
) -> Result<i64, CopyError> {
    let columns: Vec<(String, String)> =
        sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(&mut *src)
            .await?;
    // Names from the schema itself (checked against Postgres's), never from input.
    let object = columns
        .iter()
        .map(|(c, decl)| format!("'{c}', {}", value(&format!("\"{c}\""), decl)))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!(
        "SELECT json_group_array(json_object({object})), max(rowid), count(*) \
         FROM (SELECT rowid, * FROM \"{table}\" WHERE rowid > $1 ORDER BY rowid LIMIT $2)"
    );
    let insert = format!(
        "INSERT INTO \"{table}\" SELECT * FROM json_populate_recordset(NULL::\"{table}\", \
         CAST($1 AS json))"
    );
    let (rows, _) = copy_pages(src, tx, &select, &insert, i64::MIN).await?;
    Ok(rows)
}

/// Copy rows page by page: `select` (binding the last key copied and the page size)
/// answers a page as one JSON array, its largest key and its row count; `insert` takes
/// that array. Starts after key `after`; returns the rows copied and the last key.
async fn copy_pages(
    src: &mut sqlx::SqliteConnection,
    tx: &mut sqlx::PgConnection,
    select: &str,
    insert: &str,
    mut after: i64,
) -> Result<(i64, i64), CopyError> {
    let mut rows = 0i64;
    loop {
        let (page, last, n): (Option<String>, Option<i64>, i64) =
            sqlx::query_as(sqlx::AssertSqlSafe(select.to_string()))
                .bind(after)
                .bind(PAGE)
                .fetch_one(&mut *src)
                .await?;
        let (Some(page), Some(last)) = (page, last) else {
            break;
        };
        if n == 0 {
            break;
        }
        sqlx::query(sqlx::AssertSqlSafe(insert.to_string()))
            .bind(&page)
            .execute(&mut *tx)
            .await?;
        rows += n;
        after = last;
    }
    Ok((rows, after))
}

/// One event row as stored, for the byte comparison.
type Row = (
    i64,
    String,
    Option<String>,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

const ROWS: &str = "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
                    WHERE seq > $1 ORDER BY seq LIMIT $2";

/// Every event of `source` and `target` compared column by column, as bytes; `Ok(n)`
/// with the rows compared, or the first difference.
pub async fn compare(source: &SqlitePool, target: &PgPool) -> Result<i64, StoreError> {
    let mut after = 0i64;
    let mut compared = 0i64;
    loop {
        let a: Vec<Row> = sqlx::query_as(ROWS)
            .bind(after)
            .bind(PAGE)
            .fetch_all(source)
            .await?;
        let b: Vec<Row> = sqlx::query_as(ROWS)
            .bind(after)
            .bind(PAGE)
            .fetch_all(target)
            .await?;
        for (i, x) in a.iter().enumerate() {
            match b.get(i) {
                Some(y) if x == y => {}
                Some(y) => {
                    return Err(StoreError::Corrupt(format!(
                        "the copy differs from the source at seq {} ({})",
                        x.0,
                        differs(x, y)
                    )));
                }
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "the copy has no row at seq {}",
                        x.0
                    )));
                }
            }
        }
        if let Some(extra) = b.get(a.len()) {
            return Err(StoreError::Corrupt(format!(
                "the copy has a row the source has not, at seq {}",
                extra.0
            )));
        }
        let Some(last) = a.last() else {
            return Ok(compared);
        };
        compared += i64::try_from(a.len()).unwrap_or(i64::MAX);
        after = last.0;
    }
}

/// Which columns of two rows differ.
fn differs(x: &Row, y: &Row) -> String {
    [
        (x.0 != y.0, "seq"),
        (x.1 != y.1, "at"),
        (x.2 != y.2, "issue"),
        (x.3 != y.3, "kind"),
        (x.4 != y.4, "payload"),
        (x.5 != y.5, "prev_hash"),
        (x.6 != y.6, "hash"),
    ]
    .into_iter()
    .filter_map(|(differ, column)| differ.then_some(column))
    .collect::<Vec<_>>()
    .join(", ")
}

impl super::Store {
    /// The SQLite pool a store reads with (`None` on Postgres), for [`copy`] and
    /// [`compare`].
    pub fn sqlite_readers(&self) -> Option<SqlitePool> {
        match &self.readers {
            super::backend::Pool::Sqlite(super::sqlite_db::SqliteDb::Pool(p)) => Some(p.clone()),
            super::backend::Pool::Sqlite(super::sqlite_db::SqliteDb::Writer(_))
            | super::backend::Pool::Postgres(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::value;

    /// The copy carries SQLite's REAL columns (`runs.cost_usd`) through `json_object`:
    /// its text must parse back to the same double, not a rounded one.
    #[tokio::test]
    async fn sqlite_json_keeps_every_bit_of_a_double() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:")
            .await
            .expect("db");
        for x in [0.1 + 0.2, 1.0 / 3.0, 123_456.789_012_345_67, 5e-324, 0.0] {
            let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT json_object('c', {})",
                value("$1", "REAL")
            )))
            .bind(x)
            .fetch_one(&pool)
            .await
            .expect("json");
            let back: serde_json::Value = serde_json::from_str(&text).expect("json");
            let c = back["c"].as_str().expect("a string").parse::<f64>();
            assert_eq!(c, Ok(x), "{text}");
        }
    }
}
