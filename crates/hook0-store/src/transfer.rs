//! Moving an install from the embedded SQLite store to PostgreSQL (`hook0 migrate --from`).
//!
//! Both schemas use the same table and column names, so the copy is generic: for every table,
//! in foreign-key order, each SQLite value is converted to the PostgreSQL column's type (16-byte
//! blob → uuid, integer microseconds → timestamptz, JSON text → jsonb, 0/1 → boolean) and
//! inserted in batches, all in one PostgreSQL transaction: the copy lands whole or not at all.

use std::path::Path;

use chrono::DateTime;
use rusqlite::types::ValueRef;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{StoreError, StoreResult};

/// Parents before children. Tables that are not listed are copied afterwards, in name order.
const ORDER: &[&str] = &[
    "organization",
    "user_account",
    "organization_member",
    "token",
    "application",
    "application_secret",
    "event_type",
    "subscription",
    "event",
    "response",
    "request_attempt",
];
/// Rows per INSERT statement (PostgreSQL allows 65,535 bind parameters per statement).
const ROWS_PER_INSERT: usize = 200;

/// One table copied, for progress reports.
pub struct CopiedTable {
    pub table: String,
    pub rows: u64,
}

/// Copies every row of the SQLite database at `sqlite_path` into the (migrated, empty)
/// PostgreSQL database behind `pool`, calling `progress` after each table.
pub async fn copy_sqlite_to_postgres(
    sqlite_path: &Path,
    pool: &PgPool,
    mut progress: impl FnMut(&CopiedTable),
) -> StoreResult<Vec<CopiedTable>> {
    let source = rusqlite::Connection::open_with_flags(
        sqlite_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let organizations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organization")
        .fetch_one(pool)
        .await?;
    if organizations > 0 {
        return Err(StoreError::Database(
            "the PostgreSQL database already holds organizations: copy only into a new, empty database".into(),
        ));
    }
    let mut tables: Vec<String> = source
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tables.sort_by_key(|t| ORDER.iter().position(|o| o == t).unwrap_or(ORDER.len()));

    let mut tx = pool.begin().await?;
    let mut copied = Vec::new();
    for table in tables {
        let columns = postgres_columns(&mut tx, &table).await?;
        if columns.is_empty() {
            tracing::warn!(%table, "no such table in PostgreSQL; not copied");
            continue;
        }
        let rows = copy_table(&source, &mut tx, &table, &columns).await?;
        let done = CopiedTable { table, rows };
        progress(&done);
        copied.push(done);
    }
    tx.commit().await?;
    Ok(copied)
}

/// Column names and PostgreSQL types of `table`.
async fn postgres_columns(
    tx: &mut sqlx::PgConnection,
    table: &str,
) -> StoreResult<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?)
}

/// A SQLite value converted for one PostgreSQL column.
enum Value {
    Null,
    Uuid(Uuid),
    Time(chrono::DateTime<chrono::Utc>),
    Json(serde_json::Value),
    Bytes(Vec<u8>),
    Text(String),
    Int(i64),
    Bool(bool),
    Date(chrono::NaiveDate),
}

fn convert(value: ValueRef<'_>, pg_type: &str, column: &str) -> StoreResult<Value> {
    let bad = |what: &str| {
        StoreError::Database(format!(
            "column {column}: cannot convert {what} to {pg_type}"
        ))
    };
    Ok(match (value, pg_type) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Blob(b), "uuid") => Value::Uuid(Uuid::from_slice(b).map_err(|_| bad("blob"))?),
        (ValueRef::Integer(us), "timestamp with time zone") => {
            Value::Time(DateTime::from_timestamp_micros(us).ok_or_else(|| bad("integer"))?)
        }
        (ValueRef::Text(t), "jsonb" | "json") => {
            Value::Json(serde_json::from_slice(t).map_err(|_| bad("text"))?)
        }
        (ValueRef::Blob(b), "bytea") => Value::Bytes(b.to_vec()),
        (ValueRef::Text(t), "bytea") => Value::Bytes(t.to_vec()),
        (ValueRef::Integer(i), "boolean") => Value::Bool(i != 0),
        (ValueRef::Integer(i), "integer" | "bigint" | "smallint") => Value::Int(i),
        (ValueRef::Text(t), "date") => Value::Date(
            std::str::from_utf8(t)
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| bad("text"))?,
        ),
        (ValueRef::Text(t), _) => {
            Value::Text(String::from_utf8(t.to_vec()).map_err(|_| bad("text"))?)
        }
        (other, _) => return Err(bad(&format!("{:?}", other.data_type()))),
    })
}

fn push(
    builder: &mut sqlx::query_builder::Separated<'_, '_, Postgres, &str>,
    value: Value,
    pg_type: &str,
) {
    match value {
        Value::Null => match pg_type {
            "uuid" => builder.push_bind(None::<Uuid>),
            "timestamp with time zone" => builder.push_bind(None::<chrono::DateTime<chrono::Utc>>),
            "jsonb" | "json" => builder.push_bind(None::<serde_json::Value>),
            "bytea" => builder.push_bind(None::<Vec<u8>>),
            "boolean" => builder.push_bind(None::<bool>),
            "integer" => builder.push_bind(None::<i32>),
            "smallint" => builder.push_bind(None::<i16>),
            "bigint" => builder.push_bind(None::<i64>),
            "date" => builder.push_bind(None::<chrono::NaiveDate>),
            _ => builder.push_bind(None::<String>),
        },
        Value::Uuid(u) => builder.push_bind(u),
        Value::Time(t) => builder.push_bind(t),
        Value::Json(j) => builder.push_bind(j),
        Value::Bytes(b) => builder.push_bind(b),
        Value::Text(t) => builder.push_bind(t),
        Value::Int(i) => match pg_type {
            "integer" => builder.push_bind(i as i32),
            "smallint" => builder.push_bind(i as i16),
            _ => builder.push_bind(i),
        },
        Value::Bool(b) => builder.push_bind(b),
        Value::Date(d) => builder.push_bind(d),
    };
}

async fn copy_table(
    source: &rusqlite::Connection,
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &[(String, String)],
) -> StoreResult<u64> {
    let source_columns: Vec<String> = source
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Only columns both sides have; a column PostgreSQL lacks would be a schema drift to fix.
    let shared: Vec<&(String, String)> = columns
        .iter()
        .filter(|(c, _)| source_columns.contains(c))
        .collect();
    let names = shared
        .iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut select = source.prepare(&format!("SELECT {names} FROM {table}"))?;
    let mut rows = select.query([])?;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(ROWS_PER_INSERT);
    let mut copied = 0u64;
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let mut values = Vec::with_capacity(shared.len());
            for (i, (column, pg_type)) in shared.iter().enumerate() {
                values.push(convert(row.get_ref(i)?, pg_type, column)?);
            }
            batch.push(values);
        }
        if batch.len() == ROWS_PER_INSERT || (row.is_none() && !batch.is_empty()) {
            copied += batch.len() as u64;
            let mut insert: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("INSERT INTO {table} ({names}) "));
            insert.push_values(batch.drain(..), |mut b, values| {
                for (value, (_, pg_type)) in values.into_iter().zip(&shared) {
                    push(&mut b, value, pg_type);
                }
            });
            insert.build().execute(&mut *tx).await?;
        }
        if row.is_none() {
            return Ok(copied);
        }
    }
}
