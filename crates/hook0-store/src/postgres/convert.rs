//! Reading domain values out of PostgreSQL rows: string maps and lists are jsonb, content types
//! are text.

use hook0_core::model::PayloadContentType;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;

use crate::{StoreError, StoreResult};

/// Decodes a jsonb column.
pub fn json<T: DeserializeOwned>(row: &PgRow, column: &str) -> StoreResult<T> {
    row.try_get::<Json<T>, _>(column)
        .map(|j| j.0)
        .map_err(|e| StoreError::Database(format!("corrupt JSON column {column}: {e}")))
}

/// Decodes a nullable jsonb column.
pub fn opt_json<T: DeserializeOwned>(row: &PgRow, column: &str) -> StoreResult<Option<T>> {
    row.try_get::<Option<Json<T>>, _>(column)
        .map(|j| j.map(|j| j.0))
        .map_err(|e| StoreError::Database(format!("corrupt JSON column {column}: {e}")))
}

pub fn content_type(row: &PgRow) -> StoreResult<PayloadContentType> {
    let name: String = row.get("payload_content_type");
    PayloadContentType::parse(&name)
        .ok_or_else(|| StoreError::Database(format!("unknown payload content type {name}")))
}
