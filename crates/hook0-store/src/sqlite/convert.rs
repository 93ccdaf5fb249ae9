//! Conversions between SQLite column values and domain values: times are integer microseconds
//! since the Unix epoch, maps and lists are JSON text, ids are 16-byte UUID blobs.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{StoreError, StoreResult};

pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

pub fn opt_time(us: Option<i64>) -> Option<DateTime<Utc>> {
    us.map(time)
}

pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps and lists of strings always serialize")
}

pub fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Database(format!("corrupt JSON column: {e}")))
}

/// `?, ?, …` with `n` placeholders, for `IN (…)` lists.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
